//! Property tests of the search for unpaired UTF-16 surrogates in stored JSON.

use proptest::prelude::*;
use serde_json::Value;

use crate::surrogates::{only_unpaired_surrogates_in_json, only_unpaired_surrogates_in_string};
use crate::tests::property_support::{any_text, config, edited, js_stringify, js_units, json};

proptest! {
    #![proptest_config(config(1))]

    /// A string literal `JSON.stringify` wrote fails only for an unpaired surrogate.
    #[test]
    fn string_literals_from_javascript(units in js_units(8)) {
        let literal = js_stringify(&units);
        prop_assert_eq!(
            only_unpaired_surrogates_in_string(&literal),
            String::from_utf16(&units).is_err()
        );
    }

    /// So does a JSON text `JSON.stringify` wrote.
    #[test]
    fn json_texts_from_javascript(value in json()) {
        prop_assert_eq!(only_unpaired_surrogates_in_json(&value.text()), value.has_unpaired());
    }

    /// Text `serde_json` reads holds no unpaired surrogate; and any text is answered.
    #[test]
    fn never_for_text_that_parses(
        raw in prop_oneof![any_text(), edited(json().prop_map(|j| j.text()))],
    ) {
        let in_json = only_unpaired_surrogates_in_json(&raw);
        let in_string = only_unpaired_surrogates_in_string(&raw);
        if serde_json::from_str::<Value>(&raw).is_ok() {
            prop_assert!(!in_json);
        }
        if serde_json::from_str::<String>(&raw).is_ok() {
            prop_assert!(!in_string);
        }
    }
}
