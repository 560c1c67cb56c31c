//! Text from outside the process as it may appear in an error message or a log line.
//!
//! A user names their own identity provider, and a caller may pass a session id straight from a
//! cookie, so an issuer, an error description, a URL or a key can be anything an attacker likes:
//! megabytes long, holding newlines that forge log lines, ANSI escapes that repaint a terminal,
//! or a `user:password@` that must not be printed. Everything such a text goes through here
//! before it is put into a message: cut to a bounded length, control characters escaped, and the
//! user information of URLs replaced.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How many characters of one outside text a message quotes.
pub const MAX_CHARS: usize = 200;

/// How many characters of a whole reason a message keeps. Reasons are ours, but some quote
/// outside texts (each cut to [`MAX_CHARS`] already); this bound is the net under them.
pub const REASON_MAX_CHARS: usize = 1_000;

/// `text` fit for a message: at most [`MAX_CHARS`] characters, control characters escaped, and
/// the user information of any URL in it replaced.
pub fn text(text: &str) -> String {
    bounded(&without_userinfo(text), MAX_CHARS)
}

/// A reason we wrote, which may quote outside text: as [`text`], with the larger bound.
pub fn reason(reason: &str) -> String {
    bounded(&without_userinfo(reason), REASON_MAX_CHARS)
}

/// At most `max_chars` characters of `text`, each control character (and each character that
/// can reorder or break a line when printed) written as `\u{..}`, and a note of how much was
/// left out.
pub fn bounded(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars + 32));
    for (count, (at, c)) in text.char_indices().enumerate() {
        if count == max_chars {
            let rest = text[at..].chars().count();
            let _ = write!(out, "… ({rest} more characters)");
            break;
        }
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        // Line and paragraph separators end a line in some viewers; the bidirectional
        // embeddings, overrides and isolates make a text read differently from what it holds.
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with the user information (`user:password@`) of every URL in it replaced by
/// `[redacted]`.
fn without_userinfo(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        // The authority ends where the path, query or fragment starts, or where the URL does.
        let authority_end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            out.push_str("[redacted]@");
            rest = &rest[at + 1..];
        } else {
            out.push_str(&rest[..authority_end]);
            rest = &rest[authority_end..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_plain_text_is_left_as_it_is() {
        assert_eq!(text("https://idp.example/"), "https://idp.example/");
        assert_eq!(text("naïve — ünïcode"), "naïve — ünïcode");
        assert_eq!(text(""), "");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            text("a\r\nb\u{1b}[31mred\u{0}\u{7f}\u{85}"),
            "a\\u{d}\\u{a}b\\u{1b}[31mred\\u{0}\\u{7f}\\u{85}"
        );
        assert_eq!(text("x\u{202e}y\u{2028}"), "x\\u{202e}y\\u{2028}");
    }

    #[test]
    fn long_text_is_cut_and_says_how_much_is_left_out() {
        let long = "é".repeat(4_000_000);
        let quoted = text(&long);
        assert!(quoted.starts_with(&"é".repeat(MAX_CHARS)));
        assert!(quoted.ends_with("… (3999800 more characters)"), "{quoted}");
        assert!(quoted.chars().count() < MAX_CHARS + 40);
        assert_eq!(text(&"a".repeat(MAX_CHARS)), "a".repeat(MAX_CHARS));
    }

    #[test]
    fn user_information_in_urls_is_replaced() {
        assert_eq!(
            text("https://alice:s3cret@idp.example/x?y=1"),
            "https://[redacted]@idp.example/x?y=1"
        );
        assert_eq!(
            reason("error sending request for url (http://u:p@h:3000/token): refused; then https://a@b"),
            "error sending request for url (http://[redacted]@h:3000/token): refused; then https://[redacted]@b"
        );
        // An @ in the path or query is not user information.
        assert_eq!(
            text("https://idp.example/users/@alice?by=a@b"),
            "https://idp.example/users/@alice?by=a@b"
        );
        assert_eq!(text("mailto:a@b"), "mailto:a@b");
    }

    #[test]
    fn a_reason_is_bounded_more_loosely() {
        let long = "x".repeat(5_000);
        assert!(reason(&long).starts_with(&"x".repeat(REASON_MAX_CHARS)));
        assert!(reason(&long).ends_with("… (4000 more characters)"));
    }
}
