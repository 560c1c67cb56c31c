//! Property tests of token responses and the `DPoP-Nonce` header (`token::request`): parsing the
//! body, the OAuth error of a refusal, the one retry with a fresh nonce, the nonce kept per origin.
//!
//! `WWW-Authenticate` is not read in Rust: a resource server's nonce request is handled in
//! `lib/session.js`. It is among the headers generated here, and must change nothing.

use std::cell::RefCell;

use proptest::prelude::*;
use serde_json::Value;

use crate::error::Error;
use crate::http::HttpResponse;
use crate::protocol::token::{
    origin_of, request, ClientAuth, NonceCache, ProofSigner, MAX_NONCE_BYTES,
};
use crate::protocol::token_type::TokenType;
use crate::tests::property_support::{
    any_bytes, config, edited, js_units, leaks, number, object, url, value, Answers, Json, SECRET,
};
use crate::tests::support::block_on;

const ENDPOINT: &str = "https://idp.example:8443/token";
const ODD_VALUES: &[&str] = &[
    "",
    "\"quoted\"",
    "a, b",
    "n-1,n-2",
    "DPoP error=\"use_dpop_nonce\", error_description=\"Resource server requires nonce in DPoP proof\"",
    "Bearer realm=\"x\", DPoP algs=\"ES256 PS256\"",
    "DPoP error=use_dpop_nonce",
    "\"",
    "\\\"",
    "=;,",
];

fn header() -> impl Strategy<Value = (String, String)> {
    const NAMES: &[&str] = &[
        "dpop-nonce",
        "DPoP-Nonce",
        "DPOP-NONCE",
        "www-authenticate",
        "WWW-Authenticate",
        "content-type",
        "dpop-nonce ",
    ];
    let name = prop_oneof![
        4 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[a-zA-Z-]{1,12}",
    ];
    (name, nonce())
}

/// A header value: printable text with quotes and commas, odd parameter lists, any
/// characters, long runs.
fn nonce() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        prop::sample::select(ODD_VALUES).prop_map(str::to_owned),
        "(?s).{0,20}",
        (1_usize..5000).prop_map(|n| "n".repeat(n)),
    ]
}

/// A token response: the members a client reads, of every type, the tokens secret.
fn token_body() -> BoxedStrategy<Json> {
    const TYPES: &[&str] = &[
        "DPoP", "dpop", "Bearer", "BEARER", "bEaReR", "MAC", "", "DPoP ",
    ];
    const EXPIRIES: &[&str] = &[
        "600",
        "-5",
        "0.5",
        "1e300",
        "-0",
        "18446744073709551616",
        "3.5e9",
    ];
    const EXTRAS: &[&str] = &[
        "scope",
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
    ];
    let access = prop_oneof![4 => Just(Json::str(SECRET)), 1 => value()];
    let token_type =
        prop_oneof![4 => prop::sample::select(TYPES).prop_map(Json::str), 1 => value()];
    let expires = prop_oneof![
        2 => any::<u64>().prop_map(|n| Json::Num(n.to_string())),
        2 => prop::sample::select(EXPIRIES).prop_map(|n| Json::Num(n.to_owned())),
        1 => prop::sample::select(EXPIRIES).prop_map(Json::str),
        1 => value(),
    ];
    let optional_secret =
        proptest::option::of(prop_oneof![3 => Just(Json::str(SECRET)), 1 => value()]);
    (
        proptest::option::of(access),
        proptest::option::of(token_type),
        proptest::option::of(expires),
        optional_secret.clone(),
        optional_secret,
        object(EXTRAS),
    )
        .prop_map(|(access, token_type, expires, refresh, id, extras)| {
            let mut members = Vec::new();
            let mut add = |name: &str, value: Option<Json>| {
                if let Some(value) = value {
                    members.push((name.encode_utf16().collect(), value));
                }
            };
            add("access_token", access);
            add("token_type", token_type);
            add("expires_in", expires);
            add("refresh_token", refresh);
            add("id_token", id);
            if let Json::Obj(extra) = extras {
                members.extend(extra);
            }
            members
        })
        .prop_shuffle()
        .prop_map(Json::Obj)
        .boxed()
}

/// An OAuth error (RFC 6749 §5.2), with odd codes and descriptions.
fn error_body() -> BoxedStrategy<Json> {
    const CODES: &[&str] = &[
        "use_dpop_nonce",
        "invalid_grant",
        "invalid_client",
        "",
        "use_dpop_nonce ",
    ];
    let code = prop_oneof![
        4 => prop::sample::select(CODES).prop_map(Json::str),
        1 => js_units(6).prop_map(Json::Str),
        1 => (1_usize..2000).prop_map(|n| Json::str(&"e".repeat(n))),
        1 => Just(Json::Null),
        1 => number().prop_map(Json::Num),
    ];
    let description = prop_oneof![
        js_units(6).prop_map(Json::Str),
        (1_usize..2000).prop_map(|n| Json::str(&"d".repeat(n))),
        Just(Json::Null),
        Just(Json::Bool(true)),
    ];
    (
        proptest::option::of(code),
        proptest::option::of(description),
        any::<bool>(),
    )
        .prop_map(|(code, description, with_token)| {
            let mut members = Vec::new();
            if let Some(code) = code {
                members.push(("error", code));
            }
            if let Some(description) = description {
                members.push(("error_description", description));
            }
            if with_token {
                members.push(("access_token", Json::str(SECRET)));
            }
            Json::obj(members)
        })
        .boxed()
}

/// A body, and whether it is structured as generated (not edited or arbitrary): only those
/// keep the secret out of `error` and `error_description`, which a refusal quotes.
fn body() -> impl Strategy<Value = (Vec<u8>, bool)> {
    prop_oneof![
        3 => token_body().prop_map(|j| (j.text().into_bytes(), true)),
        3 => error_body().prop_map(|j| (j.text().into_bytes(), true)),
        2 => edited(token_body().prop_map(|j| j.text())).prop_map(|t| (t.into_bytes(), false)),
        1 => edited(error_body().prop_map(|j| j.text())).prop_map(|t| (t.into_bytes(), false)),
        1 => any_bytes().prop_map(|b| (b, false)),
    ]
}

fn answer() -> impl Strategy<Value = (HttpResponse, bool)> {
    let status = prop_oneof![
        3 => Just(200_u16),
        3 => Just(400_u16),
        1 => Just(401_u16),
        1 => any::<u16>(),
    ];
    (status, prop::collection::vec(header(), 0..4), body()).prop_map(
        |(status, headers, (body, structured))| {
            (
                HttpResponse {
                    status,
                    headers,
                    body,
                },
                structured,
            )
        },
    )
}

fn asks_for_a_nonce(response: &HttpResponse) -> bool {
    response.status != 200
        && matches!(
            serde_json::from_slice::<Value>(&response.body),
            Ok(Value::Object(fields))
                if fields.get("error") == Some(&Value::from("use_dpop_nonce"))
        )
}

proptest! {
    #![proptest_config(config(1))]

    /// One request, and a second one only for a `use_dpop_nonce` refusal that came with a
    /// `DPoP-Nonce` (whose value the second proof carries, as sent); the latest nonce is kept
    /// for the origin; the outcome is the last answer's, typed, and quotes no token.
    #[test]
    fn requests_retries_and_outcomes_follow_the_answers(
        (first, first_structured) in answer(),
        (second, second_structured) in answer(),
        preset in proptest::option::of(nonce()),
        with_proof in any::<bool>(),
    ) {
        let nonces = NonceCache::default();
        if let Some(preset) = &preset {
            nonces.set(ENDPOINT, preset);
        }
        let signed = RefCell::new(Vec::new());
        let sign = |nonce: Option<&str>| -> crate::error::Result<String> {
            signed.borrow_mut().push(nonce.map(str::to_owned));
            Ok("proof".to_owned())
        };
        let proof: Option<ProofSigner<'_>> = if with_proof { Some(&sign) } else { None };
        let http = Answers::new(vec![first.clone(), second.clone()]);
        let outcome = block_on(request(
            &http,
            ENDPOINT,
            &[("grant_type", "client_credentials")],
            &ClientAuth::Public { client_id: "app" },
            proof,
            &nonces,
        ))
        .map_err(Error::from);

        let fresh = first.header("dpop-nonce").map(str::to_owned);
        let retried = with_proof && asks_for_a_nonce(&first) && fresh.is_some();
        prop_assert_eq!(http.sent.get(), if retried { 2 } else { 1 });
        let mut expected_proofs = Vec::new();
        if with_proof {
            // A preset too long to keep was not kept.
            expected_proofs.push(preset.clone().filter(|n| n.len() <= MAX_NONCE_BYTES));
            if retried {
                expected_proofs.push(fresh.clone());
            }
        }
        prop_assert_eq!(signed.into_inner(), expected_proofs);
        let last = if retried { &second } else { &first };
        // Each nonce sent replaces the one kept; one too long to keep leaves none.
        let fresh_again = second.header("dpop-nonce").filter(|_| retried).map(str::to_owned);
        let kept = fresh_again
            .or(fresh)
            .or(preset)
            .filter(|n| n.len() <= MAX_NONCE_BYTES);
        prop_assert_eq!(nonces.get(ENDPOINT), kept);

        let fields = match serde_json::from_slice::<Value>(&last.body) {
            Ok(Value::Object(fields)) => Some(fields),
            _ => None,
        };
        match &outcome {
            Ok(tokens) => {
                prop_assert_eq!(last.status, 200);
                let fields = fields.unwrap();
                let sent = |name: &str| fields[name].as_str().map(str::to_owned);
                let access_token = tokens.access_token.expose().to_owned();
                prop_assert_eq!(Some(access_token), sent("access_token"));
                let dpop = sent("token_type").unwrap().eq_ignore_ascii_case("dpop");
                let expected = if dpop { TokenType::DPoP } else { TokenType::Bearer };
                prop_assert_eq!(tokens.token_type, expected);
                if let Some(Value::Number(n)) = fields.get("expires_in") {
                    if let Some(n) = n.as_u64() {
                        let cut = n.min(crate::protocol::token::MAX_LIFETIME_SECONDS);
                        prop_assert_eq!(tokens.expires_in, Some(cut));
                    }
                }
                prop_assert!(!leaks(&format!("{tokens:?}")), "{:?}", tokens);
            }
            Err(Error::OAuth { url, error, description }) => {
                prop_assert_eq!(url, ENDPOINT);
                prop_assert_ne!(last.status, 200);
                let sent = fields.as_ref().and_then(|f| f.get("error")).and_then(Value::as_str);
                let shortened: Option<String> = sent.map(|e| e.chars().take(100).collect());
                prop_assert_eq!(Some(error), shortened.as_ref());
                prop_assert!(description.as_ref().is_none_or(|d| d.chars().count() <= 300));
            }
            Err(Error::IdpResponse { url, .. }) => prop_assert_eq!(url, ENDPOINT),
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e:?}"))),
        }
        if let Err(e) = &outcome {
            if first_structured && second_structured {
                prop_assert!(!leaks(&e.to_string()), "{e}");
            }
            prop_assert!(e.to_string().chars().count() <= 600, "{e}");
        }
    }

    /// `origin_of` is its own origin, and an http(s) URL that parses has one.
    #[test]
    fn origins_are_idempotent(url in url()) {
        let origin = origin_of(&url);
        if let Some(origin) = &origin {
            let again = origin_of(origin);
            prop_assert_eq!(again.as_ref(), Some(origin));
            prop_assert!(origin.starts_with("http") || origin.starts_with("ws") || origin.starts_with("ftp"));
        }
        let parsed = url::Url::parse(&url);
        if parsed.as_ref().is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            prop_assert!(origin.is_some(), "{}", url);
        }
    }

    /// A nonce is kept for its origin, and only for it.
    #[test]
    fn nonces_are_kept_per_origin(a in url(), b in url(), nonce in nonce()) {
        let nonces = NonceCache::default();
        nonces.set(&a, &nonce);
        let kept = origin_of(&a).is_some_and(|o| o.len() <= 300) && nonce.len() <= MAX_NONCE_BYTES;
        prop_assert_eq!(nonces.get(&a), kept.then(|| nonce.clone()));
        let same = origin_of(&a) == origin_of(&b);
        prop_assert_eq!(nonces.get(&b), (kept && same).then_some(nonce));
    }
}
