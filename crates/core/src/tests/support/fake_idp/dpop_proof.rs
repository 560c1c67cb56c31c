//! The DPoP proofs the token endpoint checks (RFC 9449 §4.3): signature, method, URL, age,
//! replay and nonce, with the thumbprint of the key that signed them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::{oauth_error, FakeIdp, PROOF_AGE_LIMIT};
use crate::clock::now_seconds;
use crate::http::HttpResponse;

/// The JSON object a base64url JWS part holds.
fn b64_json(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(members) => Some(members),
        _ => None,
    }
}

/// The RFC 7638 thumbprint of a P-256 public key.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl FakeIdp {
    /// Checks a DPoP proof for a POST to `htu`: the thumbprint of its key, or the refusal.
    pub(super) fn check_proof(&self, proof: &str, htu: &str) -> Result<String, HttpResponse> {
        let bad = |why: &str| oauth_error(400, "invalid_dpop_proof", why);
        let [header_part, claims_part, signature] = proof.split('.').collect::<Vec<_>>()[..] else {
            return Err(bad("not a compact JWS"));
        };
        let header = b64_json(header_part).ok_or_else(|| bad("unreadable header"))?;
        let claims = b64_json(claims_part).ok_or_else(|| bad("unreadable claims"))?;
        let text = |members: &Map<String, Value>, name: &str| {
            members.get(name).and_then(Value::as_str).map(str::to_owned)
        };
        if text(&header, "typ").as_deref() != Some("dpop+jwt")
            || text(&header, "alg").as_deref() != Some("ES256")
        {
            return Err(bad("not an ES256 dpop+jwt"));
        }
        let jwk = match header.get("jwk") {
            Some(Value::Object(jwk)) if !jwk.contains_key("d") => jwk,
            _ => return Err(bad("no public jwk")),
        };
        let (Some(x), Some(y)) = (text(jwk, "x"), text(jwk, "y")) else {
            return Err(bad("not an EC key"));
        };
        let mut point = vec![0x04];
        for coordinate in [&x, &y] {
            point.extend(
                URL_SAFE_NO_PAD
                    .decode(coordinate)
                    .map_err(|_| bad("bad key"))?,
            );
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| bad("bad signature"))?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(
                format!("{header_part}.{claims_part}").as_bytes(),
                &signature,
            )
            .map_err(|_| bad("the signature does not verify"))?;
        if text(&claims, "htm").as_deref() != Some("POST")
            || text(&claims, "htu").as_deref() != Some(htu)
        {
            return Err(bad("htm or htu is not this request's"));
        }
        let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
        if now_seconds().abs_diff(iat) > PROOF_AGE_LIMIT {
            return Err(bad("iat is not now"));
        }
        let jti = text(&claims, "jti").ok_or_else(|| bad("no jti"))?;
        if !self.state.borrow_mut().proof_ids.insert(jti) {
            return Err(bad("the proof was used before"));
        }
        if let Some(nonce) = self.settings.borrow().dpop_nonce.clone() {
            if text(&claims, "nonce").as_deref() != Some(nonce.as_str()) {
                let mut asked = oauth_error(400, "use_dpop_nonce", "a nonce is required");
                asked.headers.push(("dpop-nonce".to_owned(), nonce));
                return Err(asked);
            }
        }
        Ok(thumbprint(&x, &y))
    }
}
