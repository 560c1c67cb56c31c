//! Property tests of every parser of outside input: session records and the session list (from
//! storages), token responses and the `DPoP-Nonce` header, discovery documents, JWTs and JSON Web
//! Key Sets (from the identity provider), stored DPoP keys and the URLs proofs are made for, and
//! the redirect back from a login.
//!
//! Each parser gets arbitrary text or bytes, and structured input gone wrong: valid JSON with the
//! wrong types, huge numbers, deep nesting, unpaired surrogate escapes, long strings, empty values
//! and duplicate keys, then edited as text. The properties: the parser returns (no panic), what
//! it refuses it refuses with the crate's typed error, that error quotes no secret of the input,
//! and what it accepts round-trips where a round trip exists.
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's own variable, 256 when unset); the few
//! that verify signatures run a fraction of that, since a debug build verifies slowly. No input
//! exceeds a few hundred kilobytes. `scripts/fuzz-campaign.sh` runs these same properties with
//! many more cases in an optimised build.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use proptest::prelude::*;
use serde_json::Value;

use crate::http::{Http, HttpFailure, HttpRequest, HttpResponse};

/// Generators shared by the parsers' properties.
mod gen {
    use std::fmt::Write as _;

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};
    use proptest::test_runner::FileFailurePersistence;

    /// A token, secret or key value planted in inputs: no error message may quote it.
    pub const SECRET: &str = "SeCrEt7Qm2ZrT8wLk3XvNp";

    /// A property's configuration: `PROPTEST_CASES` cases (256 unless set), divided by `weight`
    /// for properties whose cases are slow. Failures are kept in `target/`, outside the source
    /// tree, and tried first on the next run.
    pub fn config(weight: u32) -> ProptestConfig {
        let base = ProptestConfig::default();
        ProptestConfig {
            cases: (base.cases / weight).max(1),
            // The workspace's target folder: tests run in the crate's own folder.
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/proptest-regressions/fuzz.txt"
            )))),
            ..base
        }
    }

    /// Whether `text` holds `secret` or any 10-character piece of it.
    pub fn leaks_secret(text: &str, secret: &str) -> bool {
        secret
            .as_bytes()
            .windows(10)
            .any(|piece| text.contains(std::str::from_utf8(piece).unwrap_or_default()))
    }

    /// Whether `text` holds [`SECRET`] or a piece of it.
    pub fn leaks(text: &str) -> bool {
        leaks_secret(text, SECRET)
    }

    pub fn b64(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A JavaScript string, as UTF-16 units: plain text, any character, quotes, backslashes,
    /// control characters, and surrogates on their own (two in a row may make a pair).
    pub fn js_units(max_pieces: usize) -> impl Strategy<Value = Vec<u16>> + Clone {
        const ODD: &[char] = &[
            '"', '\\', '/', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}', '\u{2028}', '\u{feff}', 'é',
            '😀',
        ];
        let piece = prop_oneof![
            6 => "[a-zA-Z0-9 ._:/#?&=-]{1,8}".prop_map(|s| s.encode_utf16().collect::<Vec<_>>()),
            2 => any::<char>().prop_map(|c| c.encode_utf16(&mut [0; 2]).to_vec()),
            2 => (0xD800_u16..0xE000).prop_map(|unit| vec![unit]),
            1 => select(ODD).prop_map(|c| c.encode_utf16(&mut [0; 2]).to_vec()),
        ];
        prop::collection::vec(piece, 0..max_pieces).prop_map(|pieces| pieces.concat())
    }

    /// `JSON.stringify` of a JavaScript string: an unpaired surrogate becomes a `\udXXX` escape.
    pub fn js_stringify(units: &[u16]) -> String {
        let mut out = String::from("\"");
        for decoded in char::decode_utf16(units.iter().copied()) {
            match decoded {
                Ok('"') => out.push_str("\\\""),
                Ok('\\') => out.push_str("\\\\"),
                Ok('\u{8}') => out.push_str("\\b"),
                Ok('\u{c}') => out.push_str("\\f"),
                Ok('\n') => out.push_str("\\n"),
                Ok('\r') => out.push_str("\\r"),
                Ok('\t') => out.push_str("\\t"),
                Ok(c) if c < ' ' => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                Ok(c) => out.push(c),
                Err(unpaired) => {
                    let _ = write!(out, "\\u{:04x}", unpaired.unpaired_surrogate());
                }
            }
        }
        out.push('"');
        out
    }

    /// A JSON number that `serde_json` reads: any integer or finite double, and edge cases.
    pub fn number() -> impl Strategy<Value = String> + Clone {
        const EDGES: &[&str] = &[
            "0",
            "-0",
            "-0.0",
            "1E+2",
            "1e-400",
            "123456789012345678901234567890",
            "-123456789012345678901234567890",
            "18446744073709551616",
            "1.7976931348623157e308",
            "5e-324",
            "0.30000000000000004",
        ];
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("JSON has no infinity or NaN", |f| f.is_finite())
                .prop_map(|f| format!("{f:?}")),
            select(EDGES).prop_map(str::to_owned),
        ]
    }

    /// A JSON value as text is built from: unlike `serde_json::Value`, it keeps duplicate keys
    /// and JavaScript strings with unpaired surrogates.
    #[derive(Clone, Debug)]
    pub enum Json {
        Null,
        Bool(bool),
        Num(String),
        Str(Vec<u16>),
        Arr(Vec<Json>),
        Obj(Vec<(Vec<u16>, Json)>),
    }

    impl Json {
        pub fn str(text: &str) -> Self {
            Json::Str(text.encode_utf16().collect())
        }

        pub fn obj(members: Vec<(&str, Json)>) -> Self {
            Json::Obj(
                members
                    .into_iter()
                    .map(|(name, value)| (name.encode_utf16().collect(), value))
                    .collect(),
            )
        }

        /// The JSON text, as `JSON.stringify` writes it.
        pub fn text(&self) -> String {
            let mut out = String::new();
            self.write(&mut out);
            out
        }

        fn write(&self, out: &mut String) {
            match self {
                Json::Null => out.push_str("null"),
                Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Json::Num(n) => out.push_str(n),
                Json::Str(units) => out.push_str(&js_stringify(units)),
                Json::Arr(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        item.write(out);
                    }
                    out.push(']');
                }
                Json::Obj(members) => {
                    out.push('{');
                    for (i, (name, value)) in members.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&js_stringify(name));
                        out.push(':');
                        value.write(out);
                    }
                    out.push('}');
                }
            }
        }

        /// Whether a string in it (a key or a value) holds an unpaired surrogate.
        pub fn has_unpaired(&self) -> bool {
            let unpaired = |units: &Vec<u16>| String::from_utf16(units).is_err();
            match self {
                Json::Null | Json::Bool(_) | Json::Num(_) => false,
                Json::Str(units) => unpaired(units),
                Json::Arr(items) => items.iter().any(Json::has_unpaired),
                Json::Obj(members) => members
                    .iter()
                    .any(|(name, value)| unpaired(name) || value.has_unpaired()),
            }
        }
    }

    /// Any JSON value, nested a few levels.
    pub fn json() -> BoxedStrategy<Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            number().prop_map(Json::Num),
            js_units(6).prop_map(Json::Str),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Arr),
                prop::collection::vec((js_units(3), inner), 0..5).prop_map(Json::Obj),
            ]
        })
        .boxed()
    }

    /// A value for a member that a parser reads: mostly a string (the secret among them), and
    /// every other type, empty and long strings, and nested values.
    pub fn value() -> BoxedStrategy<Json> {
        const WORDS: &[&str] = &[
            "true",
            "false",
            "DPoP",
            "Bearer",
            "null",
            "https://idp.example/",
            "ES256",
            "sig",
        ];
        prop_oneof![
            4 => js_units(6).prop_map(Json::Str),
            2 => Just(Json::str(SECRET)),
            1 => Just(Json::str("")),
            1 => select(WORDS).prop_map(Json::str),
            1 => (1_usize..20_000).prop_map(|n| Json::str(&"x".repeat(n))),
            1 => Just(Json::Null),
            1 => any::<bool>().prop_map(Json::Bool),
            1 => number().prop_map(Json::Num),
            1 => json(),
        ]
        .boxed()
    }

    /// A JSON object whose members are mostly named from `names` (so some names repeat), with
    /// values from [`value`].
    pub fn object(names: &'static [&'static str]) -> BoxedStrategy<Json> {
        let name = prop_oneof![
            4 => select(names).prop_map(|n| n.encode_utf16().collect::<Vec<u16>>()),
            1 => js_units(3),
        ];
        prop::collection::vec((name, value()), 0..8)
            .prop_map(Json::Obj)
            .boxed()
    }

    /// Pieces of JSON and of what breaks it.
    pub const FRAGMENTS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "\\u",
        "\\ud800",
        "\\udfff",
        "\\ud83d\\ude00",
        "\\u0000",
        "\\\\ud800",
        "null",
        "true",
        "1e400",
        "-1e309",
        "123456789012345678901234567890",
        "-0",
        ".5",
        "01",
        "\u{0}",
        "\n",
        " ",
        "\u{feff}",
        "\u{2028}",
        "é",
        "😀",
        "\"issuer\":",
        "\"keys\":",
        "\"\":\"\"",
        "/*",
        "NaN",
        "Infinity",
    ];

    /// One edit of a text.
    #[derive(Clone, Debug)]
    pub enum Edit {
        Delete(Index, usize),
        Insert(Index, String),
        Duplicate(Index, usize),
        Truncate(Index),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let inserted = prop_oneof![
            3 => select(FRAGMENTS).prop_map(str::to_owned),
            1 => "(?s).{1,4}",
        ];
        prop_oneof![
            (any::<Index>(), 1_usize..16).prop_map(|(at, len)| Edit::Delete(at, len)),
            (any::<Index>(), inserted).prop_map(|(at, text)| Edit::Insert(at, text)),
            (any::<Index>(), 1_usize..32).prop_map(|(at, len)| Edit::Duplicate(at, len)),
            any::<Index>().prop_map(Edit::Truncate),
        ]
    }

    /// The char boundary at or before the place `index` picks in `text`.
    fn boundary(text: &str, index: Index) -> usize {
        let mut at = index.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    fn end_of(text: &str, from: usize, len: usize) -> usize {
        let mut end = (from + len).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        end
    }

    fn apply(text: &mut String, edit: &Edit) {
        match edit {
            Edit::Delete(at, len) => {
                let from = boundary(text, *at);
                let to = end_of(text, from, *len);
                text.replace_range(from..to, "");
            }
            Edit::Insert(at, inserted) => {
                let at = boundary(text, *at);
                text.insert_str(at, inserted);
            }
            Edit::Duplicate(at, len) => {
                let from = boundary(text, *at);
                let to = end_of(text, from, *len);
                let copy = text[from..to].to_owned();
                text.insert_str(to, &copy);
            }
            Edit::Truncate(at) => {
                let at = boundary(text, *at);
                text.truncate(at);
            }
        }
    }

    /// `text`, edited one to four times.
    pub fn edited(text: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        (text, prop::collection::vec(edit(), 1..5)).prop_map(|(mut text, edits)| {
            for edit in &edits {
                apply(&mut text, edit);
            }
            text
        })
    }

    /// Arrays and objects nested up to 3000 deep (past `serde_json`'s limit of 128), closed or not.
    pub fn deep() -> impl Strategy<Value = String> {
        const SHAPES: &[(&str, &str)] = &[("[", "]"), ("{\"a\":", "}"), ("[{\"k\":[", "]}]")];
        (1_usize..3000, select(SHAPES), any::<bool>()).prop_map(|(depth, (open, close), closed)| {
            let mut text = open.repeat(depth);
            text.push('1');
            if closed {
                text.push_str(&close.repeat(depth));
            }
            text
        })
    }

    /// Any text: arbitrary characters, runs of JSON fragments, deep nesting.
    pub fn any_text() -> BoxedStrategy<String> {
        prop_oneof![
            "(?s).{0,64}",
            prop::collection::vec(select(FRAGMENTS), 0..24).prop_map(|pieces| pieces.concat()),
            deep(),
        ]
        .boxed()
    }

    /// Any bytes: arbitrary ones (not UTF-8, mostly) and [`any_text`].
    pub fn any_bytes() -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            any_text().prop_map(String::into_bytes),
        ]
        .boxed()
    }

    /// Input for a parser of JSON objects whose members are named from `names`: arbitrary text,
    /// any JSON, objects with those members, and both edited as text.
    pub fn json_input(names: &'static [&'static str]) -> BoxedStrategy<String> {
        prop_oneof![
            2 => any_text(),
            1 => json().prop_map(|j| j.text()),
            3 => object(names).prop_map(|j| j.text()),
            3 => edited(object(names).prop_map(|j| j.text())),
            1 => edited(json().prop_map(|j| j.text())),
        ]
        .boxed()
    }

    /// A URL, or something close to one: odd schemes and separators, userinfo holding the secret,
    /// IPv4, IPv6 and internationalised hosts, odd ports, paths with `//`, dot segments and
    /// percent-encodings, a query holding the secret, fragments.
    pub fn url() -> BoxedStrategy<String> {
        const SCHEMES: &[&str] = &[
            "http",
            "https",
            "HTTP",
            "hTtPs",
            "ftp",
            "ws",
            "wss",
            "file",
            "data",
            "javascript",
            "mailto",
            "urn",
            "git+ssh",
            "",
        ];
        const SEPARATORS: &[&str] = &["://", "://", "://", ":", ":/", ":///", ":\\\\", "//"];
        const HOSTS: &[&str] = &[
            "idp.example",
            "IdP.Example",
            "localhost",
            "127.0.0.1",
            "0x7f.1",
            "1.2.3",
            "256.0.0.1",
            "[::1]",
            "[FE80::1]",
            "[::ffff:1.2.3.4]",
            "[fe80::1%25eth0]",
            "[::1",
            "::1",
            "bücher.example",
            "xn--bcher-kva.example",
            "%41.example",
            "exa mple.com",
            "a..b",
            "example.com.",
            "",
        ];
        const PORTS: &[&str] = &[
            ":", ":0", ":80", ":443", ":8443", ":65535", ":65536", ":-1", ":abc", ":0080",
        ];
        const SEGMENTS: &[&str] = &[
            "/", "//", "/a", "/.", "/..", "/%2e%2E", "/%2F", "/a b", "/ü", "/\\x", "/;p=1", "/@",
            "/:", "/%", "/%zz", "/é", "/?", "/#",
        ];
        let userinfo = prop_oneof![
            Just(format!("user:{SECRET}@")),
            Just("user@".to_owned()),
            Just(":@".to_owned()),
            Just("us%40er:p%3Ass@".to_owned()),
        ];
        let host = prop_oneof![
            8 => select(HOSTS).prop_map(str::to_owned),
            1 => "[a-z0-9.-]{1,12}",
            1 => (1_usize..400).prop_map(|n| "h".repeat(n)),
        ];
        let path = prop::collection::vec(
            prop_oneof![
                3 => select(SEGMENTS).prop_map(str::to_owned),
                1 => "[a-z0-9%/.]{0,10}",
            ],
            0..5,
        )
        .prop_map(|segments| segments.concat());
        let query = prop_oneof![
            Just("?".to_owned()),
            Just(format!("?q={SECRET}")),
            Just("?a=1&b=2".to_owned()),
            Just("?%".to_owned()),
            Just("??".to_owned()),
        ];
        let fragment = prop_oneof![
            Just("#".to_owned()),
            Just("#f".to_owned()),
            Just("#a?b".to_owned()),
        ];
        let built = (
            select(SCHEMES),
            select(SEPARATORS),
            proptest::option::of(userinfo),
            host,
            proptest::option::of(select(PORTS)),
            path,
            proptest::option::of(query),
            proptest::option::of(fragment),
        )
            .prop_map(
                |(scheme, separator, userinfo, host, port, path, query, fragment)| {
                    format!(
                        "{scheme}{separator}{}{host}{}{path}{}{}",
                        userinfo.unwrap_or_default(),
                        port.unwrap_or_default(),
                        query.unwrap_or_default(),
                        fragment.unwrap_or_default()
                    )
                },
            );
        prop_oneof![8 => built, 1 => "(?s).{0,40}"].boxed()
    }
}

use gen::{
    any_bytes, any_text, b64, config, edited, js_stringify, js_units, json, json_input, leaks,
    object, url, value, Json, SECRET,
};

/// Answers requests from a list, in order, and counts them.
struct Answers {
    answers: RefCell<VecDeque<HttpResponse>>,
    sent: Cell<usize>,
}

impl Answers {
    fn new(answers: Vec<HttpResponse>) -> Self {
        Self {
            answers: RefCell::new(answers.into()),
            sent: Cell::new(0),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Http for Answers {
    async fn send(&self, _: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        self.sent.set(self.sent.get() + 1);
        self.answers
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| HttpFailure::Unreachable("no more answers".to_owned()))
    }
}

/// A session record (`solidClientAuthenticationUser:<id>`).
mod record {
    use super::*;
    use crate::error::Error;
    use crate::record::Record;

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
    const UNPAIRED: &str = "the data stored under \"solidClientAuthenticationUser:s-1\" is corrupted: a string in it holds an unpaired UTF-16 surrogate (a \\uD800-\\uDFFF escape), which this package cannot represent";

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
}

/// The session list (`solidClientAuthn:registeredSessions`): `parse_ids`, `check_ids`,
/// `serialize_ids`.
mod session_list {
    use super::*;
    use crate::error::Error;
    use crate::storage::registry::{check_ids, parse_ids, serialize_ids, ListedId};
    use crate::storage::REGISTERED_SESSIONS_KEY;

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
    }
}

/// What a restore reads from a session record: `StoredSession::parse`, whose fast path must
/// agree with the record path on every input.
mod stored_session {
    use super::*;
    use crate::error::Error;
    use crate::stored_session::StoredSession;

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
                crate::session::SessionRecord::parse(KEY, &raw).and_then(|r| StoredSession::from_record("s-1", &r));
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
    }
}

/// Unpaired UTF-16 surrogates in stored JSON (`surrogates`).
mod surrogates {
    use super::*;
    use crate::surrogates::{only_unpaired_surrogates_in_json, only_unpaired_surrogates_in_string};

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
}

/// Token responses and the `DPoP-Nonce` header (`token::request`): parsing the body, the OAuth
/// error of a refusal, the one retry with a fresh nonce, the nonce kept per origin.
///
/// `WWW-Authenticate` is not read in Rust: a resource server's nonce request is handled in
/// `lib/session.js`. It is among the headers generated here, and must change nothing.
mod token_response {
    use super::*;
    use crate::error::Error;
    use crate::protocol::token::{
        origin_of, request, ClientAuth, NonceCache, ProofSigner, MAX_NONCE_BYTES,
    };
    use crate::stored_session::TokenType;
    use crate::testing::block_on;

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
            1 => super::gen::number().prop_map(Json::Num),
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
}

/// Compact JWTs (`jwt::decode`, `UnverifiedJwt::verify`, `jwt::check_claims`) and the WebID read
/// from their claims.
mod jwt {
    use std::sync::OnceLock;

    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::Map;

    use super::*;
    use crate::protocol::jwt::{check_claims, decode, JwkSet, JwtError};

    /// An ES256 key that signs any header and claims.
    pub struct Es256 {
        pair: EcdsaKeyPair,
        pub x: String,
        pub y: String,
    }

    pub fn es256() -> &'static Es256 {
        static KEY: OnceLock<Es256> = OnceLock::new();
        KEY.get_or_init(|| {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            let point = pair.public_key().as_ref()[1..].to_vec();
            let (x, y) = point.split_at(32);
            Es256 {
                x: b64(x),
                y: b64(y),
                pair,
            }
        })
    }

    impl Es256 {
        pub fn sign(&self, header: &str, claims: &str) -> String {
            let input = format!("{}.{}", b64(header), b64(claims));
            let signature = self
                .pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap();
            format!("{input}.{}", b64(signature))
        }

        /// The public JWK, with `kid` when given.
        pub fn jwk(&self, kid: Option<&str>) -> Json {
            let mut members = vec![
                ("kty", Json::str("EC")),
                ("crv", Json::str("P-256")),
                ("x", Json::str(&self.x)),
                ("y", Json::str(&self.y)),
                ("alg", Json::str("ES256")),
            ];
            if let Some(kid) = kid {
                members.push(("kid", Json::str(kid)));
            }
            Json::obj(members)
        }
    }

    /// The 2048-bit RSA key "rs-1" of the unit tests (made by Node).
    pub const RSA_N: &str = "otjd_eLaQskwJhx5lkHHGA1hkozpSpFEjnwYuUB-OO947iBgD0ejjbs8VHr9_ASZGD_2QnS0uI9JIgpNocqj_lvJTglsvDWTo41Ke4V-Dejgoja_3GkdojvBcAEJCMCAWWTmjaWHCvi7LRiCg5wmtXZy6I6Urgir4qpTv6NX5tWz0gbYQo4Q2_5q9pz-zEOCq3V7cj7F_SA2vVccivihYzhoHA-bV7ZvE2PbCRmA87kzmlqQGyJBU8-tK2FrjN3lUW92hOGvB3mn42R4mVl4c_BysaW0lQd0sdTY1DyAFstu9j0DoKxP0fVyCsOW2dW5WV_OPym_qXQIpKMoM0RmyQ";

    /// Kids a generated key may have: never "es-1", the kid of the one key that signs.
    pub const KIDS: &[&str] = &["rs-1", "k1", "k2", "", "ES256"];

    /// A JWK that is wrong in some way, or right but for another key: every `kty`, `crv`,
    /// coordinates and moduli of every length (or not base64url, or not strings), every `use`,
    /// `key_ops` and `alg`.
    pub fn odd_jwk() -> BoxedStrategy<Json> {
        use prop::sample::select;
        const KEY_OPS: &[&[&str]] = &[&["verify"], &["sign"], &[], &["verify", "sign"]];
        fn member(values: BoxedStrategy<Json>) -> BoxedStrategy<Option<Json>> {
            proptest::option::weighted(0.8, values).boxed()
        }
        fn strings(values: &'static [&'static str]) -> BoxedStrategy<Json> {
            prop_oneof![4 => select(values).prop_map(Json::str), 1 => value()].boxed()
        }
        let bytes = |max: usize| {
            prop_oneof![
                4 => prop::collection::vec(any::<u8>(), 0..max).prop_map(|b| Json::str(&b64(b))),
                1 => select(&["AA==", "!!", "+/+/", "AAAA AAAA", "A"][..]).prop_map(Json::str),
                1 => value(),
            ]
            .boxed()
        };
        let coordinate = prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 32).prop_map(|b| Json::str(&b64(b))),
            1 => bytes(48),
        ]
        .boxed();
        let modulus = prop_oneof![
            2 => Just(Json::str(RSA_N)),
            1 => Just(Json::str(&format!("AAAA{RSA_N}"))),
            2 => prop::collection::vec(any::<u8>(), 250..1100).prop_map(|b| Json::str(&b64(b))),
            1 => bytes(64),
        ]
        .boxed();
        let key_ops = prop_oneof![
            select(KEY_OPS).prop_map(|ops| Json::Arr(ops.iter().map(|op| Json::str(op)).collect())),
            value(),
        ]
        .boxed();
        (
            member(strings(&["EC", "RSA", "OKP", "oct", "ec", ""])),
            member(strings(&[
                "P-256",
                "P-384",
                "secp256k1",
                "Ed25519",
                "p-256",
            ])),
            member(coordinate.clone()),
            member(coordinate),
            member(modulus),
            member(strings(&[
                "AQAB",
                "AQ",
                "Aw",
                "AA",
                "AQAAAAAAAAAB",
                "AAEAAQ",
            ])),
            member(strings(&["sig", "enc", ""])),
            proptest::option::weighted(0.2, key_ops),
            member(strings(&[
                "ES256", "RS256", "none", "HS256", "RSA-OAEP", "es256",
            ])),
            member(strings(KIDS)),
        )
            .prop_map(|(kty, crv, x, y, n, e, key_use, key_ops, alg, kid)| {
                let members = [
                    ("kty", kty),
                    ("crv", crv),
                    ("x", x),
                    ("y", y),
                    ("n", n),
                    ("e", e),
                    ("use", key_use),
                    ("key_ops", key_ops),
                    ("alg", alg),
                    ("kid", kid),
                ];
                Json::obj(
                    members
                        .into_iter()
                        .filter_map(|(name, value)| value.map(|v| (name, v)))
                        .collect(),
                )
            })
            .boxed()
    }

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
}

/// JSON Web Key Sets (`JwkSet::parse`, `has_kid`) and the cache that fetches them.
mod jwks {
    use super::jwt::{es256, odd_jwk};
    use super::*;
    use crate::error::Error;
    use crate::protocol::jwks::JwksCache;
    use crate::protocol::jwt::{JwkSet, JwtError};
    use crate::testing::block_on;

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
}

/// DPoP: `htu` normalisation, stored keys (`DpopKey::from_stored`), and proofs.
mod dpop {
    use std::sync::OnceLock;

    use proptest::sample::Index;

    use super::*;
    use crate::protocol::dpop::{access_token_hash, htu, DpopError, DpopKey};
    use crate::protocol::jwt::{decode, JwkSet};

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
}

/// The redirect back from a login (`authorization::Callback`).
mod redirect {
    use super::*;
    use crate::error::Error;
    use crate::grants::authorization_code::Callback;

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
            (name, proptest::option::weighted(0.9, param_value)).prop_map(|(name, value)| {
                match value {
                    Some(value) if value == CODE && name != "code" => format!("{name}=x"),
                    Some(value) => format!("{name}={value}"),
                    None => name,
                }
            });
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
                    let has_code = |text: &str| gen::leaks_secret(text, CODE);
                    let elsewhere = kept.iter().any(|(k, v)| has_code(k) || has_code(v))
                        || url.fragment().is_some_and(has_code)
                        || has_code(url.path());
                    prop_assert!(elsewhere || !gen::leaks_secret(&uri, CODE), "{uri}");
                    let again = Callback::parse(&uri);
                    prop_assert!(matches!(again, Err(Error::InvalidRedirect { .. })), "{}", uri);
                }
                Err(e) => {
                    prop_assert!(matches!(e, Error::InvalidRedirect { .. }), "{e:?}");
                    prop_assert!(!gen::leaks_secret(&e.to_string(), CODE), "{e}");
                }
            }
        }
    }
}

/// Discovery documents (`discovery::parse`) and the `issuerConfig` record written from them.
mod discovery {
    use super::*;
    use crate::error::Error;
    use crate::protocol::discovery::{issuer_config_record, parse};

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
}
