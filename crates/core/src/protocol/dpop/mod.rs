//! DPoP (RFC 9449): the session's ES256 key and the proofs it signs.
//!
//! The key is kept in the two JSON strings the reference writes into a session record
//! (`publicKey` and `privateKey`), so sessions move between this package and the reference in
//! both directions.
//!
//! `key` holds the key pair and its public forms, `stored_key` loads it from the two stored JSON
//! strings (`loaded_keys` keeps the keys loaded lately), and `proof` signs the proof for one
//! request.

mod key;
pub(crate) mod loaded_keys;
mod proof;
mod stored_key;

pub use key::DpopKey;
pub use proof::{access_token_hash, htu, ProofClaims};
pub use stored_key::{StoredKeyPart, StoredKeyProblem};

#[cfg(test)]
mod properties;
#[cfg(test)]
mod test_fixtures;

/// Why a DPoP key could not be made or loaded, or a proof could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
    /// A stored key is not an ES256 key in the reference's layout. The reason names the member
    /// and what is wrong with it, never its value.
    #[error("the stored DPoP {part} is not usable: {reason}")]
    StoredKey {
        part: StoredKeyPart,
        reason: StoredKeyProblem,
    },
    /// The stored `publicKey` and `privateKey` are each valid, but are not one key pair.
    #[error("the stored DPoP publicKey is not the public half of the stored privateKey")]
    StoredKeyMismatch,
    /// The URL of the request cannot be parsed. The URL is not quoted: its query may hold
    /// credentials.
    #[error("cannot make a DPoP proof for an invalid URL: {0}")]
    InvalidUrl(String),
    /// DPoP proofs are defined for HTTP requests only.
    #[error("DPoP proofs are made for http and https URLs only, not for \"{0}:\" ones")]
    UnsupportedScheme(String),
    /// The request method is empty or holds characters an HTTP method cannot have.
    #[error("the HTTP method of the request is not a valid method name")]
    InvalidMethod,
    /// The system clock reads a time before 1970, so there is no `iat` to put in a proof.
    #[error("the system clock is set before 1970")]
    Clock,
    /// The signature could not be computed.
    #[error("signing the DPoP proof failed")]
    Signing,
}
