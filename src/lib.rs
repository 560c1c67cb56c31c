//! Solid-OIDC client authentication for Node.js servers: the napi crate.
//!
//! The protocol core is moving into its own crate, `solid-client-authn-core` (`crates/core`),
//! where the compiler keeps it free of napi and of the HTTP client; the ground floors are there
//! already and are re-exported below under their old paths. Everything here but `binding` is
//! protocol code still to move (plain Rust with no napi types); `binding` converts types at the
//! edge, and `http_engine` makes the core's requests with reqwest.

pub mod authorization;
pub mod caches;
pub mod claims;
pub mod client_credentials;
pub mod credentials;
pub mod discovery;
pub mod drive;
pub mod http_engine;
pub mod join;
pub mod jwks;
pub mod lease;
pub mod logout;
pub mod multi_session;
pub mod panics;
pub mod refresh;
pub mod registration;
pub mod registry;
pub mod storage;
pub mod stored_session;
pub mod token;

// The ground floors live in the core crate; re-exported under their old paths, so that
// `crate::error` and the like read the same from every module still here.
pub use solid_client_authn_core::{
    addresses, dpop, error, http, jwt, quote, random, record, secret, single_flight, surrogates,
};

pub mod binding;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod testing;
