//! JSON Web Tokens: decoding, verifying signatures against a JSON Web Key Set, and checking the
//! registered claims.
//!
//! Only what ID tokens of Solid identity providers need: ES256 and RS256 signatures in compact
//! form. Errors describe what is wrong and never quote a token or a signature; values taken from
//! a token's header (an `alg`, a `kid`) are shortened before they reach a message.
//!
//! This module decodes a token and names what can go wrong; `key_set` reads a JSON Web Key Set
//! and picks the one key a token may be checked with, `verify` checks the signature with it, and
//! `registered_claims` checks `iss`, `aud` and the times.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

mod key_set;
mod registered_claims;
mod verify;

pub use key_set::{JwkSet, MAX_KEYS};
pub use registered_claims::check_claims;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod test_fixtures;

/// Longest text taken from a token's header that an error message repeats.
const QUOTE_MAX_CHARS: usize = 64;

/// Why a token or a key set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is not three dot-separated parts (a JWE has five).
    #[error("a JWT has 3 dot-separated parts, this one has {0}")]
    WrongPartCount(usize),
    /// A part of the token is not unpadded base64url.
    #[error("the JWT {0} is not base64url")]
    BadBase64(JwtPart),
    /// The header or the claims do not decode to a JSON object.
    #[error("the JWT {0} is not a JSON object")]
    NotJsonObject(JwtPart),
    /// The header lacks what verification needs, or asks for what it cannot do.
    #[error("the JWT header is not usable: {0}")]
    InvalidHeader(&'static str),
    /// The token is signed with an algorithm other than ES256 or RS256 (`none` included).
    #[error("JWT algorithm \"{0}\" is not accepted: only ES256 and RS256 are")]
    UnsupportedAlgorithm(String),
    /// The body of a `jwks_uri` response is not a JSON Web Key Set.
    #[error("the JSON Web Key Set is not usable: {0}")]
    InvalidKeySet(&'static str),
    /// No key of the set has the token's `kid`.
    #[error("the JSON Web Key Set has no key with kid \"{0}\"")]
    UnknownKid(String),
    /// The key with the token's `kid` cannot verify it.
    #[error("the key with kid \"{kid}\" cannot verify this JWT: {reason}")]
    UnusableKey { kid: String, reason: String },
    /// The token has no `kid`, and the set has no key for its algorithm.
    #[error("the JSON Web Key Set has no key for {0}")]
    NoSuitableKey(&'static str),
    /// More than one key of the set fits the token's header (its `kid`, or without one its
    /// algorithm): the set is ambiguous, and trying each key in turn is work a provider could
    /// multiply at will. The reference refuses such a set too (`JWKSMultipleMatchingKeys`).
    #[error(
        "the JSON Web Key Set has {count} keys that fit this JWT ({what}), where one is expected"
    )]
    MultipleMatchingKeys { count: usize, what: String },
    /// The signature does not verify with the key (or, without `kid`, with any key).
    #[error("the JWT signature does not verify")]
    BadSignature,
    /// A claim the check needs is absent.
    #[error("the JWT has no \"{0}\" claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type.
    #[error("the JWT \"{claim}\" claim is invalid: {reason}")]
    InvalidClaim {
        claim: &'static str,
        reason: &'static str,
    },
    /// `iss` is not the expected issuer.
    #[error("unexpected \"iss\" claim value \"{found}\": expected \"{expected}\"")]
    UnexpectedIssuer { expected: String, found: String },
    /// `aud` does not name the expected audience.
    #[error("unexpected \"aud\" claim value: it does not contain \"{expected}\"")]
    UnexpectedAudience { expected: String },
    /// `exp` has passed, tolerance included.
    #[error("the JWT expired at {exp} (now {now}, tolerance {skew} s)")]
    Expired { exp: Number, now: u64, skew: u64 },
    /// `nbf` is still ahead, tolerance included.
    #[error("the JWT is not valid before {nbf} (now {now}, tolerance {skew} s)")]
    NotYetValid { nbf: Number, now: u64, skew: u64 },
    /// `iat` is ahead, tolerance included.
    #[error("the JWT was issued in the future, at {iat} (now {now}, tolerance {skew} s)")]
    IssuedInFuture { iat: Number, now: u64, skew: u64 },
}

/// One of the three parts of a compact JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtPart {
    Header,
    Claims,
    Signature,
}

impl fmt::Display for JwtPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwtPart::Header => "header",
            JwtPart::Claims => "claims",
            JwtPart::Signature => "signature",
        })
    }
}

/// A decoded JWT whose signature has NOT been checked.
pub struct UnverifiedJwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// The first two parts as received: the signature covers these bytes, not a re-encoding.
    signing_input: String,
    signature: Vec<u8>,
}

impl fmt::Debug for UnverifiedJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedJwt")
            .field("header", &self.header)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Splits a compact JWT and decodes its header and claims. Nothing is verified.
pub fn decode(token: &str) -> Result<UnverifiedJwt, JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(JwtError::WrongPartCount(parts.len()));
    };
    Ok(UnverifiedJwt {
        header: decode_object(header, JwtPart::Header)?,
        claims: decode_object(claims, JwtPart::Claims)?,
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::BadBase64(JwtPart::Signature))?,
        signing_input: token[..header.len() + 1 + claims.len()].to_owned(),
    })
}

fn decode_object(part: &str, which: JwtPart) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::BadBase64(which))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(members)) => Ok(members),
        _ => Err(JwtError::NotJsonObject(which)),
    }
}

/// The signature algorithms accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Es256,
    Rs256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Rs256 => "RS256",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Algorithm::Es256),
            "RS256" => Some(Algorithm::Rs256),
            _ => None,
        }
    }
}

impl UnverifiedJwt {
    /// The `kid` of the header, when it is a string.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }
}

/// Text from a token, cut short so that a crafted header cannot flood a message or a log.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(QUOTE_MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::test_fixtures::{b64, expected_claims, ES256, ES256_NO_KID};
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_splits_a_token() {
        let jwt = decode(ES256).unwrap();
        assert_eq!(jwt.header["alg"], "ES256");
        assert_eq!(jwt.kid(), Some("es-1"));
        assert_eq!(jwt.claims, expected_claims());
        assert_eq!(jwt.signature.len(), 64);
        assert_eq!(decode(ES256_NO_KID).unwrap().kid(), None);
    }

    #[test]
    fn decode_refuses_malformed_tokens() {
        let header = b64(&json!({"alg": "ES256"}));
        let claims = b64(&json!({"sub": "x"}));
        assert_eq!(
            decode(&format!("{header}.{claims}")).unwrap_err(),
            JwtError::WrongPartCount(2)
        );
        assert_eq!(
            decode(&format!("{header}.{claims}.a.b.c")).unwrap_err(),
            JwtError::WrongPartCount(5)
        );
        assert_eq!(decode("").unwrap_err(), JwtError::WrongPartCount(1));
        assert_eq!(
            decode(&format!("{header}!.{claims}.")).unwrap_err(),
            JwtError::BadBase64(JwtPart::Header)
        );
        assert_eq!(
            decode(&format!("{header}.{claims}=.")).unwrap_err(),
            JwtError::BadBase64(JwtPart::Claims)
        );
        assert_eq!(
            decode(&format!("{header}.{claims}.a+b/")).unwrap_err(),
            JwtError::BadBase64(JwtPart::Signature)
        );
        assert_eq!(
            decode(&format!("{}.{claims}.", b64(&json!(["alg"])))).unwrap_err(),
            JwtError::NotJsonObject(JwtPart::Header)
        );
        assert_eq!(
            decode(&format!("{header}.{}.", URL_SAFE_NO_PAD.encode("not json"))).unwrap_err(),
            JwtError::NotJsonObject(JwtPart::Claims)
        );
        assert_eq!(
            decode(&format!("{header}.{}.", b64(&json!("a string")))).unwrap_err(),
            JwtError::NotJsonObject(JwtPart::Claims)
        );
        assert_eq!(
            JwtError::BadBase64(JwtPart::Signature).to_string(),
            "the JWT signature is not base64url"
        );
    }
}
