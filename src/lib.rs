//! Solid-OIDC client authentication for Node.js servers: the napi crate.
//!
//! The protocol is the core crate's (`solid-client-authn-core`, `crates/core`), which has no napi
//! and no HTTP client. Here: `binding`, which converts types at the edge and makes one core call
//! per entry point, and the engines that carry out what the core asks of the host: `http_engine`
//! (HTTP with reqwest) and `redis` (a `RedisStorage`'s calls with the redis crate).

pub mod http_engine;
pub mod redis;

// The protocol lives in the core crate; re-exported under the paths it had when it lived here,
// so that `crate::error` and the like read the same from the binding.
pub use solid_client_authn_core::{
    addresses, error, grants, host, http, join, keys, logout, panics, protocol, quote, random,
    restore, secret, session, single_flight, storage, surrogates,
};

pub mod binding;
