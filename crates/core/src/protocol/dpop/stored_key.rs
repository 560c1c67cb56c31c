//! Loading the session's key from the two JSON strings the reference writes into a session
//! record (`publicKey` and `privateKey`), refusing with a reason that names a member, never a
//! value.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::SecretKey;
use serde_json::{Map, Value};

use super::key::FIELD_LEN;
use super::{DpopError, DpopKey};

/// Which of the two stored key members a [`DpopError::StoredKey`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredKeyPart {
    PublicKey,
    PrivateKey,
}

impl fmt::Display for StoredKeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoredKeyPart::PublicKey => "publicKey",
            StoredKeyPart::PrivateKey => "privateKey",
        })
    }
}

/// What is wrong with a stored key. Each names at most a member, never a value, so no part of
/// `d` can reach a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredKeyProblem {
    /// The text is not JSON, or not a JSON object.
    NotJsonObject,
    /// `kty` is not `EC`.
    NotEc,
    /// `crv` is not `P-256`.
    NotP256,
    /// `alg` is present and is not `ES256`.
    NotEs256,
    /// The member is absent.
    Missing(&'static str),
    /// The member is not a JSON string.
    NotString(&'static str),
    /// The member is not unpadded base64url.
    NotBase64(&'static str),
    /// The member does not decode to 32 bytes.
    Not32Bytes(&'static str),
    /// `d` is zero or not below the order of P-256.
    InvalidPrivateScalar,
    /// `x` and `y` are not the public point of `d`.
    PointNotOfPrivateScalar,
}

impl fmt::Display for StoredKeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredKeyProblem::NotJsonObject => f.write_str("it is not a JSON object"),
            StoredKeyProblem::NotEc => f.write_str("its \"kty\" is not \"EC\""),
            StoredKeyProblem::NotP256 => f.write_str("its \"crv\" is not \"P-256\""),
            StoredKeyProblem::NotEs256 => f.write_str("its \"alg\" is not \"ES256\""),
            StoredKeyProblem::Missing(member) => write!(f, "its \"{member}\" is missing"),
            StoredKeyProblem::NotString(member) => {
                write!(f, "its \"{member}\" is not a string")
            }
            StoredKeyProblem::NotBase64(member) => {
                write!(f, "its \"{member}\" is not base64url")
            }
            StoredKeyProblem::Not32Bytes(member) => {
                write!(f, "its \"{member}\" is not 32 bytes long")
            }
            StoredKeyProblem::InvalidPrivateScalar => {
                f.write_str("its \"d\" is not a valid P-256 private key")
            }
            StoredKeyProblem::PointNotOfPrivateScalar => {
                f.write_str("its \"x\" and \"y\" are not the public point of its \"d\"")
            }
        }
    }
}

impl DpopKey {
    /// The key as the reference stores it in a session record: `publicKey` is the JSON of the
    /// public JWK `{"kty":"EC","crv":"P-256","x":..,"y":..,"alg":"ES256"}`, `privateKey` the
    /// JSON of `{"kty":"EC","crv":"P-256","x":..,"y":..,"d":..}`.
    ///
    /// Member order does not matter, and members this module does not use are ignored, as
    /// RFC 7517 §4 asks (Web Crypto exports add `ext` and `key_ops`). An `alg` other than ES256, a
    /// curve other than P-256, or coordinates that are not those of `d` are refused.
    ///
    /// A server restores the same sessions again and again: the keys loaded lately are kept
    /// (`loaded_keys`), and the same two texts give the same key without loading it again.
    pub fn from_stored(public_key_json: &str, private_key_json: &str) -> Result<Self, DpopError> {
        super::loaded_keys::loaded_or(public_key_json, private_key_json, || {
            Self::from_stored_unkept(public_key_json, private_key_json)
        })
    }

    /// Drops the key of these stored texts from those kept loaded (a session logged out).
    pub fn forget_stored(public_key_json: &str, private_key_json: &str) {
        super::loaded_keys::forget(public_key_json, private_key_json);
    }

    /// `from_stored`, loading and checking the key every time.
    pub(super) fn from_stored_unkept(
        public_key_json: &str,
        private_key_json: &str,
    ) -> Result<Self, DpopError> {
        let private = parse_stored_jwk(private_key_json, StoredKeyPart::PrivateKey)?;
        let public = parse_stored_jwk(public_key_json, StoredKeyPart::PublicKey)?;

        let d = Zeroizing::new(stored_field(&private, "d", StoredKeyPart::PrivateKey)?);
        // A scalar that is zero or not below the group order is no key at all.
        if SecretKey::from_slice(d.as_ref()).is_err() {
            return Err(DpopError::StoredKey {
                part: StoredKeyPart::PrivateKey,
                reason: StoredKeyProblem::InvalidPrivateScalar,
            });
        }
        let (private_x, private_y) = stored_point(&private, StoredKeyPart::PrivateKey)?;
        let mut point = Vec::with_capacity(1 + 2 * FIELD_LEN);
        point.push(0x04);
        point.extend_from_slice(&private_x);
        point.extend_from_slice(&private_y);
        // ring checks that the point is the one of `d`.
        let key = Self::from_parts(d.as_ref(), &point).ok_or(DpopError::StoredKey {
            part: StoredKeyPart::PrivateKey,
            reason: StoredKeyProblem::PointNotOfPrivateScalar,
        })?;
        let (public_x, public_y) = stored_point(&public, StoredKeyPart::PublicKey)?;
        if !key.has_point(&public_x, &public_y) {
            return Err(DpopError::StoredKeyMismatch);
        }
        Ok(key)
    }
}

/// The members of a stored JWK after the checks both halves share: a JSON object for an EC
/// P-256 key whose `alg`, when present, is ES256.
fn parse_stored_jwk(json: &str, part: StoredKeyPart) -> Result<Map<String, Value>, DpopError> {
    let refuse = |reason| DpopError::StoredKey { part, reason };
    let Ok(Value::Object(members)) = serde_json::from_str::<Value>(json) else {
        return Err(refuse(StoredKeyProblem::NotJsonObject));
    };
    if members.get("kty").and_then(Value::as_str) != Some("EC") {
        return Err(refuse(StoredKeyProblem::NotEc));
    }
    if members.get("crv").and_then(Value::as_str) != Some("P-256") {
        return Err(refuse(StoredKeyProblem::NotP256));
    }
    if members
        .get("alg")
        .is_some_and(|alg| alg.as_str() != Some("ES256"))
    {
        return Err(refuse(StoredKeyProblem::NotEs256));
    }
    Ok(members)
}

/// The decoded `x` and `y` of a stored JWK.
fn stored_point(
    members: &Map<String, Value>,
    part: StoredKeyPart,
) -> Result<(Vec<u8>, Vec<u8>), DpopError> {
    Ok((
        stored_field(members, "x", part)?,
        stored_field(members, "y", part)?,
    ))
}

/// One 32-byte base64url member of a stored JWK.
fn stored_field(
    members: &Map<String, Value>,
    name: &'static str,
    part: StoredKeyPart,
) -> Result<Vec<u8>, DpopError> {
    let refuse = |reason| DpopError::StoredKey { part, reason };
    let value = members
        .get(name)
        .ok_or(refuse(StoredKeyProblem::Missing(name)))?;
    let text = value
        .as_str()
        .ok_or(refuse(StoredKeyProblem::NotString(name)))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| refuse(StoredKeyProblem::NotBase64(name)))?;
    if bytes.len() != FIELD_LEN {
        return Err(refuse(StoredKeyProblem::Not32Bytes(name)));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::dpop::test_fixtures::{
        FIXED_D, FIXED_PRIVATE, FIXED_PUBLIC, FIXED_THUMBPRINT,
    };

    fn with_member(json: &str, name: &str, value: Value) -> String {
        let mut members: Map<String, Value> = serde_json::from_str(json).unwrap();
        members.insert(name.to_owned(), value);
        Value::Object(members).to_string()
    }

    fn without_member(json: &str, name: &str) -> String {
        let mut members: Map<String, Value> = serde_json::from_str(json).unwrap();
        members.remove(name);
        Value::Object(members).to_string()
    }

    fn stored_error(public: &str, private: &str) -> DpopError {
        let error = DpopKey::from_stored(public, private).unwrap_err();
        assert!(!error.to_string().contains(FIXED_D), "{error}");
        assert!(!format!("{error:?}").contains(FIXED_D), "{error:?}");
        error
    }

    #[test]
    fn from_stored_ignores_member_order_and_unknown_members() {
        let private = with_member(FIXED_PRIVATE, "ext", Value::Bool(true));
        let private = with_member(&private, "key_ops", serde_json::json!(["sign"]));
        let private = with_member(&private, "alg", "ES256".into());
        let public = without_member(FIXED_PUBLIC, "alg");
        let key = DpopKey::from_stored(&public, &private).unwrap();
        assert_eq!(key.thumbprint(), FIXED_THUMBPRINT);
    }

    #[test]
    fn from_stored_refuses_a_public_key_of_another_pair() {
        let other = DpopKey::generate().unwrap();
        assert_eq!(
            stored_error(&other.public_jwk_json(), FIXED_PRIVATE),
            DpopError::StoredKeyMismatch
        );
    }

    #[test]
    fn from_stored_refuses_coordinates_that_are_not_those_of_d() {
        let other = DpopKey::generate().unwrap();
        let private = with_member(FIXED_PRIVATE, "x", other.x.clone().into());
        let private = with_member(&private, "y", other.y.clone().into());
        let error = stored_error(&other.public_jwk_json(), &private);
        assert_eq!(
            error.to_string(),
            "the stored DPoP privateKey is not usable: its \"x\" and \"y\" are not the public point of its \"d\""
        );
    }

    #[test]
    fn from_stored_refuses_another_curve() {
        let private = with_member(FIXED_PRIVATE, "crv", "P-384".into());
        assert_eq!(
            stored_error(FIXED_PUBLIC, &private).to_string(),
            "the stored DPoP privateKey is not usable: its \"crv\" is not \"P-256\""
        );
        let public = with_member(FIXED_PUBLIC, "crv", "secp256k1".into());
        assert_eq!(
            stored_error(&public, FIXED_PRIVATE).to_string(),
            "the stored DPoP publicKey is not usable: its \"crv\" is not \"P-256\""
        );
    }

    #[test]
    fn from_stored_refuses_a_missing_d() {
        let private = without_member(FIXED_PRIVATE, "d");
        assert_eq!(
            stored_error(FIXED_PUBLIC, &private),
            DpopError::StoredKey {
                part: StoredKeyPart::PrivateKey,
                reason: StoredKeyProblem::Missing("d")
            }
        );
    }

    #[test]
    fn from_stored_refuses_bad_base64_without_quoting_it() {
        let bad_d = format!("{}!", &FIXED_D[1..]);
        let private = with_member(FIXED_PRIVATE, "d", bad_d.clone().into());
        let error = stored_error(FIXED_PUBLIC, &private);
        assert_eq!(
            error.to_string(),
            "the stored DPoP privateKey is not usable: its \"d\" is not base64url"
        );
        assert!(!error.to_string().contains(&bad_d));

        let padded = with_member(FIXED_PRIVATE, "d", format!("{FIXED_D}=").into());
        assert_eq!(
            stored_error(FIXED_PUBLIC, &padded).to_string(),
            "the stored DPoP privateKey is not usable: its \"d\" is not base64url"
        );
        let public = with_member(
            FIXED_PUBLIC,
            "x",
            "A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8H".into(),
        );
        assert_eq!(
            stored_error(&public, FIXED_PRIVATE).to_string(),
            "the stored DPoP publicKey is not usable: its \"x\" is not 32 bytes long"
        );
    }

    #[test]
    fn from_stored_refuses_other_shapes() {
        let cases = [
            (
                FIXED_PUBLIC.to_owned(),
                "not json".to_owned(),
                "privateKey is not usable: it is not a JSON object",
            ),
            (
                FIXED_PUBLIC.to_owned(),
                "[]".to_owned(),
                "privateKey is not usable: it is not a JSON object",
            ),
            (
                FIXED_PUBLIC.to_owned(),
                with_member(FIXED_PRIVATE, "kty", "RSA".into()),
                "\"kty\"",
            ),
            (
                with_member(FIXED_PUBLIC, "alg", "ES384".into()),
                FIXED_PRIVATE.to_owned(),
                "\"alg\"",
            ),
            (
                FIXED_PUBLIC.to_owned(),
                with_member(FIXED_PRIVATE, "d", Value::from(7)),
                "not a string",
            ),
            (
                FIXED_PUBLIC.to_owned(),
                with_member(
                    FIXED_PRIVATE,
                    "d",
                    URL_SAFE_NO_PAD.encode([0_u8; 32]).into(),
                ),
                "not a valid P-256 private key",
            ),
        ];
        for (public, private, expected) in cases {
            let message = DpopKey::from_stored(&public, &private)
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains(FIXED_D));
        }
    }
}
