//! The protocol core of solid-client-authn-native, as far as it has moved here: plain Rust with
//! no napi, no HTTP client and no runtime, so that the compiler keeps the boundary that the
//! binding crate (the repository root) must not cross the other way.
//!
//! Today this holds the ground floors: the errors and how outside text is quoted in them
//! (`error`, `quote`), the HTTP seam (`http`: requests described, made by the embedder), JWTs and
//! key sets (`jwt`), DPoP keys and proofs (`dpop`), stored session records (`record`,
//! `surrogates`), secrets (`secret`), random strings (`random`), one request at a time per key
//! (`single_flight`), and which network addresses are private (`addresses`). The grants, the
//! restore, the storage layer and the host queue are still in the root crate.

pub mod addresses;
pub mod dpop;
pub mod error;
pub mod http;
pub mod jwt;
pub mod quote;
pub mod random;
pub mod record;
pub mod secret;
pub mod single_flight;
pub mod surrogates;
