//! Generators of input gone wrong: JavaScript strings (unpaired surrogates included) and the
//! JSON `JSON.stringify` writes of them, values of every type, objects with chosen member names,
//! text edits that break JSON, deep nesting, arbitrary text and bytes, and URLs.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::sample::{select, Index};

use super::SECRET;

/// A JavaScript string, as UTF-16 units: plain text, any character, quotes, backslashes,
/// control characters, and surrogates on their own (two in a row may make a pair).
pub fn js_units(max_pieces: usize) -> impl Strategy<Value = Vec<u16>> + Clone {
    const ODD: &[char] = &[
        '"', '\\', '/', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}', '\u{2028}', '\u{feff}', 'é', '😀',
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
        "/", "//", "/a", "/.", "/..", "/%2e%2E", "/%2F", "/a b", "/ü", "/\\x", "/;p=1", "/@", "/:",
        "/%", "/%zz", "/é", "/?", "/#",
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
