//! The grants, each a complete flow and none importing another: the authorization code with
//! PKCE (`authorization_code`), client credentials (`client_credentials`) and the refresh token
//! (`refresh_token`).

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
mod webid_check;
