//! Solid-OIDC client authentication for Node.js servers.
//!
//! Everything but `binding` is plain Rust with no napi types: the protocol core. `binding`
//! converts types at the edge and holds no protocol logic.

pub mod addresses;
pub mod authorization;
pub mod claims;
pub mod client_credentials;
pub mod credentials;
pub mod discovery;
pub mod dpop;
pub mod drive;
pub mod error;
pub mod http;
pub mod http_engine;
pub mod join;
pub mod jwks;
pub mod jwt;
pub mod lease;
pub mod logout;
pub mod multi_session;
pub mod panics;
pub mod quote;
pub mod random;
pub mod record;
pub mod refresh;
pub mod registration;
pub mod registry;
pub mod secret;
pub mod single_flight;
pub mod storage;
pub mod stored_session;
pub mod surrogates;
pub mod token;

pub mod binding;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod testing;
