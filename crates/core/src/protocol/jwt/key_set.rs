//! JSON Web Key Sets: reading the body of a `jwks_uri` response into the keys that can verify
//! ES256 and RS256 signatures (the others kept only as the reason they cannot), and choosing the
//! one key a token may be checked with.

use std::cell::Cell;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::VerifyingKey;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{shorten, Algorithm, JwtError};

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3 requires 2048).
const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus ring verifies with, in bits.
const RSA_MAX_BITS: usize = 8192;
/// The most entries a key set may hold. Providers publish a handful (one per algorithm, two
/// while they rotate); the bound keeps reading a set, done on the JS thread, a matter of
/// milliseconds whatever a provider sends. A set with more is refused, not cut short: which keys
/// to keep would be a guess.
pub const MAX_KEYS: usize = 100;

/// A JSON Web Key Set, from the body of a `jwks_uri` response.
#[derive(Debug, Clone)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    /// Keys that were left out, with why, so that a token naming one gets that reason rather
    /// than "unknown kid".
    skipped: Vec<SkippedKey>,
}

#[derive(Debug, Clone)]
pub(super) struct Jwk {
    kid: Option<String>,
    /// The key's own `alg`, when it names one: it then signs with that algorithm only.
    alg: Option<Algorithm>,
    pub(super) material: KeyMaterial,
}

#[derive(Clone)]
pub(super) enum KeyMaterial {
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
    pub(super) fn candidate(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Jwk, JwtError> {
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

impl Jwk {
    fn fits(&self, alg: Algorithm) -> bool {
        let kind = match self.material {
            KeyMaterial::Ec(_) => Algorithm::Es256,
            KeyMaterial::Rsa { .. } => Algorithm::Rs256,
        };
        kind == alg && self.alg.is_none_or(|own| own == alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jwt::decode;
    use crate::protocol::jwt::test_fixtures::{
        es1, expected_claims, keys, set_of, verify, with_header, ES256, ES256_NO_KID, JWKS, RS256,
        RS256_SHORT_KEY, RS256_UNKNOWN_KID,
    };
    use serde_json::json;

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
}
