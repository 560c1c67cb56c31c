//! Property tests of JSON Web Key Sets (`JwkSet::parse`, `has_kid`) and the cache that fetches
//! them.

use proptest::prelude::*;
use serde_json::Value;

use crate::error::Error;
use crate::http::HttpResponse;
use crate::protocol::jwks::JwksCache;
use crate::protocol::jwt::{JwkSet, JwtError};
use crate::tests::property_support::{
    any_bytes, any_text, config, edited, es256, leaks, object, odd_jwk, value, Answers, Json,
};
use crate::tests::support::block_on;

fn set_text() -> BoxedStrategy<String> {
    let keys = prop::collection::vec(
        prop_oneof![4 => odd_jwk(), 1 => Just(es256().jwk(Some("es-1"))), 1 => value()],
        0..5,
    );
    let set = (keys, object(&["keys", "other"]))
        .prop_map(|(keys, extra)| {
            let mut members = vec![("keys".encode_utf16().collect(), Json::Arr(keys))];
            if let Json::Obj(extra) = extra {
                members.extend(extra.into_iter().take(2));
            }
            members
        })
        .prop_shuffle()
        .prop_map(|members| Json::Obj(members).text());
    prop_oneof![
        3 => set.clone(),
        2 => edited(set),
        1 => any_text(),
    ]
    .boxed()
}

/// The kids `has_kid` must know: of every object entry whose `kid` is a string.
fn kids_in(text: &str) -> Vec<String> {
    let Ok(Value::Object(set)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let Some(Value::Array(entries)) = set.get("keys") else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| entry.get("kid").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

proptest! {
    #![proptest_config(config(1))]

    /// Any body parses as a set or is refused as not one; a set knows every kid it listed.
    #[test]
    fn sets_parse_or_are_refused(text in set_text(), bytes in any_bytes()) {
        for body in [text.as_bytes(), &bytes[..]] {
            match JwkSet::parse(body) {
                Ok(set) => {
                    let text = String::from_utf8_lossy(body);
                    for kid in kids_in(&text) {
                        prop_assert!(set.has_kid(&kid), "{kid}");
                    }
                    prop_assert!(!set.has_kid("never-listed"));
                }
                Err(e) => prop_assert!(matches!(e, JwtError::InvalidKeySet(_)), "{e:?}"),
            }
        }
    }

    /// The cache hands out a set for a 200 that is one, and otherwise a typed error that
    /// does not quote the body.
    #[test]
    fn the_cache_answers_with_a_set_or_a_typed_error(
        status in prop_oneof![3 => Just(200_u16), 1 => any::<u16>()],
        text in set_text(),
    ) {
        let uri = "https://idp.example/jwks";
        let body = text.clone().into_bytes();
        let http = Answers::new(vec![HttpResponse { status, headers: Vec::new(), body }]);
        match block_on(JwksCache::default().keys(&http, uri, Some("es-1"))) {
            Ok(_) => {
                prop_assert_eq!(status, 200);
                prop_assert!(JwkSet::parse(text.as_bytes()).is_ok());
            }
            Err(e) => {
                let typed = matches!(&e, Error::IdpResponse { url, .. } if url == uri);
                prop_assert!(typed, "{e:?}");
                prop_assert!(!leaks(&e.to_string()), "{e}");
            }
        }
    }
}
