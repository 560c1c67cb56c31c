//! Property tests of the session list (`solidClientAuthn:registeredSessions`): `parse_ids`,
//! `check_ids`, `serialize_ids`.

use proptest::prelude::*;

use crate::error::Error;
use crate::storage::registry::memo::lexes;
use crate::storage::registry::{
    check_ids, parse_ids, serialize_ids, ListAnswer, ListMemo, ListedId,
};
use crate::storage::REGISTERED_SESSIONS_KEY;
use crate::tests::property_support::{
    any_text, config, edited, js_stringify, js_units, json, leaks, value, Json,
};

/// A list of JavaScript strings, as `JSON.stringify` writes it.
fn stringify(list: &[Vec<u16>]) -> String {
    let items: Vec<String> = list.iter().map(|units| js_stringify(units)).collect();
    format!("[{}]", items.join(","))
}

fn list() -> impl Strategy<Value = Vec<Vec<u16>>> {
    prop::collection::vec(js_units(6), 0..8)
}

fn input() -> BoxedStrategy<String> {
    prop_oneof![
        2 => any_text(),
        1 => json().prop_map(|j| j.text()),
        2 => list().prop_map(|l| stringify(&l)),
        3 => edited(list().prop_map(|l| stringify(&l))),
        1 => prop::collection::vec(value(), 0..6).prop_map(|items| Json::Arr(items).text()),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(1))]

    /// `check_ids` agrees with `parse_ids`; a refusal is corrupted data that quotes nothing;
    /// an accepted list, written and read again, is the same list.
    #[test]
    fn check_agrees_with_parse_and_lists_round_trip(raw in input()) {
        let parsed = parse_ids(&raw);
        let checked = check_ids(&raw).err();
        prop_assert_eq!(checked.as_ref(), parsed.as_ref().err());
        match parsed {
            Ok(ids) => {
                let written = serialize_ids(&ids);
                prop_assert_eq!(parse_ids(&written), Ok(ids.clone()));
                prop_assert_eq!(serialize_ids(&parse_ids(&written).unwrap()), written);
            }
            Err(e) => {
                let corrupted_list = matches!(
                    &e,
                    Error::CorruptedData { key, .. } if key == REGISTERED_SESSIONS_KEY
                );
                prop_assert!(corrupted_list, "{e:?}");
                prop_assert!(!leaks(&e.to_string()), "{e}");
            }
        }
    }

    /// What `JSON.stringify` writes is read, entry by entry (an ID with an unpaired
    /// surrogate kept as it was written), and written back byte for byte.
    #[test]
    fn lists_written_by_javascript_round_trip_exactly(list in list()) {
        let raw = stringify(&list);
        let ids = parse_ids(&raw).unwrap();
        prop_assert_eq!(check_ids(&raw), Ok(()));
        prop_assert_eq!(ids.len(), list.len());
        for (units, id) in list.iter().zip(&ids) {
            let expected = match String::from_utf16(units) {
                Ok(text) => ListedId::Id(text),
                Err(_) => ListedId::Unpaired(js_stringify(units)),
            };
            prop_assert_eq!(id, &expected);
        }
        prop_assert_eq!(serialize_ids(&ids), raw);
    }

    /// The memo's lexer takes what `check_ids` takes; a patch from one list to another, applied
    /// to the first list's IDs, gives the second's, and a text refused whole is refused after a
    /// list too.
    #[test]
    fn the_memo_lexes_as_check_ids_and_patches_to_the_new_list(
        first in list().prop_map(|l| stringify(&l)),
        raw in input(),
    ) {
        prop_assert_eq!(lexes(&raw), check_ids(&raw).is_ok());
        let memo = ListMemo::default();
        prop_assert!(memo.answer(Some(first.clone()), None).is_ok());
        let answer = memo.answer(Some(raw.clone()), Some(1));
        match (answer, parse_ids(&raw)) {
            (Err(e), Err(expected)) => prop_assert_eq!(e, expected),
            (Ok(ListAnswer::Unchanged), Ok(_)) => prop_assert_eq!(&raw, &first),
            (Ok(ListAnswer::Changed { json, .. }), Ok(_)) => prop_assert_eq!(json, raw),
            (Ok(ListAnswer::Patched { at, remove, json, .. }), Ok(expected)) => {
                let mut ids = parse_ids(&first).unwrap();
                let (at, remove) = (at as usize, remove as usize);
                ids.splice(at..at + remove, parse_ids(&json).unwrap());
                prop_assert_eq!(ids, expected);
            }
            (answer, parsed) => prop_assert!(false, "{answer:?} against {parsed:?}"),
        }
    }

    /// A login or logout between two list reads: the second list is the first with a run of
    /// entries replaced (or its text edited); the patch gives the second list.
    #[test]
    fn a_patch_between_close_lists_gives_the_new_list(
        first in list(),
        put in list(),
        cut in (0usize..8, 0usize..8),
        edit in edited(list().prop_map(|l| stringify(&l))),
    ) {
        let at = cut.0.min(first.len());
        let end = (at + cut.1).min(first.len());
        let mut second = first.clone();
        second.splice(at..end, put);
        let (first, edit_base) = (stringify(&first), stringify(&second));
        for raw in [edit_base, edit] {
            let memo = ListMemo::default();
            prop_assert!(memo.answer(Some(first.clone()), None).is_ok());
            match (memo.answer(Some(raw.clone()), Some(1)), parse_ids(&raw)) {
                (Err(e), Err(expected)) => prop_assert_eq!(e, expected),
                (Ok(ListAnswer::Unchanged), Ok(_)) => prop_assert_eq!(&raw, &first),
                (Ok(ListAnswer::Changed { json, .. }), Ok(_)) => prop_assert_eq!(json, raw),
                (Ok(ListAnswer::Patched { at, remove, json, .. }), Ok(expected)) => {
                    let mut ids = parse_ids(&first).unwrap();
                    let (at, remove) = (at as usize, remove as usize);
                    ids.splice(at..at + remove, parse_ids(&json).unwrap());
                    prop_assert_eq!(ids, expected);
                }
                (answer, parsed) => prop_assert!(false, "{answer:?} against {parsed:?}"),
            }
        }
    }
}
