//! DPoP (RFC 9449): the session's ES256 key and the proofs it signs.
//!
//! The key is kept in the two JSON strings the reference writes into a session record
//! (`publicKey` and `privateKey`), so sessions move between this package and the reference in
//! both directions.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::sync::Arc;

use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::SecretKey;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::secret::Secret;

/// Length in bytes of a P-256 coordinate and of a P-256 private scalar.
const FIELD_LEN: usize = 32;

/// Random bytes in a proof's `jti`: as many as openid-client uses at the token endpoint, well
/// above the 96 bits RFC 9449 asks for.
const JTI_LEN: usize = 32;

/// A random 32-byte string is a valid P-256 scalar unless it is zero or at least the group
/// order, which happens with probability below 2^-32; a run of failures means a broken source.
const KEYGEN_ATTEMPTS: usize = 8;

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

/// An ES256 (P-256) key pair that signs DPoP proofs.
///
/// Signing and importing use ring (a proof is signed on the JS thread for every request, and a
/// key is imported on every restore: p256 took ~225 µs to sign and ~290 µs to import, ring about
/// a tenth of that); p256 only makes new keys, because ring does not hand out the private
/// scalar that the reference's storage format needs.
#[derive(Clone)]
pub struct DpopKey {
    pair: Arc<EcdsaKeyPair>,
    /// The proof's JWS header, base64url-encoded: the same for every proof of this key.
    encoded_header: Arc<str>,
    /// The private scalar, for `private_jwk_json`.
    d: Zeroizing<[u8; FIELD_LEN]>,
    /// base64url of the public point's coordinates, computed once: every proof carries them.
    x: String,
    y: String,
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

    /// The key as the reference stores it in a session record: `publicKey` is the JSON of the
    /// public JWK `{"kty":"EC","crv":"P-256","x":..,"y":..,"alg":"ES256"}`, `privateKey` the
    /// JSON of `{"kty":"EC","crv":"P-256","x":..,"y":..,"d":..}`.
    ///
    /// Member order does not matter, and members this module does not use are ignored, as
    /// RFC 7517 §4 asks (Web Crypto exports add `ext` and `key_ops`). An `alg` other than ES256, a
    /// curve other than P-256, or coordinates that are not those of `d` are refused.
    pub fn from_stored(public_key_json: &str, private_key_json: &str) -> Result<Self, DpopError> {
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

    /// [`DpopKey::proof`] for a caller that keeps the token's `ath` ([`access_token_hash`]):
    /// hashing a token for every request is work a session does once.
    pub fn proof_with_ath(
        &self,
        method: &str,
        url: &str,
        ath: &str,
        nonce: Option<&str>,
    ) -> Result<String, DpopError> {
        self.proof_for(method, url, None, Some(ath), nonce)
    }

    fn proof_for(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        ath: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, DpopError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| DpopError::Clock)?
            .as_secs();
        let mut jti = [0_u8; JTI_LEN];
        getrandom::fill(&mut jti).map_err(|e| DpopError::Random(e.to_string()))?;
        let request = ProofRequest {
            method,
            url,
            access_token,
            ath,
            nonce,
        };
        self.sign_proof(&request, iat, &URL_SAFE_NO_PAD.encode(jti))
    }

    /// The signing core of [`DpopKey::proof`], with the time and `jti` given so that tests can
    /// check exact claims.
    fn sign_proof(&self, request: &ProofRequest, iat: u64, jti: &str) -> Result<String, DpopError> {
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
        let signing_input = format!("{}.{}", self.encoded_header, URL_SAFE_NO_PAD.encode(claims));
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

    /// The key of scalar `d` and uncompressed SEC1 point `point` (0x04 || x || y); `None` when
    /// they are not a P-256 key pair.
    fn from_parts(d: &[u8], point: &[u8]) -> Option<Self> {
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

    fn has_point(&self, x: &[u8], y: &[u8]) -> bool {
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
/// The `ath` claim for an access token: base64url of its SHA-256.
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
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
    use crate::protocol::jwt;

    /// A P-256 key made by Node's `crypto.generateKeyPairSync("ec", {namedCurve: "P-256"})`,
    /// exported as a JWK; its thumbprint was computed by Node over the canonical JSON.
    const FIXED_PRIVATE: &str = r#"{"kty":"EC","x":"A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8HnIY","y":"epIwI9_5rY3-vTLiFtNVo6ESpnZgcSXGLhCBTkDqQkE","crv":"P-256","d":"yJTRFQ_D5g4F7C_Doss17iuNAu9VqsW4UDVzTJIed1g"}"#;
    const FIXED_PUBLIC: &str = r#"{"crv":"P-256","alg":"ES256","y":"epIwI9_5rY3-vTLiFtNVo6ESpnZgcSXGLhCBTkDqQkE","kty":"EC","x":"A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8HnIY"}"#;
    const FIXED_D: &str = "yJTRFQ_D5g4F7C_Doss17iuNAu9VqsW4UDVzTJIed1g";
    const FIXED_THUMBPRINT: &str = "T3iokurJUIgmYdEjLMOAaxFBU14T5He80qeR7Ek0Its";

    fn fixed_key() -> DpopKey {
        DpopKey::from_stored(FIXED_PUBLIC, FIXED_PRIVATE).unwrap()
    }

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
