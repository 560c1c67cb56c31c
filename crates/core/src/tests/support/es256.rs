//! An ES256 signer for tests: a fixed P-256 key that signs any JWT header and claims, with
//! RFC 6979 deterministic signatures, so the same input always gives the same token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

/// A P-256 key that signs compact JWTs (ES256).
pub struct Es256 {
    key: SigningKey,
    /// The public point's coordinates, base64url.
    pub x: String,
    pub y: String,
}

impl Es256 {
    /// The key whose private scalar is `seed` repeated: the same key on every run. Any seed
    /// from 1 to 255 is a valid scalar (far below the group order).
    ///
    /// # Panics
    ///
    /// For a seed of 0, which is no key.
    pub fn from_seed(seed: u8) -> Self {
        let key = SigningKey::from_slice(&[seed; 32]).expect("a nonzero scalar below the order");
        let point = key.verifying_key().to_sec1_point(false);
        // Uncompressed SEC1: 0x04, then x, then y.
        let (x, y) = point.as_bytes()[1..].split_at(32);
        Self {
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
            key,
        }
    }

    /// A compact JWS of `header` and `claims` (JSON texts, encoded as given).
    pub fn sign(&self, header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// A JWT of `claims` with the header `{"alg":"ES256","typ":"JWT","kid":kid}`.
    pub fn sign_jwt(&self, kid: &str, claims: &Value) -> String {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
        self.sign(&header.to_string(), &claims.to_string())
    }

    /// The public JWK, with `kid` when given.
    pub fn jwk(&self, kid: Option<&str>) -> Value {
        let mut jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "alg": "ES256",
            "use": "sig",
        });
        if let (Some(kid), Value::Object(members)) = (kid, &mut jwk) {
            members.insert("kid".to_owned(), Value::from(kid));
        }
        jwk
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jwt::{decode, JwkSet};

    #[test]
    fn its_tokens_verify_with_its_jwk_and_are_deterministic() {
        let key = Es256::from_seed(7);
        let claims = json!({ "iss": "https://idp.example/", "n": 1 });
        let token = key.sign_jwt("k1", &claims);
        assert_eq!(token, Es256::from_seed(7).sign_jwt("k1", &claims));
        let keys = json!({ "keys": [key.jwk(Some("k1"))] }).to_string();
        let keys = JwkSet::parse(keys.as_bytes()).unwrap();
        let verified = decode(&token).unwrap().verify(&keys).unwrap();
        assert_eq!(verified.get("n"), Some(&Value::from(1)));
        let other = json!({ "keys": [Es256::from_seed(8).jwk(Some("k1"))] }).to_string();
        let other = JwkSet::parse(other.as_bytes()).unwrap();
        assert!(decode(&token).unwrap().verify(&other).is_err());
    }
}
