//! Property tests of compact JWTs (`jwt::decode`, `UnverifiedJwt::verify`, `jwt::check_claims`)
//! and the WebID read from their claims.

use proptest::prelude::*;
use serde_json::Map;
use serde_json::Value;

use crate::protocol::jwt::{check_claims, decode, JwkSet, JwtError};
use crate::tests::property_support::{
    any_text, b64, config, edited, es256, json, object, odd_jwk, value, Json, KIDS, RSA_N,
};

/// A JWT header: `alg`, `kid` and `crit` of every kind, in any order, some repeated.
fn header() -> BoxedStrategy<Json> {
    use prop::sample::select;
    const ALGS: &[&str] = &["ES256", "RS256", "none", "HS256", "es256", "ES384", ""];
    let alg = prop_oneof![4 => select(ALGS).prop_map(Json::str), 1 => value()];
    let kid = prop_oneof![
        2 => Just(Json::str("es-1")),
        2 => select(KIDS).prop_map(Json::str),
        1 => value(),
    ];
    (
        proptest::option::weighted(0.9, alg),
        proptest::option::of(kid),
        proptest::option::weighted(0.1, value()),
        object(&["typ", "alg", "jwk", "cty"]),
    )
        .prop_map(|(alg, kid, crit, extra)| {
            let mut members: Vec<(Vec<u16>, Json)> = Vec::new();
            let mut add = |name: &str, value: Option<Json>| {
                if let Some(value) = value {
                    members.push((name.encode_utf16().collect(), value));
                }
            };
            add("alg", alg);
            add("kid", kid);
            add("crit", crit);
            if let Json::Obj(extra) = extra {
                members.extend(extra.into_iter().take(2));
            }
            members
        })
        .prop_shuffle()
        .prop_map(Json::Obj)
        .prop_filter("JSON that serde_json reads", |header| {
            !header.has_unpaired()
        })
        .boxed()
}

/// A part of a token: base64url of JSON, of bytes or of a huge header; base64 with padding
/// or the standard alphabet; any text.
fn segment() -> BoxedStrategy<String> {
    prop_oneof![
        json().prop_map(|j| b64(j.text())),
        header().prop_map(|j| b64(j.text())),
        prop::collection::vec(any::<u8>(), 0..96).prop_map(b64),
        "[A-Za-z0-9_-]{0,40}",
        "[A-Za-z0-9+/=_.-]{0,40}",
        (1_usize..20_000).prop_map(|n| b64(format!("{{\"alg\":\"{}\"}}", "A".repeat(n)))),
        "(?s).{0,20}",
    ]
    .boxed()
}

fn token() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::collection::vec(segment(), 1..6).prop_map(|parts| parts.join(".")),
        1 => any_text(),
        1 => edited((header(), json()).prop_map(|(h, c)| es256().sign(&h.text(), &c.text()))),
    ]
    .boxed()
}

/// The key set tokens are verified with: the signing key ("es-1"), the RSA key "rs-1", and
/// odd keys, in any order.
fn key_set() -> impl Strategy<Value = Json> {
    prop::collection::vec(odd_jwk(), 0..4)
        .prop_flat_map(|odd| {
            let mut keys = odd;
            keys.push(es256().jwk(Some("es-1")));
            keys.push(Json::obj(vec![
                ("kty", Json::str("RSA")),
                ("n", Json::str(RSA_N)),
                ("e", Json::str("AQAB")),
                ("kid", Json::str("rs-1")),
            ]));
            Just(keys)
                .prop_shuffle()
                .prop_map(|keys| Json::obj(vec![("keys", Json::Arr(keys))]))
        })
        .prop_filter("JSON that serde_json reads", |set| !set.has_unpaired())
}

/// A message about a token is short and never quotes its signature.
fn check_message(error: &JwtError, token: &str) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(message.len() < 400, "{message}");
    if let Some((_, signature)) = token.rsplit_once('.') {
        if signature.len() >= 16 {
            prop_assert!(!message.contains(signature), "{message}");
        }
    }
    Ok(())
}

const ISSUER: &str = "https://idp.example/";
const AUDIENCE: &str = "https://app.example/id";
const NOW: u64 = 1_700_000_000;

/// Claims near the rules `check_claims` applies: the right and wrong `iss` and `aud`,
/// times on either side of now, every type.
fn claims() -> BoxedStrategy<Json> {
    use prop::sample::select;
    const OTHER_ISSUERS: &[&str] = &["https://idp.example", "https://IDP.example/", ""];
    const TIMES: &[&str] = &[
        "1700000000.5",
        "1699999999.9999999",
        "1e300",
        "-1e300",
        "0",
        "18446744073709551616",
    ];
    let iss = prop_oneof![
        3 => Just(Json::str(ISSUER)),
        1 => select(OTHER_ISSUERS).prop_map(Json::str),
        1 => value(),
    ];
    let aud_item = prop_oneof![
        2 => Just(Json::str(AUDIENCE)),
        1 => select(&["solid", "https://app.example/id/", ""][..]).prop_map(Json::str),
        1 => value(),
    ];
    let aud = prop_oneof![
        2 => aud_item.clone(),
        2 => prop::collection::vec(aud_item, 0..4).prop_map(Json::Arr),
    ];
    let time = || {
        prop_oneof![
            4 => (-200_i64..200).prop_map(|d| Json::Num(NOW.saturating_add_signed(d).to_string())),
            1 => select(TIMES).prop_map(|n| Json::Num(n.to_owned())),
            1 => Just(Json::str("1700000100")),
            1 => value(),
        ]
    };
    (
        proptest::option::weighted(0.9, iss),
        proptest::option::weighted(0.9, aud),
        proptest::option::weighted(0.9, time()),
        proptest::option::of(time()),
        proptest::option::of(time()),
        object(&["sub", "webid", "azp", "exp"]),
    )
        .prop_map(|(iss, aud, exp, nbf, iat, extra)| {
            let mut members: Vec<(Vec<u16>, Json)> = Vec::new();
            if let Json::Obj(extra) = extra {
                members.extend(extra);
            }
            for (name, value) in [
                ("iss", iss),
                ("aud", aud),
                ("exp", exp),
                ("nbf", nbf),
                ("iat", iat),
            ] {
                if let Some(value) = value {
                    members.push((name.encode_utf16().collect(), value));
                }
            }
            members
        })
        .prop_shuffle()
        .prop_map(Json::Obj)
        .prop_filter("JSON that serde_json reads", |claims| {
            !claims.has_unpaired()
        })
        .boxed()
}

/// What `check_claims` must decide, written from its documentation.
#[allow(
    clippy::cast_precision_loss,
    reason = "NOW and the skew are far below 2^53"
)]
fn claims_pass(claims: &Map<String, Value>, skew: u64) -> bool {
    let now = NOW as f64;
    let skew = skew as f64;
    let iss = claims.get("iss") == Some(&Value::from(ISSUER));
    let aud = match claims.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(auds)) => {
            auds.iter().all(Value::is_string) && auds.iter().any(|a| a == AUDIENCE)
        }
        _ => false,
    };
    let exp = claims
        .get("exp")
        .and_then(Value::as_number)
        .and_then(serde_json::Number::as_f64)
        .is_some_and(|exp| exp + skew > now);
    let not_ahead = |name: &str| match claims.get(name) {
        None => true,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|t| t <= now + skew),
        Some(_) => false,
    };
    iss && aud && exp && not_ahead("nbf") && not_ahead("iat")
}

proptest! {
    #![proptest_config(config(1))]

    /// A token decodes into a header and claims, or is refused with a short message that
    /// never quotes its signature.
    #[test]
    fn decode_returns_or_refuses_briefly(token in token()) {
        match decode(&token) {
            Ok(jwt) => {
                prop_assert_eq!(token.matches('.').count(), 2);
                let signature = token.rsplit_once('.').unwrap().1;
                if signature.len() >= 16 {
                    prop_assert!(!format!("{jwt:?}").contains(signature), "{:?}", jwt);
                }
            }
            Err(e) => check_message(&e, &token)?,
        }
    }

    /// Claims pass exactly when the rules say they do; messages stay short.
    #[test]
    fn check_claims_follows_its_rules(
        claims in claims(),
        skew in prop_oneof![Just(0_u64), Just(60), 0_u64..400],
    ) {
        let text = claims.text();
        let Ok(claims) = serde_json::from_str::<Map<String, Value>>(&text) else {
            return Ok(());
        };
        let checked = check_claims(&claims, ISSUER, AUDIENCE, NOW, skew);
        prop_assert_eq!(checked.is_ok(), claims_pass(&claims, skew), "{:?}", checked);
        if let Err(e) = checked {
            prop_assert!(e.to_string().len() < 400, "{e}");
        }
        match crate::protocol::claims::web_id(&claims) {
            Ok(web_id) => {
                let named = claims.values().any(|v| v.as_str() == Some(web_id.as_str()));
                prop_assert!(named, "{}", web_id);
            }
            Err(e) => {
                prop_assert!(matches!(e, crate::error::Error::InvalidToken { .. }), "{:?}", e);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(4))]

    /// A token verifies exactly when the signing key signed it, its `alg` is ES256, it has
    /// no `crit`, and its `kid` (if any) names that key, whatever else the set holds.
    #[test]
    fn verify_accepts_exactly_good_signatures(
        header in header(),
        claims in json().prop_filter("JSON that serde_json reads", |c| !c.has_unpaired()),
        signature in prop_oneof![
            2 => Just(None),
            1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Some),
        ],
        set in key_set(),
    ) {
        let mut token = es256().sign(&header.text(), &claims.text());
        if !claims.text().starts_with('{') {
            // Claims that are not an object: the token is refused before any key is used.
            prop_assert!(decode(&token).is_err());
            return Ok(());
        }
        if let Some(signature) = &signature {
            token = format!("{}.{}", token.rsplit_once('.').unwrap().0, b64(signature));
        }
        let set_text = set.text();
        let keys = JwkSet::parse(set_text.as_bytes()).unwrap();
        let jwt = decode(&token).unwrap();
        let expected = signature.is_none()
            && jwt.header.get("alg") == Some(&Value::from("ES256"))
            && !jwt.header.contains_key("crit")
            && match jwt.header.get("kid") {
                None => true,
                Some(kid) => kid == "es-1",
            };
        let outcome = jwt.verify(&keys);
        prop_assert_eq!(outcome.is_ok(), expected, "{:?}", outcome);
        if let Err(e) = &outcome {
            check_message(e, &token)?;
        }
    }

    /// Changing any one character of a signed token makes it fail to verify.
    #[test]
    fn an_edited_token_never_verifies(
        claims in json(),
        at in any::<prop::sample::Index>(),
        replacement in prop::sample::select(&b"AB_-.z0="[..]),
    ) {
        let key = es256();
        let token = key.sign(r#"{"alg":"ES256","kid":"es-1"}"#, &claims.text());
        let set = Json::obj(vec![("keys", Json::Arr(vec![key.jwk(Some("es-1"))]))]);
        let keys = JwkSet::parse(set.text().as_bytes()).unwrap();
        let mut edited = token.clone().into_bytes();
        let at = at.index(edited.len());
        edited[at] = replacement;
        let edited = String::from_utf8(edited).unwrap();
        if edited == token {
            return Ok(());
        }
        let outcome = decode(&edited).and_then(|jwt| jwt.verify(&keys));
        prop_assert!(outcome.is_err());
    }
}
