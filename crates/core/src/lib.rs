//! The protocol core of solid-client-authn-native: plain Rust with no napi, no HTTP client and
//! no runtime, so that the compiler keeps the boundary that the binding crate (the repository
//! root) must not cross the other way.
//!
//! - `protocol`: the leaves (discovery, key sets, JWTs, DPoP, token requests, registration).
//! - `grants`: the flows that log a session in.
//! - `session`: the stored session record (every field name in one place) and what a login
//!   gives.
//! - `restore`: restoring a stored session (the refresh-timing rule, one refresh at a time).
//! - `logout`: forgetting a session, revocation, the end-session URL.
//! - `storage`: the key-value layer, its key locks, the refresh lease, the session list and the
//!   multi-session functions.
//! - `host`: the queue of calls the embedder makes (storage, HTTP, sleep) and the driver.
//! - `http`: the seam: requests described here, made by the embedder.
//! - the ground: errors and how outside text is quoted in them, secrets, random strings,
//!   unpaired surrogates in stored JSON, one request at a time per key, private addresses,
//!   panics as errors.

pub mod addresses;
pub mod clock;
pub mod error;
pub mod grants;
pub mod host;
pub mod http;
pub mod join;
pub mod keys;
pub mod logout;
pub mod panics;
pub mod protocol;
pub mod quote;
pub mod random;
pub mod restore;
pub mod secret;
pub mod session;
pub mod single_flight;
pub mod storage;
pub mod surrogates;

/// Test support, here and in the binding crate's tests (the `testing` feature), and the tests of
/// whole flows.
#[cfg(any(test, feature = "testing"))]
pub mod tests;
