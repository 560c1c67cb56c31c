//! DPoP proofs (RFC 9449 §4): the JWS signed for one request, and the claims it carries.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{DpopError, DpopKey};

/// Random bytes in a proof's `jti`: as many as openid-client uses at the token endpoint, well
/// above the 96 bits RFC 9449 asks for.
const JTI_LEN: usize = 32;

impl DpopKey {
    /// A DPoP proof for one request: a compact JWS signed ES256 whose header carries the public
    /// JWK, with claims `htm`, `htu`, `iat` (now), a fresh random `jti`, plus `ath` when an
    /// access token is presented and `nonce` when the server asked for one.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, DpopError> {
        self.proof_for(method, url, access_token, None, nonce)
    }

    /// The claims of a proof for a caller that keeps the token's `ath` ([`access_token_hash`]):
    /// hashing a token for every request is work a session does once. Checked and set here
    /// (time, `jti`); [`DpopKey::sign_claims`] signs them, on any thread.
    pub fn proof_claims(
        &self,
        method: &str,
        url: &str,
        ath: &str,
        nonce: Option<&str>,
    ) -> Result<ProofClaims, DpopError> {
        let request = ProofRequest {
            method,
            url,
            access_token: None,
            ath: Some(ath),
            nonce,
        };
        let (iat, jti) = now_and_jti()?;
        claims_of(&request, iat, &jti)
    }

    fn proof_for(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        ath: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, DpopError> {
        let request = ProofRequest {
            method,
            url,
            access_token,
            ath,
            nonce,
        };
        let (iat, jti) = now_and_jti()?;
        self.sign_proof(&request, iat, &jti)
    }

    /// The signing core of [`DpopKey::proof`], with the time and `jti` given so that tests can
    /// check exact claims.
    fn sign_proof(&self, request: &ProofRequest, iat: u64, jti: &str) -> Result<String, DpopError> {
        self.sign_claims(&claims_of(request, iat, jti)?)
    }

    /// The compact JWS of a proof with these claims.
    pub fn sign_claims(&self, claims: &ProofClaims) -> Result<String, DpopError> {
        let signing_input = format!(
            "{}.{}",
            self.encoded_header,
            URL_SAFE_NO_PAD.encode(&claims.0)
        );
        // ECDSA_P256_SHA256_FIXED: the raw r || s that JWS wants, not DER.
        let signature = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| DpopError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// The claims of one proof, as the JSON text that is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofClaims(String);

/// A proof's `iat` (now, in seconds) and a fresh random `jti`.
fn now_and_jti() -> Result<(u64, String), DpopError> {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| DpopError::Clock)?
        .as_secs();
    let mut jti = [0_u8; JTI_LEN];
    getrandom::fill(&mut jti).map_err(|e| DpopError::Random(e.to_string()))?;
    Ok((iat, URL_SAFE_NO_PAD.encode(jti)))
}

fn claims_of(request: &ProofRequest, iat: u64, jti: &str) -> Result<ProofClaims, DpopError> {
    let htm = http_method(request.method)?;
    let htu = htu(request.url)?;
    let quoted = |text: &str| Value::from(text).to_string();
    // Built as text (members in a fixed order): a proof is signed for every request.
    let mut claims = format!(
        r#"{{"htm":{},"htu":{},"iat":{iat},"jti":{}"#,
        quoted(&htm),
        quoted(&htu),
        quoted(jti)
    );
    let ath = match (request.ath, request.access_token) {
        (Some(ath), _) => Some(std::borrow::Cow::Borrowed(ath)),
        (None, Some(token)) => Some(std::borrow::Cow::Owned(access_token_hash(token))),
        (None, None) => None,
    };
    if let Some(ath) = ath {
        claims.push_str(r#","ath":"#);
        claims.push_str(&quoted(&ath));
    }
    if let Some(nonce) = request.nonce {
        claims.push_str(r#","nonce":"#);
        claims.push_str(&quoted(nonce));
    }
    claims.push('}');
    Ok(ProofClaims(claims))
}

/// What a proof is for, kept together so that the signing core stays readable.
struct ProofRequest<'a> {
    method: &'a str,
    url: &'a str,
    access_token: Option<&'a str>,
    /// The `ath` of the access token, when the caller has it already.
    ath: Option<&'a str>,
    nonce: Option<&'a str>,
}

/// The `htu` of a URL (RFC 9449 §4.2): scheme, host, port (omitted when it is the scheme's
/// default) and path, without query, fragment or userinfo; scheme and host lower-cased, an
/// empty path made `/`.
///
/// Unlike the reference, a path that starts with `//` stays a path: the reference re-parses it
/// as a protocol-relative URL, so `https://a.com//evil.com/x` gets a proof for `evil.com`.
pub fn htu(url: &str) -> Result<String, DpopError> {
    let parsed = url::Url::parse(url).map_err(|e| DpopError::InvalidUrl(e.to_string()))?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(DpopError::UnsupportedScheme(scheme.to_owned()));
    }
    // The WHATWG parser always gives http(s) URLs a host, and lower-cases it.
    let host = parsed
        .host_str()
        .ok_or_else(|| DpopError::InvalidUrl("it has no host".to_owned()))?;
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = match parsed.path() {
        "" => "/",
        path => path,
    };
    Ok(format!("{scheme}://{host}{port}{path}"))
}

/// The `htm` claim: the method upper-cased, as the reference does, after checking it is an
/// RFC 9110 token (so a header value cannot be smuggled into the claim).
fn http_method(method: &str) -> Result<String, DpopError> {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if method.is_empty() || !method.chars().all(is_tchar) {
        return Err(DpopError::InvalidMethod);
    }
    Ok(method.to_ascii_uppercase())
}

/// The `ath` claim: base64url of the SHA-256 of the access token's ASCII bytes.
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::dpop::test_fixtures::fixed_key;
    use crate::protocol::jwt;

    #[test]
    fn proof_header_and_claims_are_exact() {
        let key = fixed_key();
        let request = ProofRequest {
            method: "get",
            url: "https://user:pw@Pod.Example/a/b?q=secret#f",
            access_token: Some("an-access-token.xyz"),
            ath: None,
            nonce: Some("server-nonce-1"),
        };
        let proof = key.sign_proof(&request, 1_700_000_000, "jti-1").unwrap();
        let decoded = jwt::decode(&proof).unwrap();
        assert_eq!(
            Value::Object(decoded.header).to_string(),
            r#"{"alg":"ES256","typ":"dpop+jwt","jwk":{"kty":"EC","crv":"P-256","x":"A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8HnIY","y":"epIwI9_5rY3-vTLiFtNVo6ESpnZgcSXGLhCBTkDqQkE"}}"#
        );
        // ath computed independently:
        // printf %s an-access-token.xyz | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '='
        assert_eq!(
            Value::Object(decoded.claims).to_string(),
            r#"{"htm":"GET","htu":"https://pod.example/a/b","iat":1700000000,"jti":"jti-1","ath":"zQDo8KKAJX5tfZwM5iS-nYT92z4tQTgKXQaSuaX6Rek","nonce":"server-nonce-1"}"#
        );
    }

    #[test]
    fn a_kept_ath_gives_the_same_claims_as_the_token() {
        let key = fixed_key();
        let token = "an-access-token.xyz";
        let with_token = ProofRequest {
            method: "GET",
            url: "https://pod.example/a",
            access_token: Some(token),
            ath: None,
            nonce: None,
        };
        let ath = access_token_hash(token);
        let with_ath = ProofRequest {
            access_token: None,
            ath: Some(&ath),
            ..with_token
        };
        let claims = |r: &ProofRequest| {
            jwt::decode(&key.sign_proof(r, 1, "j").unwrap())
                .unwrap()
                .claims
        };
        assert_eq!(claims(&with_token), claims(&with_ath));
    }

    #[test]
    fn claims_set_on_one_thread_are_signed_on_another() {
        let key = fixed_key();
        let ath = access_token_hash("an-access-token.xyz");
        let claims = key
            .proof_claims("put", "https://pod.example/c?x=1", &ath, Some("n-1"))
            .unwrap();
        let signer = key.clone();
        let proof = std::thread::spawn(move || signer.sign_claims(&claims).unwrap())
            .join()
            .unwrap();
        let decoded = jwt::decode(&proof).unwrap().claims;
        assert_eq!(decoded["htm"], "PUT");
        assert_eq!(decoded["htu"], "https://pod.example/c");
        assert_eq!(decoded["ath"], Value::from(ath));
        assert_eq!(decoded["nonce"], "n-1");
        // Bad input is refused when the claims are set, before any thread is involved.
        assert_eq!(
            key.proof_claims("GE T", "https://pod.example/", "a", None),
            Err(DpopError::InvalidMethod)
        );
    }

    #[test]
    fn proof_without_token_or_nonce_has_only_the_four_claims() {
        let key = fixed_key();
        let request = ProofRequest {
            method: "POST",
            url: "https://idp.example/token",
            access_token: None,
            ath: None,
            nonce: None,
        };
        let proof = key.sign_proof(&request, 5, "j").unwrap();
        let claims = jwt::decode(&proof).unwrap().claims;
        assert_eq!(
            Value::Object(claims).to_string(),
            r#"{"htm":"POST","htu":"https://idp.example/token","iat":5,"jti":"j"}"#
        );
    }

    #[test]
    fn proof_signature_verifies_with_ring() {
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

        let key = DpopKey::generate().unwrap();
        let proof = key
            .proof("put", "http://localhost:3000/x", Some("at"), None)
            .unwrap();
        let parts: Vec<&str> = proof.split('.').collect();
        assert_eq!(parts.len(), 3);
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(signature.len(), 64);

        let header = jwt::decode(&proof).unwrap().header;
        let jwk = header["jwk"].as_object().unwrap();
        let mut point = vec![4_u8];
        point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
        let verifier = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
        verifier
            .verify(signing_input.as_bytes(), &signature)
            .unwrap();

        let mut tampered = signing_input.into_bytes();
        tampered[0] ^= 1;
        assert!(verifier.verify(&tampered, &signature).is_err());
    }

    #[test]
    fn proof_takes_time_from_the_clock_and_a_fresh_jti() {
        let key = DpopKey::generate().unwrap();
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let first = jwt::decode(&key.proof("GET", "https://a.example/", None, None).unwrap())
            .unwrap()
            .claims;
        let second = jwt::decode(&key.proof("GET", "https://a.example/", None, None).unwrap())
            .unwrap()
            .claims;
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let iat = first["iat"].as_u64().unwrap();
        assert!(before <= iat && iat <= after);
        let jti = first["jti"].as_str().unwrap();
        assert!(URL_SAFE_NO_PAD.decode(jti).unwrap().len() >= 16);
        assert_ne!(first["jti"], second["jti"]);
    }

    #[test]
    fn proof_refuses_a_method_that_is_not_a_token() {
        let key = fixed_key();
        for method in ["", "GET\r\nX: y", "GE T", "G\"ET"] {
            assert_eq!(
                key.proof(method, "https://a.example/", None, None),
                Err(DpopError::InvalidMethod)
            );
        }
    }

    #[test]
    fn htu_normalises_as_rfc_9449_says() {
        let cases = [
            ("https://some.resource", "https://some.resource/"),
            (
                "https://user:pass@Some.Resource:443/a/b?q=1#f",
                "https://some.resource/a/b",
            ),
            (
                "https://user:pass@some.resource/?query#hash",
                "https://some.resource/",
            ),
            ("http://localhost:3000/x", "http://localhost:3000/x"),
            ("HTTP://LOCALHOST:80/X", "http://localhost/X"),
            ("https://a.com//evil.com/x", "https://a.com//evil.com/x"),
            ("https://[::1]:8443/p", "https://[::1]:8443/p"),
            ("https://a.example/a b/ü", "https://a.example/a%20b/%C3%BC"),
        ];
        for (input, expected) in cases {
            assert_eq!(htu(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn htu_refuses_other_schemes_and_invalid_urls() {
        assert_eq!(
            htu("ftp://x"),
            Err(DpopError::UnsupportedScheme("ftp".to_owned()))
        );
        assert_eq!(
            htu("ftp://x").unwrap_err().to_string(),
            "DPoP proofs are made for http and https URLs only, not for \"ftp:\" ones"
        );
        assert!(matches!(htu("/relative"), Err(DpopError::InvalidUrl(_))));
        assert!(matches!(htu("https://"), Err(DpopError::InvalidUrl(_))));
        let error = htu("https://exa mple.com/?token=hunter2").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
