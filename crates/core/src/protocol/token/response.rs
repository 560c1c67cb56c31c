//! Reading a token endpoint's successful answer (RFC 6749 §5.1): the tokens, their type and
//! lifetime, and what to keep when the answer is refused.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::protocol::token_type::TokenType;
use crate::secret::Secret;

/// What a successful token request gave.
#[derive(Debug)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: TokenType,
    /// Seconds, as the provider said, at most [`MAX_LIFETIME_SECONDS`].
    pub expires_in: Option<u64>,
    pub refresh_token: Option<Secret>,
    pub id_token: Option<Secret>,
}

/// The longest access-token lifetime taken as said: a year. A longer one (up to the 2^64 s a
/// provider may write) is cut to it, since it changes nothing but the date a JS `Date` must
/// hold; the session is refreshed or expires long before either way.
pub const MAX_LIFETIME_SECONDS: u64 = 365 * 24 * 60 * 60;

/// A token request that failed, with the new refresh token its answer held, if any: a provider
/// that rotates refresh tokens has spent the old one once it answers, so that token must be kept
/// whatever else in the answer was wrong. Converts into the error for callers with nothing to
/// keep.
#[derive(Debug)]
pub struct Refused {
    pub error: Error,
    pub new_refresh_token: Option<Secret>,
}

impl From<Error> for Refused {
    fn from(error: Error) -> Self {
        Self {
            error,
            new_refresh_token: None,
        }
    }
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Self {
        refused.error
    }
}

/// Whether a token can be sent as it is in an HTTP header (`Authorization: DPoP <token>`), and
/// so be stored at all: visible ASCII only. A control character (CR, LF, NUL) would make every
/// request with it fail, in an error that quotes the header, token and all; a space would
/// change what the header says.
pub fn is_header_safe_token(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_graphic())
}

/// A lifetime in whole seconds, at most [`MAX_LIFETIME_SECONDS`]; `None` for one that is
/// negative or not finite.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "the value is finite, non-negative and clamped to a year before the cast"
)]
fn whole_seconds(seconds: f64) -> Option<u64> {
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| seconds.min(MAX_LIFETIME_SECONDS as f64).round() as u64)
}

/// `expires_in` as the provider wrote it (a number, or a numeric string as some send): `None`
/// when absent, an error when it is not a lifetime.
fn lifetime(value: Option<Value>) -> Result<Option<u64>, &'static str> {
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(whole) => return Ok(Some(whole.min(MAX_LIFETIME_SECONDS))),
            None => n.as_f64(),
        },
        // Empty, as for the token members: absent.
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => return Err("has an expires_in that is not a number"),
    };
    seconds
        .and_then(whole_seconds)
        .map(Some)
        .ok_or("has an expires_in that is not a finite, non-negative number of seconds")
}

/// A token member of a token response: none when absent or empty, refused when it is not a
/// string that can go into a header (the reason, to follow "the token response").
fn take_token(fields: &mut Map<String, Value>, name: &str) -> Result<Option<Secret>, String> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if is_header_safe_token(&s) => Ok(Some(Secret::new(s))),
        Some(Value::String(_)) => Err(format!(
            "has a {name} that is not a valid HTTP header value (it holds a space, a control or a non-ASCII character)"
        )),
        Some(_) => Err(format!("has a {name} that is not a string")),
    }
}

pub(super) fn parse_token_response(url: &str, body: &[u8]) -> Result<TokenResponse, Refused> {
    let bad = |reason: &str| Error::idp_response(url, format!("the token response {reason}"));
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("is not a JSON object").into());
    };
    // First, so that whatever else is wrong, a rotated refresh token is handed back.
    let refresh_token = take_token(&mut fields, "refresh_token").map_err(|r| bad(&r))?;
    let refused = |reason: &str| Refused {
        error: bad(reason),
        new_refresh_token: refresh_token.clone(),
    };
    let access_token = take_token(&mut fields, "access_token")
        .map_err(|r| refused(&r))?
        .ok_or_else(|| refused("has no access_token"))?;
    let id_token = take_token(&mut fields, "id_token").map_err(|r| refused(&r))?;
    let token_type = match fields.remove("token_type") {
        Some(Value::String(t)) if t.eq_ignore_ascii_case("dpop") => TokenType::DPoP,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => TokenType::Bearer,
        None | Some(Value::Null) => return Err(refused("has no token_type")),
        Some(Value::String(t)) if t.is_empty() => return Err(refused("has no token_type")),
        Some(Value::String(_)) => {
            return Err(refused("has a token_type other than DPoP or Bearer"))
        }
        Some(_) => return Err(refused("has a token_type that is not a string")),
    };
    let expires_in = lifetime(fields.remove("expires_in")).map_err(refused)?;
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token,
        id_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenResponse, Refused> {
        parse_token_response("https://idp/token", body.as_bytes())
    }

    #[test]
    fn lifetimes_are_cut_to_a_year_and_nonsense_is_refused_without_a_panic() {
        let with = |expires_in: &str| {
            parse(&format!(
                r#"{{"access_token":"AT","token_type":"DPoP","expires_in":{expires_in}}}"#
            ))
        };
        for (written, seconds) in [
            ("600", Some(600)),
            ("0", Some(0)),
            ("599.6", Some(600)),
            (r#""3600""#, Some(3600)),
            (r#"" 60 ""#, Some(60)),
            ("null", None),
            (r#""""#, None),
            ("9223372036854775808", Some(MAX_LIFETIME_SECONDS)),
            ("18446744073709551615", Some(MAX_LIFETIME_SECONDS)),
            ("1e300", Some(MAX_LIFETIME_SECONDS)),
            ("3e17", Some(MAX_LIFETIME_SECONDS)),
            (r#""9223372036854775808""#, Some(MAX_LIFETIME_SECONDS)),
            (r#""99999999999999999999999""#, Some(MAX_LIFETIME_SECONDS)),
        ] {
            assert_eq!(with(written).unwrap().expires_in, seconds, "{written}");
        }
        for written in [
            "-1",
            "-0.5",
            r#""-1""#,
            r#""soon""#,
            r#""NaN""#,
            r#""inf""#,
            "[]",
            "true",
        ] {
            let refused = with(written).unwrap_err();
            assert!(
                matches!(refused.error, Error::IdpResponse { ref reason, .. } if reason.contains("expires_in")),
                "{written}: {:?}",
                refused.error
            );
        }
        // Far beyond any Date, the expiry stays a number a JS Date holds.
        let tokens = with("3e17").unwrap();
        let at = crate::clock::expiry_from_now(tokens.expires_in.unwrap());
        assert!(at < 8_640_000_000_000_000, "{at}");
    }

    #[test]
    fn tokens_that_are_not_header_values_are_refused_unquoted() {
        for bad in [
            "AT\r\nX-Injected: 1",
            "AT\0",
            "A T",
            "AT\t",
            "\u{e9}t\u{e9}",
            "AT\u{7f}",
        ] {
            for name in ["access_token", "id_token", "refresh_token"] {
                let mut fields = serde_json::json!({"access_token": "AT", "token_type": "DPoP", "expires_in": 60});
                fields[name] = Value::String(bad.to_owned());
                let refused = parse(&fields.to_string()).unwrap_err();
                let message = refused.error.to_string();
                assert!(
                    matches!(refused.error, Error::IdpResponse { .. }) && message.contains(name),
                    "{name} {bad:?}: {message}"
                );
                assert!(
                    message.contains("not a valid HTTP header value"),
                    "{message}"
                );
                assert!(!message.contains("AT"), "{message}");
                assert!(
                    refused.new_refresh_token.is_none(),
                    "a bad refresh token is not one to keep"
                );
            }
        }
        assert!(is_header_safe_token("eyJhbGciOiJFUzI1NiJ9.e30.sig-_~+/="));
        assert!(!is_header_safe_token("a b"));
    }

    #[test]
    fn a_new_refresh_token_is_handed_back_whatever_else_is_wrong() {
        for body in [
            r#"{"refresh_token":"RT-NEW","token_type":"DPoP"}"#,
            r#"{"refresh_token":"RT-NEW","access_token":"A\nT","token_type":"DPoP"}"#,
            r#"{"refresh_token":"RT-NEW","access_token":"AT","token_type":"MAC"}"#,
            r#"{"refresh_token":"RT-NEW","access_token":"AT","token_type":"DPoP","expires_in":-5}"#,
            r#"{"refresh_token":"RT-NEW","access_token":"AT","token_type":"DPoP","id_token":7}"#,
        ] {
            let refused = parse(body).unwrap_err();
            assert!(matches!(refused.error, Error::IdpResponse { .. }), "{body}");
            assert_eq!(
                refused.new_refresh_token.as_ref().map(Secret::expose),
                Some("RT-NEW"),
                "{body}"
            );
            assert!(!refused.error.to_string().contains("RT-NEW"));
        }
    }
}
