//! The session's ES256 key pair: made fresh, written in the reference's storage layout, and
//! named by its RFC 7638 thumbprint.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::SecretKey;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::DpopError;
use crate::secret::Secret;

/// Length in bytes of a P-256 coordinate and of a P-256 private scalar.
pub(super) const FIELD_LEN: usize = 32;

/// A random 32-byte string is a valid P-256 scalar unless it is zero or at least the group
/// order, which happens with probability below 2^-32; a run of failures means a broken source.
const KEYGEN_ATTEMPTS: usize = 8;

/// An ES256 (P-256) key pair that signs DPoP proofs.
///
/// Signing and importing use ring (a proof is signed on the JS thread for every request, and a
/// key is imported on every restore: p256 took ~225 µs to sign and ~290 µs to import, ring about
/// a tenth of that); p256 only makes new keys, because ring does not hand out the private
/// scalar that the reference's storage format needs.
#[derive(Clone)]
pub struct DpopKey {
    pub(super) pair: Arc<EcdsaKeyPair>,
    /// The proof's JWS header, base64url-encoded: the same for every proof of this key.
    pub(super) encoded_header: Arc<str>,
    /// The private scalar, for `private_jwk_json`.
    d: Zeroizing<[u8; FIELD_LEN]>,
    /// base64url of the public point's coordinates, computed once: every proof carries them.
    pub(super) x: String,
    pub(super) y: String,
}

impl DpopKey {
    /// A new random ES256 (P-256) key.
    pub fn generate() -> Result<Self, DpopError> {
        for _ in 0..KEYGEN_ATTEMPTS {
            let mut bytes = Zeroizing::new([0_u8; FIELD_LEN]);
            getrandom::fill(bytes.as_mut()).map_err(|e| DpopError::Random(e.to_string()))?;
            if let Ok(secret) = SecretKey::from_slice(bytes.as_ref()) {
                let point = secret.public_key().to_sec1_point(false);
                return Self::from_parts(bytes.as_ref(), point.as_bytes())
                    .ok_or(DpopError::Signing);
            }
        }
        Err(DpopError::Random(format!(
            "{KEYGEN_ATTEMPTS} draws in a row were not a valid P-256 private key"
        )))
    }

    /// `publicKey` as the reference stores it (member order kty, crv, x, y, alg).
    pub fn public_jwk_json(&self) -> String {
        // Every value is a fixed name or base64url text, so nothing needs JSON escaping.
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}","alg":"ES256"}}"#,
            self.x, self.y
        )
    }

    /// `privateKey` as the reference stores it (member order kty, crv, x, y, d).
    pub fn private_jwk_json(&self) -> Secret {
        let d = Zeroizing::new(URL_SAFE_NO_PAD.encode(self.d.as_slice()));
        Secret::new(format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}","d":"{}"}}"#,
            self.x,
            self.y,
            d.as_str()
        ))
    }

    /// The RFC 7638 JWK thumbprint of the public key (base64url of SHA-256, no padding): what an
    /// authorization server puts in the `cnf.jkt` of a DPoP-bound token.
    pub fn thumbprint(&self) -> String {
        jwk_thumbprint(&[
            ("crv", "P-256"),
            ("kty", "EC"),
            ("x", &self.x),
            ("y", &self.y),
        ])
    }

    /// The key of scalar `d` and uncompressed SEC1 point `point` (0x04 || x || y); `None` when
    /// they are not a P-256 key pair.
    pub(super) fn from_parts(d: &[u8], point: &[u8]) -> Option<Self> {
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            d,
            point,
            &SystemRandom::new(),
        )
        .ok()?;
        let coordinates = pair.public_key().as_ref().get(1..)?;
        let (x, y) = coordinates.split_at(coordinates.len() / 2);
        let mut scalar = Zeroizing::new([0_u8; FIELD_LEN]);
        scalar.copy_from_slice(d.get(..FIELD_LEN)?);
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // Every value is a fixed name or base64url text, so nothing needs JSON escaping.
        let header = format!(
            r#"{{"alg":"ES256","typ":"dpop+jwt","jwk":{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}}}"#
        );
        Some(Self {
            encoded_header: URL_SAFE_NO_PAD.encode(header).into(),
            x,
            y,
            pair: Arc::new(pair),
            d: scalar,
        })
    }

    pub(super) fn has_point(&self, x: &[u8], y: &[u8]) -> bool {
        URL_SAFE_NO_PAD.encode(x) == self.x && URL_SAFE_NO_PAD.encode(y) == self.y
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

/// RFC 7638 thumbprint of a JWK given its required members: they are serialised sorted by
/// name, without whitespace, and hashed with SHA-256.
fn jwk_thumbprint(required_members: &[(&str, &str)]) -> String {
    let sorted: BTreeMap<&str, &str> = required_members.iter().copied().collect();
    let mut canonical = String::from("{");
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&Value::from(name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::dpop::test_fixtures::{fixed_key, FIXED_D, FIXED_THUMBPRINT};

    #[test]
    fn generated_key_round_trips_through_storage() {
        let key = DpopKey::generate().unwrap();
        let public = key.public_jwk_json();
        let private = key.private_jwk_json();
        let loaded = DpopKey::from_stored(&public, private.expose()).unwrap();
        assert_eq!(loaded.thumbprint(), key.thumbprint());
        assert_eq!(loaded.public_jwk_json(), public);
        assert_eq!(loaded.private_jwk_json(), private);
        assert_ne!(
            DpopKey::generate().unwrap().thumbprint(),
            key.thumbprint(),
            "two keys drawn in a row are the same"
        );
    }

    #[test]
    fn stored_json_has_the_reference_layout() {
        let key = fixed_key();
        assert_eq!(
            key.public_jwk_json(),
            r#"{"kty":"EC","crv":"P-256","x":"A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8HnIY","y":"epIwI9_5rY3-vTLiFtNVo6ESpnZgcSXGLhCBTkDqQkE","alg":"ES256"}"#
        );
        assert_eq!(
            key.private_jwk_json().expose(),
            r#"{"kty":"EC","crv":"P-256","x":"A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8HnIY","y":"epIwI9_5rY3-vTLiFtNVo6ESpnZgcSXGLhCBTkDqQkE","d":"yJTRFQ_D5g4F7C_Doss17iuNAu9VqsW4UDVzTJIed1g"}"#
        );
    }

    #[test]
    fn thumbprint_matches_node() {
        assert_eq!(fixed_key().thumbprint(), FIXED_THUMBPRINT);
    }

    #[test]
    fn thumbprint_reproduces_the_rfc_7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            jwk_thumbprint(&[("n", n), ("kty", "RSA"), ("e", "AQAB")]),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn debug_shows_the_thumbprint_and_never_d() {
        let key = fixed_key();
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!("DpopKey {{ thumbprint: \"{FIXED_THUMBPRINT}\", .. }}")
        );
        assert!(!debug.contains(FIXED_D));
        assert_eq!(format!("{:?}", key.private_jwk_json()), "[redacted]");
    }
}
