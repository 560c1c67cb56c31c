//! JSON Web Tokens: decoding, verifying signatures against a JSON Web Key Set, and checking the
//! registered claims.
//!
//! Only what ID tokens of Solid identity providers need: ES256 and RS256 signatures in compact
//! form. Errors describe what is wrong and never quote a token or a signature; values taken from
//! a token's header (an `alg`, a `kid`) are shortened before they reach a message.

use std::cell::Cell;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3 requires 2048).
const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus ring verifies with, in bits.
const RSA_MAX_BITS: usize = 8192;
/// Longest text taken from a token's header that an error message repeats.
const QUOTE_MAX_CHARS: usize = 64;
/// The most entries a key set may hold. Providers publish a handful (one per algorithm, two
/// while they rotate); the bound keeps reading a set, done on the JS thread, a matter of
/// milliseconds whatever a provider sends. A set with more is refused, not cut short: which keys
/// to keep would be a guess.
pub const MAX_KEYS: usize = 100;

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

/// A JSON Web Key Set, from the body of a `jwks_uri` response.
#[derive(Debug, Clone)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    /// Keys that were left out, with why, so that a token naming one gets that reason rather
    /// than "unknown kid".
    skipped: Vec<SkippedKey>,
}

#[derive(Debug, Clone)]
struct Jwk {
    kid: Option<String>,
    /// The key's own `alg`, when it names one: it then signs with that algorithm only.
    alg: Option<Algorithm>,
    material: KeyMaterial,
}

#[derive(Clone)]
enum KeyMaterial {
    Ec(VerifyingKey),
    /// Big-endian modulus and exponent without leading zeros, as ring wants them.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMaterial::Ec(_) => f.write_str("EC P-256"),
            KeyMaterial::Rsa { n, .. } => write!(f, "RSA {} bits", bit_length(n)),
        }
    }
}

#[derive(Debug, Clone)]
struct SkippedKey {
    kid: Option<String>,
    reason: String,
}

impl JwkSet {
    /// Parses `{"keys":[...]}`. Keys that cannot verify ES256 or RS256 signatures (another
    /// `kty` or curve, `use` other than `sig`, an RSA modulus under 2048 bits, malformed
    /// members) are skipped, not errors: a set may hold keys for other purposes. A set of more
    /// than [`MAX_KEYS`] entries is refused as soon as the entry after the last allowed is met,
    /// so the rest of the body is never read.
    pub fn parse(body: &[u8]) -> Result<Self, JwtError> {
        let problem = Cell::new(None);
        let mut reader = serde_json::Deserializer::from_slice(body);
        let entries = SetSeed { problem: &problem }
            .deserialize(&mut reader)
            .and_then(|entries| reader.end().map(|()| entries))
            .map_err(|e| {
                let reason = match problem.get() {
                    Some(reason) if !e.is_syntax() && !e.is_eof() => reason,
                    _ => "it is not a JSON object",
                };
                JwtError::InvalidKeySet(reason)
            })?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for entry in entries {
            let Ok(Value::Object(members)) = serde_json::from_str::<Value>(entry.get()) else {
                skipped.push(SkippedKey {
                    kid: None,
                    reason: "it is not a JSON object".to_owned(),
                });
                continue;
            };
            let kid = members
                .get("kid")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match parse_jwk(&members) {
                Ok((alg, material)) => keys.push(Jwk { kid, alg, material }),
                Err(reason) => skipped.push(SkippedKey { kid, reason }),
            }
        }
        Ok(Self { keys, skipped })
    }

    /// Whether the set holds a key with this `kid`, usable or not. When it does, fetching the
    /// set again will not change the outcome for a token with that `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
            || self.skipped.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The one key a token with this `kid` (if any) and algorithm may be verified with. Like
    /// the reference, a set where several keys fit is refused rather than each key tried: a
    /// token then costs one signature check, whatever the set holds.
    fn candidate(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Jwk, JwtError> {
        let Some(kid) = kid else {
            let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
            return match (fitting.next(), fitting.count()) {
                (None, _) => Err(JwtError::NoSuitableKey(alg.name())),
                (Some(key), 0) => Ok(key),
                (Some(_), more) => Err(JwtError::MultipleMatchingKeys {
                    count: more + 1,
                    what: format!("no kid, algorithm {}", alg.name()),
                }),
            };
        };
        let named: Vec<&Jwk> = self
            .keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .collect();
        if named.is_empty() {
            let skipped = self.skipped.iter().find(|k| k.kid.as_deref() == Some(kid));
            return Err(match skipped {
                Some(skipped) => JwtError::UnusableKey {
                    kid: shorten(kid),
                    reason: skipped.reason.clone(),
                },
                None => JwtError::UnknownKid(shorten(kid)),
            });
        }
        let fitting: Vec<&Jwk> = named.into_iter().filter(|k| k.fits(alg)).collect();
        match fitting[..] {
            [] => Err(JwtError::UnusableKey {
                kid: shorten(kid),
                reason: format!("it is not a key for {}", alg.name()),
            }),
            [key] => Ok(key),
            _ => Err(JwtError::MultipleMatchingKeys {
                count: fitting.len(),
                what: format!("kid \"{}\", algorithm {}", shorten(kid), alg.name()),
            }),
        }
    }
}

/// Reads the top level of a key set: its `keys` array, each entry left as raw text, and at most
/// [`MAX_KEYS`] of them. Other members are skipped unread. When the body is JSON but not a key
/// set, `problem` says why.
struct SetSeed<'p> {
    problem: &'p Cell<Option<&'static str>>,
}

impl<'de> DeserializeSeed<'de> for SetSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SetSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON Web Key Set")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Self::Value, A::Error> {
        let mut keys = None;
        while let Some(name) = members.next_key::<String>()? {
            if name == "keys" {
                // As `JSON.parse` has it, the last of repeated members counts.
                keys = Some(members.next_value_seed(KeysSeed {
                    problem: self.problem,
                })?);
            } else {
                members.next_value::<IgnoredAny>()?;
            }
        }
        keys.ok_or_else(|| {
            self.problem.set(Some(NO_KEYS_ARRAY));
            A::Error::custom(NO_KEYS_ARRAY)
        })
    }
}

const NO_KEYS_ARRAY: &str = "it has no \"keys\" array";

/// The entries of the `keys` array, refused past [`MAX_KEYS`].
struct KeysSeed<'p> {
    problem: &'p Cell<Option<&'static str>>,
}

impl<'de> DeserializeSeed<'de> for KeysSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        // Whatever fails here but the syntax is a "keys" that is not an array (or too long).
        self.problem.set(Some(NO_KEYS_ARRAY));
        let entries = deserializer.deserialize_seq(KeysSeed {
            problem: self.problem,
        })?;
        self.problem.set(None);
        Ok(entries)
    }
}

impl<'de> Visitor<'de> for KeysSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of JSON Web Keys")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::new();
        while let Some(entry) = entries.next_element::<&'de RawValue>()? {
            if kept.len() == MAX_KEYS {
                self.problem.set(Some(TOO_MANY_KEYS));
                return Err(A::Error::custom(TOO_MANY_KEYS));
            }
            kept.push(entry);
        }
        Ok(kept)
    }
}

const TOO_MANY_KEYS: &str = "it holds more than 100 keys";

/// The algorithm restriction and public material of one JWK, or why it cannot be used.
fn parse_jwk(members: &Map<String, Value>) -> Result<(Option<Algorithm>, KeyMaterial), String> {
    if members.contains_key("kid") && !members.get("kid").is_some_and(Value::is_string) {
        return Err("its \"kid\" is not a string".to_owned());
    }
    if let Some(key_use) = members.get("use") {
        if key_use.as_str() != Some("sig") {
            return Err("it is not a signature key (\"use\" is not \"sig\")".to_owned());
        }
    }
    if let Some(ops) = members.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return Err("its \"key_ops\" do not include \"verify\"".to_owned());
        }
    }
    let alg = match members.get("alg") {
        None => None,
        Some(alg) => match alg.as_str().and_then(Algorithm::from_name) {
            Some(alg) => Some(alg),
            None => return Err("its \"alg\" is neither ES256 nor RS256".to_owned()),
        },
    };
    let material = match members.get("kty").and_then(Value::as_str) {
        Some("EC") => {
            if members.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Err("it is an EC key on a curve other than P-256".to_owned());
            }
            let mut point = vec![0x04];
            point.extend(coordinate(members, "x")?);
            point.extend(coordinate(members, "y")?);
            VerifyingKey::from_sec1_bytes(&point)
                .map(KeyMaterial::Ec)
                .map_err(|_| "its \"x\" and \"y\" are not a point on P-256".to_owned())?
        }
        Some("RSA") => {
            let n = big_endian_integer(members, "n")?;
            let e = big_endian_integer(members, "e")?;
            let bits = bit_length(&n);
            if bits < RSA_MIN_BITS {
                return Err(format!(
                    "its RSA modulus has {bits} bits, at least {RSA_MIN_BITS} are required"
                ));
            }
            if bits > RSA_MAX_BITS {
                return Err(format!(
                    "its RSA modulus has {bits} bits, at most {RSA_MAX_BITS} are supported"
                ));
            }
            KeyMaterial::Rsa { n, e }
        }
        _ => return Err("its \"kty\" is neither EC nor RSA".to_owned()),
    };
    let kind_matches = match material {
        KeyMaterial::Ec(_) => alg != Some(Algorithm::Rs256),
        KeyMaterial::Rsa { .. } => alg != Some(Algorithm::Es256),
    };
    if !kind_matches {
        return Err("its \"alg\" does not fit its \"kty\"".to_owned());
    }
    Ok((alg, material))
}

fn coordinate(members: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let bytes = base64_member(members, name)?;
    if bytes.len() == 32 {
        Ok(bytes)
    } else {
        Err(format!("its \"{name}\" is not 32 bytes long"))
    }
}

fn big_endian_integer(members: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let bytes = base64_member(members, name)?;
    // RFC 7518 forbids leading zero octets, yet some servers send one to mark the number as
    // positive; it changes nothing, and ring refuses it.
    let significant = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    if significant == bytes.len() {
        return Err(format!("its \"{name}\" is zero"));
    }
    Ok(bytes[significant..].to_vec())
}

fn base64_member(members: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = members
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("its \"{name}\" is missing or not a string"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("its \"{name}\" is not base64url"))
}

/// Bits in a big-endian integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(&first) => bytes.len() * 8 - first.leading_zeros() as usize,
    }
}

impl UnverifiedJwt {
    /// The `kid` of the header, when it is a string.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

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
    fn fits(&self, alg: Algorithm) -> bool {
        let kind = match self.material {
            KeyMaterial::Ec(_) => Algorithm::Es256,
            KeyMaterial::Rsa { .. } => Algorithm::Rs256,
        };
        kind == alg && self.alg.is_none_or(|own| own == alg)
    }

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

/// Text from a token, cut short so that a crafted header cannot flood a message or a log.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(QUOTE_MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Checks the registered claims of a verified token: `iss` equals `issuer` exactly; `aud` (a
/// string or an array of strings) contains `audience`; `exp` is present and in the future; `nbf`
/// and `iat`, when present, are not in the future. Each time comparison allows `skew_seconds`.
///
/// `exp` is required: OpenID Connect requires it in ID tokens, and a token that never expires
/// is not one to accept.
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now_seconds: u64,
    skew_seconds: u64,
) -> Result<(), JwtError> {
    match claims.get("iss") {
        None => return Err(JwtError::MissingClaim("iss")),
        Some(Value::String(iss)) if iss == issuer => {}
        Some(Value::String(iss)) => {
            return Err(JwtError::UnexpectedIssuer {
                expected: issuer.to_owned(),
                found: shorten(iss),
            })
        }
        Some(_) => {
            return Err(JwtError::InvalidClaim {
                claim: "iss",
                reason: "it is not a string",
            })
        }
    }

    let audience_listed = match claims.get("aud") {
        None => return Err(JwtError::MissingClaim("aud")),
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) if auds.iter().all(Value::is_string) => {
            auds.iter().any(|aud| aud.as_str() == Some(audience))
        }
        Some(_) => {
            return Err(JwtError::InvalidClaim {
                claim: "aud",
                reason: "it is neither a string nor an array of strings",
            })
        }
    };
    if !audience_listed {
        return Err(JwtError::UnexpectedAudience {
            expected: audience.to_owned(),
        });
    }

    let now = as_f64(now_seconds);
    let skew = as_f64(skew_seconds);
    let (exp, exp_seconds) = numeric_date(claims, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
    if exp_seconds + skew <= now {
        return Err(JwtError::Expired {
            exp,
            now: now_seconds,
            skew: skew_seconds,
        });
    }
    if let Some((nbf, nbf_seconds)) = numeric_date(claims, "nbf")? {
        if nbf_seconds > now + skew {
            return Err(JwtError::NotYetValid {
                nbf,
                now: now_seconds,
                skew: skew_seconds,
            });
        }
    }
    if let Some((iat, iat_seconds)) = numeric_date(claims, "iat")? {
        if iat_seconds > now + skew {
            return Err(JwtError::IssuedInFuture {
                iat,
                now: now_seconds,
                skew: skew_seconds,
            });
        }
    }
    Ok(())
}

/// A `NumericDate` claim (RFC 7519 §2: seconds, possibly fractional), when present: the number as
/// written, for messages, and its value, for comparisons.
fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<(Number, f64)>, JwtError> {
    let not_a_number = JwtError::InvalidClaim {
        claim,
        reason: "it is not a number",
    };
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(seconds) => Ok(Some((n.clone(), seconds))),
            None => Err(not_a_number),
        },
        Some(_) => Err(not_a_number),
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "times in seconds stay far below 2^53, where every integer is an exact f64"
)]
fn as_f64(seconds: u64) -> f64 {
    seconds as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Fixtures made once by Node 20 (`crypto.generateKeyPairSync` and `crypto.sign`, with
    // `dsaEncoding: "ieee-p1363"` for ES256). The set holds, in order: an Ed25519 key, an RSA
    // encryption key, the ES256 key "es-1", the 2048-bit RS256 key "rs-1" and a 1024-bit RSA key
    // "rs-short". Every token carries the same claims.
    const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed-1"},{"kty":"RSA","n":"otjd_eLaQskwJhx5lkHHGA1hkozpSpFEjnwYuUB-OO947iBgD0ejjbs8VHr9_ASZGD_2QnS0uI9JIgpNocqj_lvJTglsvDWTo41Ke4V-Dejgoja_3GkdojvBcAEJCMCAWWTmjaWHCvi7LRiCg5wmtXZy6I6Urgir4qpTv6NX5tWz0gbYQo4Q2_5q9pz-zEOCq3V7cj7F_SA2vVccivihYzhoHA-bV7ZvE2PbCRmA87kzmlqQGyJBU8-tK2FrjN3lUW92hOGvB3mn42R4mVl4c_BysaW0lQd0sdTY1DyAFstu9j0DoKxP0fVyCsOW2dW5WV_OPym_qXQIpKMoM0RmyQ","e":"AQAB","kid":"rs-enc","use":"enc","alg":"RSA-OAEP"},{"kty":"EC","x":"m2AFACI_cVegpClxrN7Qh6jQ9u5NExPVfPGM80RRltk","y":"zOl_tk6CWg3Ga7wG5ma2FbNInwTC190_F-QJuok4azE","crv":"P-256","kid":"es-1","use":"sig","alg":"ES256"},{"kty":"RSA","n":"otjd_eLaQskwJhx5lkHHGA1hkozpSpFEjnwYuUB-OO947iBgD0ejjbs8VHr9_ASZGD_2QnS0uI9JIgpNocqj_lvJTglsvDWTo41Ke4V-Dejgoja_3GkdojvBcAEJCMCAWWTmjaWHCvi7LRiCg5wmtXZy6I6Urgir4qpTv6NX5tWz0gbYQo4Q2_5q9pz-zEOCq3V7cj7F_SA2vVccivihYzhoHA-bV7ZvE2PbCRmA87kzmlqQGyJBU8-tK2FrjN3lUW92hOGvB3mn42R4mVl4c_BysaW0lQd0sdTY1DyAFstu9j0DoKxP0fVyCsOW2dW5WV_OPym_qXQIpKMoM0RmyQ","e":"AQAB","kid":"rs-1","use":"sig","alg":"RS256"},{"kty":"RSA","n":"kuSNru5yZ3QAmHmDhLGa4Y51zeKsXpWMU9UK792bN-qoPgtdyHaGJ4AgovlhiqmpMBA0fiqFlhoS98ZVyTFIgGLecNL1AxFasrnDkfMp6HT5-yjVOZb_O7Ee8tFNE3WmBn6VnNNx9VoSNCGuk3QpuOLX7XpixO3HV59jxWme3zs","e":"AQAB","kid":"rs-short"}]}"#;
    const ES256: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.HWX0cYWl6EkC1u5QspTd6fD70eLYFE8GfHjcwZ25pg1wWmSlG5W4TCfuRpvcX2Y7dZda2twzKNi4lE3hxoh3nQ";
    const ES256_NO_KID: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.E94hbmvlxw2PSmG9-9XNel50rX8R63OOL20EjuF95z6LC6E030f9ICn9bUHQCaDIvZWYLIfBh7UPCMCZ7Z8Xmw";
    const RS256: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzLTEifQ.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.Rjbrg_GS8HCxR-nxJWV2WRFe-2mFxd0gpzuE0wieiB6nsSkGnwK9MK1BVsdz8LRUwOJySkKGDGRtYsnMkaLQCMsVxeiDA7LKIxEqSIx31_brvneKmlMIG8GbC-KJdPSdV2W5_O1vNfXsrqmNBB69skA_2hPaN19fjXh5g20ZZ-NekOmY7S2gcdE466pvsMR1BxP6OkeIeNVhipGQ2yoBRmDOMNC1KrvxzlpcnpXettYOUDVylUY0CEWCCS1_ZhaZIK0maE6TBEv4jgdIQMj0PQ2Xq5JLrnanT6bkNU0do7s13I_j7nTB0dWxNFCDFwS3aZhIDCBNw4p2JwZITKv5Hw";
    const RS256_NO_KID: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.jgNhPPJwEjmLKxyQiRZnLWpnjIYiTlKgyukjHJrpjhjcBYmEddoa8GParPxiX6tzquM-h0LyyxwfGZN1LHqW9lry1cL2-eeg5zLTRuNkFk8Z1gX-8z8vLpCbkYqhH8ByLfVFgOj9Y2wR4t6VDbJ4iTrWH1d_6HpnICfifBmrxVkbtEOYgIj_Ols2xVmIMNYDCm7sZ_Irfv0ynZ8YGq1DgKhDPiYIsuqkvVn6piuTXT8u_1fNOwLrMDEdI58f3B-IfGjDAUMeW2oEcHuaa6rStmaNDRwkw5_4Au8BUb6CVT2vT7EsUr7e_5lHAJsNUcH3pNXPCpVNsLMWN0yYS20ZjA";
    const RS256_SHORT_KEY: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzLXNob3J0In0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.fwTYQZ4bIflQicQgXrowvqP04-HFV8WsVqEGPXC9uVOKiaTKXSBQR5YQbu8TooMjvfHiP2-Mh9ZeOnQ1KmRG7bs95TthmV8sOxrRtFr2lh29RbbbMRUaccrx1lWY5PXLduAzw5rqIeSJ4osDWmYRkr2KkrHHfRY4ueaSPykwvD8";
    const RS256_UNKNOWN_KID: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzLTIifQ.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBwLmV4YW1wbGUvaWQiLCJzdWIiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwid2ViaWQiOiJodHRwczovL2FsaWNlLmV4YW1wbGUvcHJvZmlsZS9jYXJkI21lIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.CF6sHmqoj0dayfdXQBbm-KJhHLqGNKeo7J6MhFzpgyaq7EfvDL90VLiaXuS0kKQNGuQuQcWTi0k7dgh8ErlL9dGsmDo3IbB1qotQbSQPH8XAHUd-EMdJjgk3lMYpmJ_HwaSqVNzxxKtSn_x4gGjBE6ZtpgW0N1uLObuo-CJDGGHgcnLiboUJMXaYGpVwCsOmdi201j9rqjVkV_IHAJN1FoIeXgP9mP63RFCgdGFslhy5QU10vqEqbONtBNQgo68KLksJ3aE_hXEDVlqGUv5Zv2p4qfqd40Fvvy9B3xNqoDFMzgRosc2x2o_dSs3PHUdKlfwUxjJkz1SeVqB2E4Ve1Q";

    fn keys() -> JwkSet {
        JwkSet::parse(JWKS.as_bytes()).unwrap()
    }

    fn expected_claims() -> Map<String, Value> {
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

    fn b64(json: &Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// The token with its header replaced; the signature stays that of the original.
    fn with_header(token: &str, header: &Value) -> String {
        let rest = token.split_once('.').unwrap().1;
        format!("{}.{rest}", b64(header))
    }

    fn verify(token: &str) -> Result<Map<String, Value>, JwtError> {
        decode(token).unwrap().verify(&keys())
    }

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
    fn an_unknown_kid_is_refused() {
        assert_eq!(
            verify(RS256_UNKNOWN_KID).unwrap_err(),
            JwtError::UnknownKid("rs-2".into())
        );
        assert!(!keys().has_kid("rs-2"));
    }

    #[test]
    fn a_key_of_another_algorithm_is_refused() {
        // The header names the ES256 key, but says RS256: the RSA signature must not be
        // checked against it, nor against another key.
        let token = with_header(RS256, &json!({"alg": "RS256", "kid": "es-1"}));
        assert_eq!(
            verify(&token).unwrap_err(),
            JwtError::UnusableKey {
                kid: "es-1".into(),
                reason: "it is not a key for RS256".into()
            }
        );
        let token = with_header(ES256, &json!({"alg": "ES256", "kid": "rs-1"}));
        assert!(matches!(verify(&token), Err(JwtError::UnusableKey { .. })));
    }

    #[test]
    fn a_too_short_rsa_key_is_refused() {
        let error = verify(RS256_SHORT_KEY).unwrap_err();
        assert_eq!(
            error,
            JwtError::UnusableKey {
                kid: "rs-short".into(),
                reason: "its RSA modulus has 1024 bits, at least 2048 are required".into()
            }
        );
        assert!(keys().has_kid("rs-short"));
        // Without its kid, the token finds no other key that verifies it.
        let token = with_header(RS256_SHORT_KEY, &json!({"alg": "RS256"}));
        assert_eq!(verify(&token).unwrap_err(), JwtError::BadSignature);
    }

    #[test]
    fn an_encryption_key_is_skipped() {
        let token = with_header(RS256, &json!({"alg": "RS256", "kid": "rs-enc"}));
        assert_eq!(
            verify(&token).unwrap_err(),
            JwtError::UnusableKey {
                kid: "rs-enc".into(),
                reason: "it is not a signature key (\"use\" is not \"sig\")".into()
            }
        );
    }

    #[test]
    fn key_set_parse_skips_what_it_cannot_use() {
        let set = keys();
        assert_eq!(set.keys.len(), 2);
        for kid in ["ed-1", "rs-enc", "es-1", "rs-1", "rs-short"] {
            assert!(set.has_kid(kid), "{kid}");
        }
        let set =
            JwkSet::parse(br#"{"keys":[1,{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#).unwrap();
        assert!(set.keys.is_empty());
        assert_eq!(
            decode(ES256).unwrap().verify(&set).unwrap_err(),
            JwtError::UnknownKid("es-1".into())
        );
        assert_eq!(
            decode(ES256_NO_KID).unwrap().verify(&set).unwrap_err(),
            JwtError::NoSuitableKey("ES256")
        );
    }

    /// The ES256 key "es-1" of `JWKS`, with `kid` (or none) and `alg`.
    fn es1(kid: Option<&str>) -> Value {
        let set: Value = serde_json::from_str(JWKS).unwrap();
        let mut key = set["keys"][2].clone();
        let members = key.as_object_mut().unwrap();
        members.remove("kid");
        if let Some(kid) = kid {
            members.insert("kid".into(), kid.into());
        }
        key
    }

    fn set_of(keys: &[Value]) -> JwkSet {
        JwkSet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_set_where_several_keys_fit_the_token_is_refused_without_trying_them() {
        // Two copies of the signing key: even the right signature is refused, as the reference
        // does, since which key to use is ambiguous.
        let twice = set_of(&[es1(Some("es-1")), es1(Some("es-1"))]);
        let error = decode(ES256).unwrap().verify(&twice).unwrap_err();
        assert_eq!(
            error,
            JwtError::MultipleMatchingKeys {
                count: 2,
                what: "kid \"es-1\", algorithm ES256".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "the JSON Web Key Set has 2 keys that fit this JWT (kid \"es-1\", algorithm ES256), where one is expected"
        );
        let no_kids = set_of(&[es1(None), es1(None), es1(None)]);
        assert_eq!(
            decode(ES256_NO_KID).unwrap().verify(&no_kids).unwrap_err(),
            JwtError::MultipleMatchingKeys {
                count: 3,
                what: "no kid, algorithm ES256".into()
            }
        );
        // Keys that do not fit the header are not candidates: one EC key beside RSA keys of the
        // same kid, or beside keys without a kid for a token that names one.
        let mut rsa: Value = serde_json::from_str(JWKS).unwrap();
        let mut rsa = rsa["keys"][3].take();
        rsa["kid"] = "es-1".into();
        let mixed = set_of(&[rsa.clone(), es1(Some("es-1")), rsa, es1(None)]);
        assert_eq!(
            decode(ES256).unwrap().verify(&mixed).unwrap(),
            expected_claims()
        );
        let one = set_of(&[es1(None)]);
        assert_eq!(
            decode(ES256_NO_KID).unwrap().verify(&one).unwrap(),
            expected_claims()
        );
    }

    #[test]
    fn a_set_of_more_than_max_keys_is_refused_unread_past_the_limit() {
        let keys = vec![es1(Some("es-1")); MAX_KEYS];
        assert_eq!(set_of(&keys).keys.len(), MAX_KEYS);
        let mut body = json!({ "keys": vec![es1(None); MAX_KEYS + 1] }).to_string();
        assert_eq!(
            JwkSet::parse(body.as_bytes()).unwrap_err(),
            JwtError::InvalidKeySet("it holds more than 100 keys")
        );
        assert!(TOO_MANY_KEYS.contains(&MAX_KEYS.to_string()));
        // Past the limit nothing is read: not even the syntax error that ends this body.
        body.truncate(body.len() - 2);
        body.push_str(",{oops");
        assert_eq!(
            JwkSet::parse(body.as_bytes()).unwrap_err(),
            JwtError::InvalidKeySet("it holds more than 100 keys")
        );
        // The 1.5 MB set of the probe (12,000 copies of one key) is refused in a moment.
        let hostile = json!({ "keys": vec![es1(Some("k")); 12_000] }).to_string();
        let started = std::time::Instant::now();
        assert!(JwkSet::parse(hostile.as_bytes()).is_err());
        assert!(
            started.elapsed() < std::time::Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn members_beside_keys_are_skipped_and_the_last_keys_member_counts() {
        let body = format!(
            r#"{{"keys":[1,2],"other":{{"deep":[[[{{}}]]]}},"keys":[{}]}}"#,
            es1(Some("es-1"))
        );
        let set = JwkSet::parse(body.as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(set.skipped.is_empty());
        for (body, reason) in [
            (r#"{"keys":{}}"#, NO_KEYS_ARRAY),
            (r#"{"keys":[],"x":}"#, "it is not a JSON object"),
            (r#"{"keys":[]} trailing"#, "it is not a JSON object"),
            ("[]", "it is not a JSON object"),
            (r#"{"other":[]}"#, NO_KEYS_ARRAY),
        ] {
            assert_eq!(
                JwkSet::parse(body.as_bytes()).unwrap_err(),
                JwtError::InvalidKeySet(reason),
                "{body}"
            );
        }
    }

    #[test]
    fn key_set_parse_refuses_what_is_not_a_set() {
        for body in [&b"not json"[..], b"[]", b"{}", br#"{"keys":{}}"#] {
            assert!(
                matches!(JwkSet::parse(body), Err(JwtError::InvalidKeySet(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(JwkSet::parse(br#"{"keys":[]}"#).unwrap().keys.is_empty());
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

    const NOW: u64 = 1_700_000_000;

    fn claims(value: &Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn check(value: &Value, skew: u64) -> Result<(), JwtError> {
        check_claims(
            &claims(value),
            "https://idp.example/",
            "https://app.example/id",
            NOW,
            skew,
        )
    }

    #[test]
    fn claims_that_fit_pass() {
        let ok = json!({"iss": "https://idp.example/", "aud": "https://app.example/id", "exp": NOW + 60, "iat": NOW, "nbf": NOW});
        assert_eq!(check(&ok, 0), Ok(()));
        let ok = json!({"iss": "https://idp.example/", "aud": ["solid", "https://app.example/id"], "exp": NOW + 1});
        assert_eq!(check(&ok, 0), Ok(()));
        assert_eq!(check(&Value::Object(expected_claims()), 0), Ok(()));
    }

    #[test]
    fn iss_must_match_exactly() {
        let wrong =
            json!({"iss": "https://idp.example", "aud": "https://app.example/id", "exp": NOW + 60});
        let error = check(&wrong, 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unexpected \"iss\" claim value \"https://idp.example\": expected \"https://idp.example/\""
        );
        let missing = json!({"aud": "https://app.example/id", "exp": NOW + 60});
        assert_eq!(check(&missing, 0), Err(JwtError::MissingClaim("iss")));
        let number = json!({"iss": 1, "aud": "https://app.example/id", "exp": NOW + 60});
        assert!(matches!(
            check(&number, 0),
            Err(JwtError::InvalidClaim { claim: "iss", .. })
        ));
    }

    #[test]
    fn aud_may_be_a_string_or_an_array() {
        let base = |aud: Value| json!({"iss": "https://idp.example/", "aud": aud, "exp": NOW + 60});
        let unexpected_error = JwtError::UnexpectedAudience {
            expected: "https://app.example/id".into(),
        };
        let unexpected = Err(unexpected_error.clone());
        assert_eq!(check(&base(json!("https://app.example/id")), 0), Ok(()));
        assert_eq!(check(&base(json!(["https://app.example/id"])), 0), Ok(()));
        assert_eq!(
            check(&base(json!("https://other.example/id")), 0),
            unexpected
        );
        assert_eq!(check(&base(json!(["a", "b"])), 0), unexpected);
        assert_eq!(check(&base(json!([])), 0), unexpected);
        assert_eq!(
            check(&base(json!("https://app.example/id/")), 0),
            unexpected
        );
        assert!(matches!(
            check(&base(json!(["https://app.example/id", 3])), 0),
            Err(JwtError::InvalidClaim { claim: "aud", .. })
        ));
        assert!(matches!(
            check(&base(json!({"aud": "https://app.example/id"})), 0),
            Err(JwtError::InvalidClaim { claim: "aud", .. })
        ));
        let missing = json!({"iss": "https://idp.example/", "exp": NOW + 60});
        assert_eq!(check(&missing, 0), Err(JwtError::MissingClaim("aud")));
        assert_eq!(
            unexpected_error.to_string(),
            "unexpected \"aud\" claim value: it does not contain \"https://app.example/id\""
        );
    }

    #[test]
    fn exp_is_required_and_checked_with_skew() {
        let with_exp = |exp: Value| json!({"iss": "https://idp.example/", "aud": "https://app.example/id", "exp": exp});
        assert_eq!(
            check(&with_exp(json!(NOW)), 0),
            Err(JwtError::Expired {
                exp: NOW.into(),
                now: NOW,
                skew: 0
            })
        );
        assert_eq!(check(&with_exp(json!(NOW - 30)), 60), Ok(()));
        assert_eq!(
            check(&with_exp(json!(NOW - 60)), 60),
            Err(JwtError::Expired {
                exp: (NOW - 60).into(),
                now: NOW,
                skew: 60
            })
        );
        assert_eq!(
            check(&with_exp(json!(NOW - 61)), 60)
                .unwrap_err()
                .to_string(),
            "the JWT expired at 1699999939 (now 1700000000, tolerance 60 s)"
        );
        assert_eq!(check(&with_exp(json!(1_700_000_000.5)), 0), Ok(()));
        assert!(matches!(
            check(&with_exp(json!("4102444800")), 0),
            Err(JwtError::InvalidClaim { claim: "exp", .. })
        ));
        let missing = json!({"iss": "https://idp.example/", "aud": "https://app.example/id"});
        assert_eq!(check(&missing, 0), Err(JwtError::MissingClaim("exp")));
    }

    #[test]
    fn nbf_and_iat_must_not_be_in_the_future() {
        let with = |name: &str, value: u64| {
            let mut c = json!({"iss": "https://idp.example/", "aud": "https://app.example/id", "exp": NOW + 3600});
            c[name] = value.into();
            c
        };
        assert_eq!(
            check(&with("nbf", NOW + 1), 0),
            Err(JwtError::NotYetValid {
                nbf: (NOW + 1).into(),
                now: NOW,
                skew: 0
            })
        );
        assert_eq!(check(&with("nbf", NOW + 30), 60), Ok(()));
        assert!(matches!(
            check(&with("nbf", NOW + 61), 60),
            Err(JwtError::NotYetValid { .. })
        ));
        assert_eq!(check(&with("nbf", NOW), 0), Ok(()));
        assert_eq!(
            check(&with("iat", NOW + 1), 0),
            Err(JwtError::IssuedInFuture {
                iat: (NOW + 1).into(),
                now: NOW,
                skew: 0
            })
        );
        assert_eq!(check(&with("iat", NOW + 60), 60), Ok(()));
        assert!(matches!(
            check(
                &json!({"iss": "https://idp.example/", "aud": "https://app.example/id", "exp": NOW + 60, "nbf": null}),
                0
            ),
            Err(JwtError::InvalidClaim { claim: "nbf", .. })
        ));
    }
}
