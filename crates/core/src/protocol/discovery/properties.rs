//! Property tests of the parser of discovery documents (`discovery::parse`) and of the
//! `issuerConfig` record written from them.

use proptest::prelude::*;
use serde_json::Value;

use crate::error::Error;
use crate::protocol::discovery::{issuer_config_record, parse};
use crate::tests::property_support::{any_bytes, config, edited, leaks, object, value, Json};

const ISSUER: &str = "https://idp.example/";
const URL: &str = "https://idp.example/.well-known/openid-configuration";
const STRINGS: &[&str] = &[
    "token_endpoint",
    "jwks_uri",
    "authorization_endpoint",
    "registration_endpoint",
    "end_session_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
];
const LISTS: &[&str] = &[
    "scopes_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "id_token_signing_alg_values_supported",
    "claims_supported",
];

/// A document with every member the crate reads, each right or wrong.
fn document() -> BoxedStrategy<Json> {
    use prop::sample::select;
    const ISSUERS: &[&str] = &[
        ISSUER,
        "https://idp.example",
        "https://idp.example//",
        "https://other.example/",
        "",
    ];
    const ITEMS: &[&str] = &["openid", "webid", "client_secret_post", "ES256"];
    let issuer = prop_oneof![4 => select(ISSUERS).prop_map(Json::str), 1 => value()];
    let string = prop_oneof![
        3 => select(&["https://idp.example/token", "", "not a url"][..]).prop_map(Json::str),
        1 => value(),
    ];
    let list = prop_oneof![
        3 => prop::collection::vec(
            prop_oneof![3 => select(ITEMS).prop_map(Json::str), 1 => value()],
            0..4,
        )
        .prop_map(Json::Arr),
        1 => value(),
    ];
    let member = prop_oneof![
        (select(STRINGS), proptest::option::weighted(0.8, string)),
        (select(LISTS), proptest::option::weighted(0.8, list)),
    ];
    (
        proptest::option::weighted(0.9, issuer),
        prop::collection::vec(member, 0..12),
        object(&["issuer", "unknown"]),
    )
        .prop_map(|(issuer, members, extra)| {
            let mut all: Vec<(Vec<u16>, Json)> = Vec::new();
            if let Some(issuer) = issuer {
                all.push(("issuer".encode_utf16().collect(), issuer));
            }
            for (name, value) in members {
                if let Some(value) = value {
                    all.push((name.encode_utf16().collect(), value));
                }
            }
            if let Json::Obj(extra) = extra {
                all.extend(extra.into_iter().take(2));
            }
            all
        })
        .prop_shuffle()
        .prop_map(Json::Obj)
        .boxed()
}

proptest! {
    #![proptest_config(config(1))]

    /// A document is read, for its issuer, or refused with a typed error for its URL; a
    /// body that is not JSON is not quoted; the record written from it is a JSON object.
    #[test]
    fn documents_are_read_or_refused(
        body in prop_oneof![
            3 => document().prop_map(|d| d.text().into_bytes()),
            2 => edited(document().prop_map(|d| d.text())).prop_map(String::into_bytes),
            1 => any_bytes(),
        ],
    ) {
        match parse(ISSUER, URL, &body) {
            Ok((metadata, fields)) => {
                let issuer = metadata.issuer.trim_end_matches('/');
                prop_assert_eq!(issuer, ISSUER.trim_end_matches('/'));
                let document: Value = serde_json::from_slice(&body).unwrap();
                prop_assert_eq!(Some(&fields), document.as_object());
                let record = issuer_config_record(&fields);
                let record = serde_json::from_str::<Value>(&record);
                prop_assert!(matches!(record, Ok(Value::Object(_))), "{:?}", record);
                let record = record.unwrap();
                let token_endpoint = Value::from(metadata.token_endpoint.as_str());
                prop_assert_eq!(&record["tokenEndpoint"], &token_endpoint);
                let scopes = Value::from(metadata.scopes_supported.clone());
                prop_assert_eq!(&record["scopesSupported"], &scopes);
            }
            Err(e) => {
                let typed = matches!(&e, Error::IdpResponse { url, .. } if url == URL);
                prop_assert!(typed, "{e:?}");
                if serde_json::from_slice::<Value>(&body).is_err() {
                    prop_assert!(!leaks(&e.to_string()), "{e}");
                }
            }
        }
    }
}
