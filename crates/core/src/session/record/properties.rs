//! Property tests of the parser of a session record (`solidClientAuthenticationUser:<id>`).

use proptest::prelude::*;
use serde_json::Value;

use crate::error::Error;
use crate::session::record::Record;
use crate::tests::property_support::{config, json_input, leaks, object};

const KEY: &str = "solidClientAuthenticationUser:s-1";
const FIELDS: &[&str] = &[
    "issuer",
    "webId",
    "clientId",
    "clientSecret",
    "clientType",
    "refreshToken",
    "dpop",
    "keepAlive",
    "publicKey",
    "privateKey",
    "codeVerifier",
    "redirectUrl",
    "isLoggedIn",
];
const UNPAIRED: &str = "the data stored under <a session record or login state> is corrupted: a string in it holds an unpaired UTF-16 surrogate (a \\uD800-\\uDFFF escape), which this package cannot represent";

fn check_refusal(error: &Error) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(error, Error::CorruptedData { key, .. } if key == KEY),
        "{error:?}"
    );
    prop_assert!(!leaks(&error.to_string()), "{error}");
    Ok(())
}

proptest! {
    #![proptest_config(config(1))]

    /// A record parses, or is corrupted data that quotes nothing; its fields read as strings
    /// or as corrupted data; written out and read again, it is the same record.
    #[test]
    fn parses_or_is_corrupted_data_and_round_trips(raw in json_input(FIELDS)) {
        match Record::parse(KEY, &raw) {
            Ok(record) => {
                // Debug prints field names (an edit may have made the secret one), not values.
                let fields: serde_json::Map<String, Value> =
                    serde_json::from_str(&record.to_json()).unwrap();
                if !fields.keys().any(|name| leaks(name)) {
                    prop_assert!(!leaks(&format!("{record:?}")), "{:?}", record);
                }
                for field in FIELDS {
                    if let Err(e) = record.string(field) {
                        check_refusal(&e)?;
                    }
                    if let Err(e) = record.flag(field) {
                        check_refusal(&e)?;
                    }
                }
                let json = record.to_json();
                let again = Record::parse(KEY, &json);
                prop_assert_eq!(again.as_ref(), Ok(&record));
                prop_assert_eq!(again.map(|r| r.to_json()), Ok(json));
            }
            Err(e) => check_refusal(&e)?,
        }
    }

    /// Valid JSON objects fail only for an unpaired surrogate, and then say so.
    #[test]
    fn objects_fail_only_for_unpaired_surrogates(object in object(FIELDS)) {
        match Record::parse(KEY, &object.text()) {
            Ok(_) => prop_assert!(!object.has_unpaired()),
            Err(e) => {
                prop_assert!(object.has_unpaired());
                prop_assert_eq!(e.to_string(), UNPAIRED);
            }
        }
    }

    /// Set and remove keep the other fields and their order, and the record still parses.
    #[test]
    fn set_and_remove_keep_the_rest(
        object in object(FIELDS),
        field in prop::sample::select(FIELDS),
        text in "(?s).{0,20}",
    ) {
        if object.has_unpaired() {
            return Ok(());
        }
        let mut record = Record::parse(KEY, &object.text()).unwrap();
        let names = |record: &Record| -> Vec<String> {
            let fields: serde_json::Map<String, Value> =
                serde_json::from_str(&record.to_json()).unwrap();
            fields.keys().cloned().collect()
        };
        let before = names(&record);
        record.set(field, text.clone());
        let again = Record::parse(KEY, &record.to_json()).unwrap();
        let expected = if text.is_empty() { None } else { Some(text.as_str()) };
        prop_assert_eq!(again.string(field).unwrap(), expected);
        record.remove(field);
        let kept: Vec<String> = before.into_iter().filter(|k| k != field).collect();
        prop_assert_eq!(names(&record), kept);
    }
}

/// Found by `parses_or_is_corrupted_data_and_round_trips`: without `serde_json`'s
/// `float_roundtrip`, this number read back one unit in the last place away from itself.
#[test]
fn a_number_reads_back_as_written() {
    let raw = r#"{"issuer":-3.815448896150436e-175}"#;
    let record = Record::parse(KEY, raw).unwrap();
    assert_eq!(record.to_json(), raw);
    assert_eq!(Record::parse(KEY, &record.to_json()).unwrap(), record);
}
