//! The protocol's leaves: each knows one part of Solid-OIDC and nothing of the grants that use
//! it. Provider metadata (`discovery`), key sets (`jwks`) and the JWTs checked against them
//! (`jwt`, `claims`), DPoP keys and proofs (`dpop`), requests to the token endpoint (`token`),
//! dynamic client registration (`registration`), the tokens a grant leaves (`credentials`), and
//! what is remembered across operations of one store (`caches`).

pub mod caches;
pub mod claims;
pub mod credentials;
pub mod discovery;
pub mod dpop;
pub mod end_session;
pub mod jwks;
pub mod jwt;
pub mod registration;
pub mod token;
pub mod token_type;
pub mod webid_profile;
