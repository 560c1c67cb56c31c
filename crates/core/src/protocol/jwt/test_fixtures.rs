//! Tokens and a key set made by Node, shared by the unit tests of the JWT modules.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{decode, JwkSet, JwtError};

// Fixtures made once by Node 20 (`crypto.generateKeyPairSync` and `crypto.sign`, with
// `dsaEncoding: "ieee-p1363"` for ES256). The set holds, in order: an Ed25519 key, an RSA
// encryption key, the ES256 key "es-1", the 2048-bit RS256 key "rs-1" and a 1024-bit RSA key
// "rs-short". Every token carries the same claims.
pub(super) const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed-1"},{"kty":"RSA","n":"otjd_eLaQskwJhx5lkHHGA1hkozpSpFEjnwYuUB-OO947iBgD0ejjbs8VHr9_ASZGD_2QnS0uI9JIgpNocqj_lvJTglsvDWTo41Ke4V-Dejgoja_3GkdojvBcAEJCMCAWWTmjaWHCvi7LRiCg5wmtXZy6I6Urgir4qpTv6NX5tWz0gbYQo4Q2_5q9pz-zEOCq3V7cj7F_SA2vVccivihYzhoHA-bV7ZvE2PbCRmA87kzmlqQGyJBU8-tK2FrjN3lUW92hOGvB3mn42R4mVl4c_BysaW0lQd0sdTY1DyAFstu9j0DoKxP0fVyCsOW2dW5WV_OPym_qXQIpKMoM0RmyQ","e":"AQAB","kid":"rs-enc","use":"enc","alg":"RSA-OAEP"},{"kty":"EC","x":"m2AFACI_cVegpClxrN7Qh6jQ9u5NExPVfPGM80RRltk","y":"zOl_tk6CWg3Ga7wG5ma2FbNInwTC190_F-QJuok4azE","crv":"P-256","kid":"es-1","use":"sig","alg":"ES256"},{"kty":"RSA","n":"otjd_eLaQskwJhx5lkHHGA1hkozpSpFEjnwYuUB-OO947iBgD0ejjbs8VHr9_ASZGD_2QnS0uI9JIgpNocqj_lvJTglsvDWTo41Ke4V-Dejgoja_3GkdojvBcAEJCMCAWWTmjaWHCvi7LRiCg5wmtXZy6I6Urgir4qpTv6NX5tWz0gbYQo4Q2_5q9pz-zEOCq3V7cj7F_SA2vVccivihYzhoHA-bV7ZvE2PbCRmA87kzmlqQGyJBU8-tK2FrjN3lUW92hOGvB3mn42R4mVl4c_BysaW0lQd0sdTY1DyAFstu9j0DoKxP0fVyCsOW2dW5WV_OPym_qXQIpKMoM0RmyQ","e":"AQAB","kid":"rs-1","use":"sig","alg":"RS256"},{"kty":"RSA","n":"kuSNru5yZ3QAmHmDhLGa4Y51zeKsXpWMU9UK792bN-qoPgtdyHaGJ4AgovlhiqmpMBA0fiqFlhoS98ZVyTFIgGLecNL1AxFasrnDkfMp6HT5-yjVOZb_O7Ee8tFNE3WmBn6VnNNx9VoSNCGuk3QpuOLX7XpixO3HV59jxWme3zs","e":"AQAB","kid":"rs-short"}]}"#;
pub(super) const ES256: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.HWX0cYWl6EkC1u5QspTd6fD70eLYFE8GfHjcwZ25pg1wWmSlG5W4TCfuRpvcX2Y7dZda2twzKNi4lE3hxoh3nQ";
pub(super) const ES256_NO_KID: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.E94hbmvlxw2PSmG9-9XNel50rX8R63OOL20EjuF95z6LC6E030f9ICn9bUHQCaDIvZWYLIfBh7UPCMCZ7Z8Xmw";
pub(super) const RS256: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzLTEifQ.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.Rjbrg_GS8HCxR-nxJWV2WRFe-2mFxd0gpzuE0wieiB6nsSkGnwK9MK1BVsdz8LRUwOJySkKGDGRtYsnMkaLQCMsVxeiDA7LKIxEqSIx31_brvneKmlMIG8GbC-KJdPSdV2W5_O1vNfXsrqmNBB69skA_2hPaN19fjXh5g20ZZ-NekOmY7S2gcdE466pvsMR1BxP6OkeIeNVhipGQ2yoBRmDOMNC1KrvxzlpcnpXettYOUDVylUY0CEWCCS1_ZhaZIK0maE6TBEv4jgdIQMj0PQ2Xq5JLrnanT6bkNU0do7s13I_j7nTB0dWxNFCDFwS3aZhIDCBNw4p2JwZITKv5Hw";
pub(super) const RS256_NO_KID: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.jgNhPPJwEjmLKxyQiRZnLWpnjIYiTlKgyukjHJrpjhjcBYmEddoa8GParPxiX6tzquM-h0LyyxwfGZN1LHqW9lry1cL2-eeg5zLTRuNkFk8Z1gX-8z8vLpCbkYqhH8ByLfVFgOj9Y2wR4t6VDbJ4iTrWH1d_6HpnICfifBmrxVkbtEOYgIj_Ols2xVmIMNYDCm7sZ_Irfv0ynZ8YGq1DgKhDPiYIsuqkvVn6piuTXT8u_1fNOwLrMDEdI58f3B-IfGjDAUMeW2oEcHuaa6rStmaNDRwkw5_4Au8BUb6CVT2vT7EsUr7e_5lHAJsNUcH3pNXPCpVNsLMWN0yYS20ZjA";
pub(super) const RS256_SHORT_KEY: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzLXNob3J0In0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.fwTYQZ4bIflQicQgXrowvqP04-HFV8WsVqEGPXC9uVOKiaTKXSBQR5YQbu8TooMjvfHiP2-Mh9ZeOnQ1KmRG7bs95TthmV8sOxrRtFr2lh29RbbbMRUaccrx1lWY5PXLduAzw5rqIeSJ4osDWmYRkr2KkrHHfRY4ueaSPykwvD8";
pub(super) const RS256_UNKNOWN_KID: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzLTIifQ.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.CF6sHmqoj0dayfdXQBbm-KJhHLqGNKeo7J6MhFzpgyaq7EfvDL90VLiaXuS0kKQNGuQuQcWTi0k7dgh8ErlL9dGsmDo3IbB1qotQbSQPH8XAHUd-EMdJjgk3lMYpmJ_HwaSqVNzxxKtSn_x4gGjBE6ZtpgW0N1uLObuo-CJDGGHgcnLiboUJMXaYGpVwCsOmdi201j9rqjVkV_IHAJN1FoIeXgP9mP63RFCgdGFslhy5QU10vqEqbONtBNQgo68KLksJ3aE_hXEDVlqGUv5Zv2p4qfqd40Fvvy9B3xNqoDFMzgRosc2x2o_dSs3PHUdKlfwUxjJkz1SeVqB2E4Ve1Q";

pub(super) fn keys() -> JwkSet {
    JwkSet::parse(JWKS.as_bytes()).unwrap()
}

pub(super) fn expected_claims() -> Map<String, Value> {
    let Value::Object(claims) = json!({
        "iss": "https://idp.example/",
        "aud": "https://app.example/id",
        "sub": "https://alice.example/profile/card#me",
        "webid": "https://alice.example/profile/card#me",
        "iat": 1_700_000_000,
        "exp": 4_102_444_800_u64,
    }) else {
        unreachable!()
    };
    claims
}

pub(super) fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// The token with its header replaced; the signature stays that of the original.
pub(super) fn with_header(token: &str, header: &Value) -> String {
    let rest = token.split_once('.').unwrap().1;
    format!("{}.{rest}", b64(header))
}

pub(super) fn verify(token: &str) -> Result<Map<String, Value>, JwtError> {
    decode(token).unwrap().verify(&keys())
}

/// The ES256 key "es-1" of `JWKS`, with `kid` (or none) and `alg`.
pub(super) fn es1(kid: Option<&str>) -> Value {
    let set: Value = serde_json::from_str(JWKS).unwrap();
    let mut key = set["keys"][2].clone();
    let members = key.as_object_mut().unwrap();
    members.remove("kid");
    if let Some(kid) = kid {
        members.insert("kid".into(), kid.into());
    }
    key
}

pub(super) fn set_of(keys: &[Value]) -> JwkSet {
    JwkSet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}
