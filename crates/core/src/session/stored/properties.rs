//! Property tests of what a restore reads from a session record: `StoredSession::parse`, whose
//! fast path must agree with the record path on every input.

use proptest::prelude::*;

use crate::error::Error;
use crate::session::stored::StoredSession;
use crate::session::SessionRecord;
use crate::tests::property_support::{config, json_input, leaks};

const KEY: &str = "solidClientAuthenticationUser:s-1";
const FIELDS: &[&str] = &[
    "issuer",
    "webId",
    "clientAppId",
    "refreshToken",
    "dpop",
    "keepAlive",
    "clientId",
    "codeVerifier",
];

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn the_fast_path_agrees_with_the_record_path(raw in json_input(FIELDS)) {
        let fast = StoredSession::parse("s-1", KEY, &raw);
        let by_record =
            SessionRecord::parse(KEY, &raw).and_then(|r| StoredSession::from_record("s-1", &r));
        prop_assert_eq!(&fast, &by_record, "{}", raw);
        match fast {
            Ok(session) => {
                let refresh_token = session.and_then(|s| s.refresh_token);
                let shown = format!("{refresh_token:?}");
                prop_assert!(shown == "None" || shown == "Some([redacted])", "{}", shown);
            }
            Err(e) => {
                let corrupted = matches!(&e, Error::CorruptedData { key, .. } if key == KEY);
                prop_assert!(corrupted, "{e:?}");
                prop_assert!(!leaks(&e.to_string()), "{e}");
            }
        }
    }

    /// What the hand-written reader takes, serde takes too, with the same raw text per field,
    /// and `serde_json::Value` reads it.
    #[test]
    fn the_flat_reader_takes_only_what_serde_takes_alike(raw in json_input(FIELDS)) {
        if let Some(flat) = super::flat::fields(&raw) {
            let by_serde = serde_json::from_str::<super::RestoreFields<'_>>(&raw);
            prop_assert!(by_serde.is_ok(), "{}", raw);
            let by_serde = by_serde.unwrap();
            let slots = |f: &super::RestoreFields<'_>| {
                [f.issuer, f.web_id, f.client_app_id, f.refresh_token, f.dpop, f.keep_alive]
                    .map(|slot| slot.map(str::to_owned))
            };
            prop_assert_eq!(slots(&flat), slots(&by_serde), "{}", raw);
            prop_assert!(serde_json::from_str::<serde_json::Value>(&raw).is_ok(), "{}", raw);
        }
    }
}
