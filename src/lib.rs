//! Solid-OIDC client authentication for Node.js servers: the napi crate.
//!
//! The protocol core is moving into its own crate, `solid-client-authn-core` (`crates/core`),
//! where the compiler keeps it free of napi and of the HTTP client; the ground floors are there
//! already and are re-exported below under their old paths. Everything here but `binding` is
//! protocol code still to move (plain Rust with no napi types); `binding` converts types at the
//! edge, and `http_engine` makes the core's requests with reqwest.

pub mod http_engine;
pub mod redis_cluster;
pub mod redis_engine;

// The protocol lives in the core crate; re-exported under the paths it had when it lived here,
// so that `crate::error` and the like read the same from the binding.
pub use solid_client_authn_core::{
    addresses, error, grants, host, http, join, keys, logout, panics, protocol, quote, random,
    restore, secret, session, single_flight, storage, surrogates,
};

pub mod binding;
