//! Property tests of DPoP: `htu` normalisation, stored keys (`DpopKey::from_stored`), and proofs.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::protocol::dpop::{access_token_hash, htu, DpopError, DpopKey};
use crate::protocol::jwt::{decode, JwkSet};
use crate::tests::property_support::{b64, config, js_units, leaks, url, value, Json, SECRET};

/// A key made once, its two stored members, and its `d`.
fn stored() -> &'static (DpopKey, String, String, String) {
    static KEY: OnceLock<(DpopKey, String, String, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = DpopKey::generate().unwrap();
        let public = key.public_jwk_json();
        let private = key.private_jwk_json().expose().to_owned();
        let d = serde_json::from_str::<Value>(&private).unwrap()["d"]
            .as_str()
            .unwrap()
            .to_owned();
        (key, public, private, d)
    })
}

/// One change to the members of a stored key.
#[derive(Clone, Debug)]
enum Change {
    Remove(&'static str),
    Set(&'static str, Json),
    Add(Vec<u16>, Json),
}

const MEMBERS: &[&str] = &["kty", "crv", "x", "y", "d", "alg", "ext", "key_ops"];

fn change() -> impl Strategy<Value = Change> {
    use prop::sample::select;
    const WORDS: &[&str] = &[
        "EC", "RSA", "P-256", "P-384", "ES256", "ES384", "AA==", "!", "+/", "",
    ];
    let replacement = prop_oneof![
        3 => value(),
        2 => select(WORDS).prop_map(Json::str),
        2 => prop::collection::vec(any::<u8>(), 0..48).prop_map(|b| Json::str(&b64(b))),
        1 => Just(Json::str(&b64([0_u8; 32]))),
        1 => Just(Json::str(&b64([0xff_u8; 32]))),
    ];
    prop_oneof![
        select(MEMBERS).prop_map(Change::Remove),
        (select(MEMBERS), replacement).prop_map(|(name, value)| Change::Set(name, value)),
        (js_units(3), value()).prop_map(|(name, value)| Change::Add(name, value)),
    ]
}

/// A stored member (JSON text) with changes made to it, then perhaps edited as text.
fn changed(json: &str, changes: &[Change]) -> String {
    let fields: serde_json::Map<String, Value> = serde_json::from_str(json).unwrap();
    let mut members: Vec<(Vec<u16>, Json)> = fields
        .iter()
        .map(|(name, value)| {
            (
                name.encode_utf16().collect(),
                Json::str(value.as_str().unwrap()),
            )
        })
        .collect();
    for change in changes {
        match change {
            Change::Remove(name) => {
                let name: Vec<u16> = name.encode_utf16().collect();
                members.retain(|(n, _)| *n != name);
            }
            Change::Set(name, value) => {
                let name: Vec<u16> = name.encode_utf16().collect();
                match members.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = value.clone(),
                    None => members.push((name, value.clone())),
                }
            }
            Change::Add(name, value) => members.push((name.clone(), value.clone())),
        }
    }
    Json::Obj(members).text()
}

fn method() -> impl Strategy<Value = String> {
    const METHODS: &[&str] = &[
        "GET",
        "get",
        "POST",
        "PaTcH",
        "M-SEARCH",
        "",
        "GE T",
        "G\r\nX: y",
        "G\"ET",
        "ÉT",
    ];
    prop_oneof![
        3 => prop::sample::select(METHODS).prop_map(str::to_owned),
        1 => "[!-~]{1,8}",
        1 => "(?s).{0,8}",
    ]
}

proptest! {
    #![proptest_config(config(1))]

    /// `htu` gives an http(s) URL without query, fragment or userinfo, which it leaves as it
    /// is; a query or fragment changes nothing; a refusal quotes nothing of the URL.
    #[test]
    fn htu_normalises_idempotently(url in url()) {
        match htu(&url) {
            Ok(normal) => {
                let http = normal.starts_with("http://") || normal.starts_with("https://");
                prop_assert!(http, "{normal}");
                prop_assert!(!normal.contains('?') && !normal.contains('#'), "{normal}");
                prop_assert!(!leaks(&normal), "{normal}");
                prop_assert_eq!(htu(&normal), Ok(normal.clone()));
                prop_assert_eq!(htu(&format!("{url}?q=1#f")), Ok(normal.clone()));
            }
            Err(e) => {
                let typed =
                    matches!(e, DpopError::InvalidUrl(_) | DpopError::UnsupportedScheme(_));
                prop_assert!(typed, "{e:?}");
                prop_assert!(!leaks(&e.to_string()), "{e}");
            }
        }
    }

    /// A stored key with changed members loads as the same key or is refused, and no refusal
    /// quotes its `d`.
    #[test]
    fn stored_keys_load_or_are_refused_without_d(
        public_changes in prop::collection::vec(change(), 0..3),
        private_changes in prop::collection::vec(change(), 0..3),
        swap in any::<bool>(),
        cuts in proptest::option::weighted(0.3, prop::collection::vec(any::<Index>(), 1..3)),
    ) {
        let (key, public, private, d) = stored();
        let mut public_text = changed(public, &public_changes);
        let mut private_text = changed(private, &private_changes);
        if swap {
            std::mem::swap(&mut public_text, &mut private_text);
        }
        if let Some(cuts) = cuts {
            for cut in cuts {
                let mut at = cut.index(private_text.len() + 1);
                while !private_text.is_char_boundary(at) {
                    at -= 1;
                }
                private_text.truncate(at);
            }
        }
        match DpopKey::from_stored(&public_text, &private_text) {
            Ok(loaded) => prop_assert_eq!(loaded.public_jwk_json(), key.public_jwk_json()),
            Err(e) => {
                prop_assert!(!e.to_string().contains(d.as_str()), "{e}");
                prop_assert!(!format!("{e:?}").contains(d.as_str()), "{e:?}");
                let error = crate::error::Error::from(e);
                prop_assert!(!error.to_string().contains(d.as_str()), "{error}");
            }
        }
    }
}

proptest! {
    #![proptest_config(config(8))]

    /// A key made now loads from what it stores, as the same key.
    #[test]
    fn new_keys_round_trip_through_storage(_case in 0_u8..1) {
        let key = DpopKey::generate().unwrap();
        let public = key.public_jwk_json();
        let private = key.private_jwk_json();
        let loaded = DpopKey::from_stored(&public, private.expose()).unwrap();
        prop_assert_eq!(loaded.public_jwk_json(), public);
        prop_assert_eq!(loaded.private_jwk_json(), private);
        prop_assert_eq!(loaded.thumbprint(), key.thumbprint());
    }
}

proptest! {
    #![proptest_config(config(4))]

    /// A proof carries the method, the `htu`, the nonce and the token's hash (never the
    /// token), and verifies with the key; a refusal is typed and quotes no token.
    #[test]
    fn proofs_say_what_they_are_for(
        method in method(),
        url in url(),
        with_token in any::<bool>(),
        nonce in proptest::option::of("(?s).{0,40}"),
    ) {
        let (key, public, ..) = stored();
        let token = with_token.then_some(SECRET);
        match key.proof(&method, &url, token, nonce.as_deref()) {
            Ok(proof) => {
                let jwt = decode(&proof).unwrap();
                let claims = &jwt.claims;
                prop_assert!(!leaks(&Value::Object(claims.clone()).to_string()));
                prop_assert_eq!(&claims["htm"], &Value::from(method.to_ascii_uppercase()));
                prop_assert_eq!(&claims["htu"], &Value::from(htu(&url).unwrap()));
                prop_assert_eq!(claims.get("nonce").cloned(), nonce.map(Value::from));
                let ath = token.map(|t| Value::from(access_token_hash(t)));
                prop_assert_eq!(claims.get("ath").cloned(), ath);
                let set = format!(r#"{{"keys":[{public}]}}"#);
                let keys = JwkSet::parse(set.as_bytes()).unwrap();
                prop_assert!(jwt.verify(&keys).is_ok());
            }
            Err(e) => {
                let typed = matches!(
                    e,
                    DpopError::InvalidMethod
                        | DpopError::InvalidUrl(_)
                        | DpopError::UnsupportedScheme(_)
                );
                prop_assert!(typed, "{e:?}");
                prop_assert!(!leaks(&e.to_string()), "{e}");
            }
        }
    }
}
