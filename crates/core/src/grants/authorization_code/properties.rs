//! Property tests of the parser of the redirect back from a login (`Callback::parse`).

use proptest::prelude::*;

use super::finish::Callback;
use crate::error::Error;
use crate::tests::property_support::{any_text, config, leaks_secret, url};

/// The authorization code: secret, so no message may quote it.
const CODE: &str = "CoDe9fXq4LrW2mZt7Hb";
const PROVIDER_PARAMS: [&str; 5] = ["state", "code", "error", "error_description", "iss"];

/// A redirect URL: a URL from `url()`, then query parameters the provider adds (and others),
/// percent-encoded or not, repeated, empty, then perhaps a fragment.
fn redirect() -> impl Strategy<Value = String> {
    use prop::sample::select;
    const NAMES: &[&str] = &[
        "state",
        "code",
        "iss",
        "error",
        "error_description",
        "session_state",
        "a",
    ];
    const ODD_NAMES: &[&str] = &["", "st%61te", "state ", "STATE", "code%00", "%", "+state"];
    const ODD_VALUES: &[&str] = &[
        "",
        "a+b",
        "%20",
        "%zz",
        "%FF%FE",
        "=",
        "é",
        "https%3A%2F%2Fidp.example%2F",
        "a#b",
    ];
    let name = prop_oneof![
        4 => select(NAMES).prop_map(str::to_owned),
        1 => select(ODD_NAMES).prop_map(str::to_owned),
        1 => "[a-z%+=]{0,6}",
    ];
    let param_value = prop_oneof![
        2 => Just(CODE.to_owned()),
        2 => "[a-zA-Z0-9_-]{0,12}",
        1 => select(ODD_VALUES).prop_map(str::to_owned),
        1 => "(?s).{0,8}",
    ];
    // The code is only ever the value of `code`.
    let pair =
        (name, proptest::option::weighted(0.9, param_value)).prop_map(
            |(name, value)| match value {
                Some(value) if value == CODE && name != "code" => format!("{name}=x"),
                Some(value) => format!("{name}={value}"),
                None => name,
            },
        );
    (
        url(),
        prop::collection::vec(pair, 0..6),
        prop::sample::select(&["&", "&", "&&", ";"][..]),
        proptest::option::weighted(0.2, "#[a-z=&]{0,8}"),
    )
        .prop_map(|(base, pairs, glue, fragment)| {
            let (base, base_fragment) = match base.split_once('#') {
                Some((b, f)) => (b.to_owned(), Some(f.to_owned())),
                None => (base, None),
            };
            let mut url = base;
            if !pairs.is_empty() {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&pairs.join(glue));
            }
            if let Some(fragment) = fragment.or(base_fragment.map(|f| format!("#{f}"))) {
                url.push_str(&fragment);
            }
            url
        })
}

fn pairs(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

proptest! {
    #![proptest_config(config(1))]

    /// A redirect parses, with its first `state`, or is refused without quoting its code;
    /// its redirect URI is a URL with the other parameters, in order, and without the code.
    #[test]
    fn redirects_parse_or_are_refused_without_the_code(
        raw in prop_oneof![4 => redirect().boxed(), 1 => any_text()],
    ) {
        match Callback::parse(&raw) {
            Ok(callback) => {
                let url = url::Url::parse(&raw).unwrap();
                let all = pairs(&url);
                let state = all.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone());
                prop_assert_eq!(Some(&callback.state), state.as_ref());
                for name in PROVIDER_PARAMS {
                    let first = all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                    prop_assert_eq!(callback.param(name), first);
                }
                let uri = callback.redirect_uri();
                let parsed = url::Url::parse(&uri);
                prop_assert!(parsed.is_ok(), "{uri}");
                let kept: Vec<(String, String)> = all
                    .into_iter()
                    .filter(|(k, _)| !PROVIDER_PARAMS.contains(&k.as_str()))
                    .collect();
                prop_assert_eq!(&pairs(&parsed.unwrap()), &kept);
                // The code is gone, unless it was not the value of a `code` parameter
                // (after a `#`, or in a `;`-separated query, which forms do not split).
                let has_code = |text: &str| leaks_secret(text, CODE);
                let elsewhere = kept.iter().any(|(k, v)| has_code(k) || has_code(v))
                    || url.fragment().is_some_and(has_code)
                    || has_code(url.path());
                prop_assert!(elsewhere || !leaks_secret(&uri, CODE), "{uri}");
                let again = Callback::parse(&uri);
                prop_assert!(matches!(again, Err(Error::InvalidRedirect { .. })), "{}", uri);
            }
            Err(e) => {
                prop_assert!(matches!(e, Error::InvalidRedirect { .. }), "{e:?}");
                prop_assert!(!leaks_secret(&e.to_string(), CODE), "{e}");
            }
        }
    }
}
