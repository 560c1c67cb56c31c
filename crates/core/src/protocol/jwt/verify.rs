//! Checking a decoded token's signature with the one key of a set that fits it.

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::Signature;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{Map, Value};

use super::key_set::{Jwk, KeyMaterial};
use super::{shorten, Algorithm, JwkSet, JwtError, UnverifiedJwt};

impl UnverifiedJwt {
    /// Checks the signature with the one key of the set that fits the token (its `kid`, or
    /// without one its algorithm), and gives the claims.
    ///
    /// Only ES256 (P-256) and RS256 (RSA PKCS#1 v1.5 with SHA-256, 2048 bits or more) are
    /// accepted; `none`, HMAC and anything else are refused, so a token cannot choose a weaker
    /// check than the key set offers.
    pub fn verify(self, keys: &JwkSet) -> Result<Map<String, Value>, JwtError> {
        let alg = match self.header.get("alg") {
            None => return Err(JwtError::InvalidHeader("it has no \"alg\"")),
            Some(Value::String(alg)) => Algorithm::from_name(alg)
                .ok_or_else(|| JwtError::UnsupportedAlgorithm(shorten(alg)))?,
            Some(_) => return Err(JwtError::InvalidHeader("its \"alg\" is not a string")),
        };
        // RFC 7515 §4.1.11: a token whose critical extensions are not understood must be
        // refused, and none are understood here.
        if self.header.contains_key("crit") {
            return Err(JwtError::InvalidHeader(
                "it lists critical extensions (\"crit\"), and none are supported",
            ));
        }
        let kid = match self.header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(JwtError::InvalidHeader("its \"kid\" is not a string")),
        };

        let key = keys.candidate(kid, alg)?;
        if key.verifies(self.signing_input.as_bytes(), &self.signature) {
            Ok(self.claims)
        } else {
            Err(JwtError::BadSignature)
        }
    }
}

impl Jwk {
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            // JWS carries ECDSA signatures as raw r || s (RFC 7518 §3.4), never DER.
            KeyMaterial::Ec(key) => Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            KeyMaterial::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jwt::decode;
    use crate::protocol::jwt::test_fixtures::{
        b64, expected_claims, verify, with_header, ES256, ES256_NO_KID, JWKS, RS256, RS256_NO_KID,
    };
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn es256_and_rs256_tokens_made_by_node_verify() {
        for token in [ES256, ES256_NO_KID, RS256, RS256_NO_KID] {
            assert_eq!(verify(token).unwrap(), expected_claims());
        }
    }

    #[test]
    fn a_flipped_signature_byte_is_refused() {
        for token in [ES256, RS256, ES256_NO_KID, RS256_NO_KID] {
            let (input, signature) = token.rsplit_once('.').unwrap();
            let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
            bytes[10] ^= 0x01;
            let tampered = format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes));
            assert_eq!(verify(&tampered).unwrap_err(), JwtError::BadSignature);
        }
    }

    #[test]
    fn changed_claims_are_refused() {
        let (header, rest) = ES256.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let mut claims = expected_claims();
        claims.insert("webid".into(), "https://mallory.example/#me".into());
        let forged = format!("{header}.{}.{signature}", b64(&Value::Object(claims)));
        assert_eq!(verify(&forged).unwrap_err(), JwtError::BadSignature);
    }

    #[test]
    fn alg_none_is_refused() {
        let header = b64(&json!({"alg": "none"}));
        let claims = b64(&Value::Object(expected_claims()));
        let error = verify(&format!("{header}.{claims}.")).unwrap_err();
        assert_eq!(error, JwtError::UnsupportedAlgorithm("none".into()));
        assert_eq!(
            error.to_string(),
            "JWT algorithm \"none\" is not accepted: only ES256 and RS256 are"
        );
    }

    #[test]
    fn hmac_and_other_algorithms_are_refused() {
        for alg in ["HS256", "PS256", "ES384", "EdDSA", "es256"] {
            let token = with_header(RS256, &json!({"alg": alg, "kid": "rs-1"}));
            assert_eq!(
                verify(&token).unwrap_err(),
                JwtError::UnsupportedAlgorithm(alg.into())
            );
        }
        let long_alg = "A".repeat(500);
        let token = with_header(RS256, &json!({ "alg": long_alg }));
        let message = verify(&token).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn headers_without_a_usable_alg_or_with_crit_are_refused() {
        let cases = [
            json!({"kid": "es-1"}),
            json!({"alg": 256, "kid": "es-1"}),
            json!({"alg": "ES256", "kid": 1}),
            json!({"alg": "ES256", "kid": "es-1", "crit": ["b64"], "b64": false}),
        ];
        for header in cases {
            assert!(
                matches!(
                    verify(&with_header(ES256, &header)),
                    Err(JwtError::InvalidHeader(_))
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn rsa_moduli_with_a_leading_zero_octet_are_accepted() {
        let mut set: Value = serde_json::from_str(JWKS).unwrap();
        let rs1 = set["keys"][3].as_object_mut().unwrap();
        let mut n = URL_SAFE_NO_PAD.decode(rs1["n"].as_str().unwrap()).unwrap();
        n.insert(0, 0);
        rs1.insert("n".into(), URL_SAFE_NO_PAD.encode(n).into());
        let set = JwkSet::parse(set.to_string().as_bytes()).unwrap();
        assert_eq!(
            decode(RS256).unwrap().verify(&set).unwrap(),
            expected_claims()
        );
    }

    #[test]
    fn errors_never_quote_the_signature() {
        let signature = ES256.rsplit_once('.').unwrap().1;
        let token = with_header(ES256, &json!({"alg": "ES256", "kid": "rs-1"}));
        let error = verify(&token).unwrap_err();
        assert!(!error.to_string().contains(signature));
        assert!(!format!("{:?}", decode(ES256).unwrap()).contains(signature));
    }
}
