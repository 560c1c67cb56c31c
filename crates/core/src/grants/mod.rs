//! The grants, each a complete flow: the authorization code with PKCE (`authorization_code`)
//! and client credentials (`client_credentials`).

pub mod authorization_code;
pub mod client_credentials;
