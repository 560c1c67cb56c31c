//! The session record as logins write it, a flat JSON object whose values are strings, read by
//! hand: a restore is the hot path, and serde spent a third of a restore from memory stepping
//! through the escaped quotes of the two JWK fields, one short segment at a time.
//!
//! This reader takes only text it can judge with certainty to read as `serde_json::Value` reads
//! it: keys without escapes, values that are strings (with no `\u` escape, the one place where
//! skipping a string is laxer than decoding it) or null, each field read once. It gives up on
//! anything else, which serde then reads (`StoredSession::parse_fast`), so a record it cannot
//! take costs a little more, never a different answer.

use super::{FieldName, RestoreFields};

const fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_space(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    i
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The bytes of `word` (eight, little-endian) that end a run of plain string text (a quote, a
/// backslash, a control character), each flagged by its high bit. Only the lowest flag is sure
/// (a borrow can flag a byte above a real one), and only the lowest is used.
const fn specials(word: u64) -> u64 {
    const fn zero_bytes(v: u64) -> u64 {
        v.wrapping_sub(ONES) & !v
    }
    let quotes = zero_bytes(word ^ (ONES * b'"' as u64));
    let backslashes = zero_bytes(word ^ (ONES * b'\\' as u64));
    let controls = word.wrapping_sub(ONES * 0x20) & !word;
    (quotes | backslashes | controls) & (ONES * 0x80)
}

/// The index of the first byte from `i` on that is not plain string text, eight bytes at a
/// time; the length of `bytes` when there is none.
fn plain_run_end(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let found = specials(u64::from_le_bytes(word));
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    bytes[i.min(bytes.len())..]
        .iter()
        .position(|&b| matches!(b, b'"' | b'\\' | 0..=0x1f))
        .map_or(bytes.len(), |at| i + at)
}

/// The end (past the closing quote) of the string literal that starts at `start`, and whether it
/// holds an escape; `None` for anything this reader leaves to serde (a `\u` escape, an invalid
/// escape, a control character, no end).
fn string_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut i = start + 1;
    loop {
        i = plain_run_end(bytes, i);
        match *bytes.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                if !matches!(
                    bytes.get(i + 1)?,
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't'
                ) {
                    return None;
                }
                escaped = true;
                i += 2;
            }
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// The raw text of the fields a restore reads, when `raw` is a record this reader takes.
pub(super) fn fields(raw: &str) -> Option<RestoreFields<'_>> {
    let bytes = raw.as_bytes();
    let mut fields = RestoreFields::default();
    let mut i = skip_space(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_space(bytes, i + 1);
    if bytes.get(i) == Some(&b'}') {
        return (skip_space(bytes, i + 1) == bytes.len()).then_some(fields);
    }
    loop {
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = string_end(bytes, i)?;
        if escaped {
            return None;
        }
        let name = FieldName::of(&raw[i + 1..key_end - 1]);
        i = skip_space(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_space(bytes, i + 1);
        let end = match bytes.get(start)? {
            b'"' => string_end(bytes, start)?.0,
            b'n' if bytes[start..].starts_with(b"null") => start + 4,
            _ => return None,
        };
        if let Some(slot) = fields.slot(&name) {
            // A field given twice: serde, then the record path, say which counts or what is wrong.
            if slot.is_some() {
                return None;
            }
            *slot = Some(&raw[start..end]);
        }
        i = skip_space(bytes, end);
        match bytes.get(i)? {
            b',' => i = skip_space(bytes, i + 1),
            b'}' => return (skip_space(bytes, i + 1) == bytes.len()).then_some(fields),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(raw: &str) -> Option<[Option<&str>; 6]> {
        fields(raw).map(|f| {
            [
                f.issuer,
                f.web_id,
                f.client_app_id,
                f.refresh_token,
                f.dpop,
                f.keep_alive,
            ]
        })
    }

    #[test]
    fn plain_runs_end_where_a_byte_by_byte_scan_ends_them() {
        let special = |b: u8| matches!(b, b'"' | b'\\' | 0..=0x1f);
        // Every interesting byte at every offset of a 20-byte run, after every other one.
        for first in [b'a', b'"', b'\\', 0, 0x1f, 0x20, 0x7f, 0x80, 0xe9, 0xff] {
            for second in [b'"', b'\\', 0x01, 0x1f, 0x21, 0x5b, 0x5d, 0xa2, 0xdc, 0xff] {
                for at in 0..20 {
                    let mut bytes = vec![b'x'; 20];
                    bytes[at] = first;
                    if at + 1 < 20 {
                        bytes[at + 1] = second;
                    }
                    for start in 0..=20 {
                        let expected = bytes[start..]
                            .iter()
                            .position(|&b| special(b))
                            .map_or(20, |i| start + i);
                        assert_eq!(
                            plain_run_end(&bytes, start),
                            expected,
                            "{bytes:?} from {start}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn takes_flat_records_of_strings() {
        let raw = r#" {"issuer":"https://i/","publicKey":"{\"kty\":\"EC\"}", "webId" : null ,"dpop":"true"} "#;
        assert_eq!(
            taken(raw),
            Some([
                Some(r#""https://i/""#),
                Some("null"),
                None,
                None,
                Some(r#""true""#),
                None
            ])
        );
        assert_eq!(taken("{}"), Some([None; 6]));
    }

    #[test]
    fn leaves_everything_else_to_serde() {
        for raw in [
            r#"{"issuer":"a","issuer":"b"}"#,
            r#"{"issuer":"\u0061"}"#,
            r#"{"other":"\ud800"}"#,
            r#"{"iss\"uer":"a"}"#,
            r#"{"issuer":"a\x"}"#,
            "{\"issuer\":\"a\u{1}\"}",
            r#"{"issuer":1}"#,
            r#"{"other":{}}"#,
            r#"{"other":nul}"#,
            r#"{"issuer":"a",}"#,
            r#"{"issuer":"a"} x"#,
            r#"{"issuer":"a""#,
            r#"{"issuer" "a"}"#,
            r#"["issuer"]"#,
            r"{,}",
            "",
        ] {
            assert!(fields(raw).is_none(), "{raw}");
        }
    }
}
