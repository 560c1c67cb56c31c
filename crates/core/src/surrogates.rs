//! Unpaired UTF-16 surrogates in stored JSON.
//!
//! JS strings may hold unpaired surrogates and `JSON.stringify` writes them as `\uD800`-style
//! escapes, which `JSON.parse` reads back. A Rust string cannot hold one, so `serde_json` refuses
//! such an escape. These helpers tell that case apart from other bad JSON, so that it is kept
//! (session lists) or reported for what it is (records), never silently changed.

use std::fmt::Write as _;

/// The UTF-16 unit of a `\uXXXX` escape at the start of `s`.
fn hex_escape(s: &str) -> Option<u16> {
    let hex = s.strip_prefix("\\u")?.get(..4)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(hex, 16).ok()
}

fn is_high(unit: u16) -> bool {
    (0xD800..0xDC00).contains(&unit)
}

fn is_low(unit: u16) -> bool {
    (0xDC00..0xE000).contains(&unit)
}

/// `text` with each unpaired surrogate escape replaced by `\ufffd`, or `None` if it has none.
fn without_unpaired_escapes(text: &str) -> Option<String> {
    let mut patched = String::with_capacity(text.len());
    let mut rest = text;
    let mut found = false;
    while let Some(at) = rest.find('\\') {
        patched.push_str(&rest[..at]);
        rest = &rest[at..];
        let taken = match hex_escape(rest) {
            Some(unit)
                if is_high(unit) && rest.get(6..).and_then(hex_escape).is_some_and(is_low) =>
            {
                12
            }
            Some(unit) if is_high(unit) || is_low(unit) => {
                patched.push_str("\\ufffd");
                found = true;
                rest = &rest[6..];
                continue;
            }
            Some(_) => 6,
            // Any other escape: the backslash and the character after it.
            None => 1 + rest[1..].chars().next().map_or(0, char::len_utf8),
        };
        patched.push_str(&rest[..taken]);
        rest = &rest[taken..];
    }
    patched.push_str(rest);
    found.then_some(patched)
}

/// Whether a JSON string literal that `serde_json` cannot decode fails only because of unpaired
/// surrogate escapes.
pub fn only_unpaired_surrogates_in_string(literal: &str) -> bool {
    without_unpaired_escapes(literal)
        .is_some_and(|patched| serde_json::from_str::<String>(&patched).is_ok())
}

/// Whether a JSON text that `serde_json` cannot parse fails only because of unpaired surrogate
/// escapes.
pub fn only_unpaired_surrogates_in_json(text: &str) -> bool {
    without_unpaired_escapes(text)
        .is_some_and(|patched| serde_json::from_str::<serde::de::IgnoredAny>(&patched).is_ok())
}

/// UTF-16 text from JS (a stored value a JS storage answered with) as a Rust string, each
/// unpaired surrogate written as the `\uXXXX` escape `JSON.stringify` writes, which is the same
/// JSON inside a JSON string; `None` when one follows a backslash, where an escape would change
/// what the text means.
pub fn escape_unpaired(units: &[u16]) -> Option<String> {
    let mut text = String::with_capacity(units.len());
    let mut backslashes = 0_usize;
    for decoded in char::decode_utf16(units.iter().copied()) {
        match decoded {
            Ok(c) => {
                text.push(c);
                backslashes = if c == '\\' { backslashes + 1 } else { 0 };
            }
            Err(_) if backslashes % 2 == 1 => return None,
            Err(unpaired) => {
                let _ = write!(text, "\\u{:x}", unpaired.unpaired_surrogate());
                backslashes = 0;
            }
        }
    }
    Some(text)
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_unpaired_surrogates_as_json_stringify_does() {
        let units = |text: &str| text.encode_utf16().collect::<Vec<u16>>();
        let mut lone = units(r#"{"a":"x"#);
        lone.extend([0xD800, u16::from(b'"'), u16::from(b'}')]);
        assert_eq!(
            escape_unpaired(&lone).as_deref(),
            Some(r#"{"a":"x\ud800"}"#)
        );
        assert_eq!(
            escape_unpaired(&[0xDC00, 0xD83D, 0xDE00]).as_deref(),
            Some("\\udc00\u{1f600}")
        );
        assert_eq!(escape_unpaired(&units("plain")).as_deref(), Some("plain"));
        // After an odd run of backslashes an escape would be read as an escaped backslash.
        assert_eq!(escape_unpaired(&[u16::from(b'\\'), 0xD800]), None);
        assert_eq!(
            escape_unpaired(&[u16::from(b'\\'), u16::from(b'\\'), 0xD800]).as_deref(),
            Some("\\\\\\ud800")
        );
    }

    #[test]
    fn tells_unpaired_surrogates_from_other_faults() {
        assert!(only_unpaired_surrogates_in_string(r#""a\ud800""#));
        assert!(only_unpaired_surrogates_in_string(
            r#""\udc00\ud800\ud800""#
        ));
        assert!(
            !only_unpaired_surrogates_in_string(r#""\ud83d\ude00""#),
            "a pair"
        );
        assert!(
            !only_unpaired_surrogates_in_string(r#""\\ud800""#),
            "an escaped backslash"
        );
        assert!(!only_unpaired_surrogates_in_string(r#""\ud800\x""#));
        assert!(!only_unpaired_surrogates_in_string(r#""\ud8""#));
        assert!(only_unpaired_surrogates_in_json(
            r#"{"webId":"w\udfff","a":"é"}"#
        ));
        assert!(!only_unpaired_surrogates_in_json(r#"{"webId":"w\udfff""#));
    }
}
