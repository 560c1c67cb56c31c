//! What a session record says about a session, read the way the reference reads it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::Result;
use crate::protocol::token_type::TokenType;
use crate::secret::Secret;
use crate::session::SessionRecord;

/// The fields a restore reads, borrowed from the stored text; every other field is read as
/// `serde_json::Value` would read it (`ReadsAsValue`) without being built, in the same pass.
/// Restores are the hot path: one per request in a multi-user server, and one pass over the
/// record instead of two (a check, then the fields) is a tenth of a restore from memory.
#[derive(Default)]
struct RestoreFields<'a> {
    issuer: Option<&'a str>,
    web_id: Option<&'a str>,
    client_app_id: Option<&'a str>,
    refresh_token: Option<&'a str>,
    dpop: Option<&'a str>,
    keep_alive: Option<&'a str>,
    /// Whether a field not read is something `RawValue` may have taken where `Value` would not
    /// (anything but a plain string): the whole text is then read as `Value` reads it, since
    /// how deep a value nests counts from the record's top.
    unchecked: bool,
}

/// A record's field name: one a restore reads, or another.
enum FieldName {
    Issuer,
    WebId,
    ClientAppId,
    RefreshToken,
    Dpop,
    KeepAlive,
    Other,
}

impl<'a> RestoreFields<'a> {
    /// Where the raw text of field `name` goes; `None` for a field a restore does not read.
    fn slot(&mut self, name: &FieldName) -> Option<&mut Option<&'a str>> {
        Some(match name {
            FieldName::Issuer => &mut self.issuer,
            FieldName::WebId => &mut self.web_id,
            FieldName::ClientAppId => &mut self.client_app_id,
            FieldName::RefreshToken => &mut self.refresh_token,
            FieldName::Dpop => &mut self.dpop,
            FieldName::KeepAlive => &mut self.keep_alive,
            FieldName::Other => return None,
        })
    }
}

impl FieldName {
    fn of(name: &str) -> Self {
        match name {
            "issuer" => FieldName::Issuer,
            "webId" => FieldName::WebId,
            "clientAppId" => FieldName::ClientAppId,
            "refreshToken" => FieldName::RefreshToken,
            "dpop" => FieldName::Dpop,
            "keepAlive" => FieldName::KeepAlive,
            _ => FieldName::Other,
        }
    }
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_str(FieldNameVisitor)
    }
}

struct FieldNameVisitor;

impl serde::de::Visitor<'_> for FieldNameVisitor {
    type Value = FieldName;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, name: &str) -> std::result::Result<FieldName, E> {
        Ok(FieldName::of(name))
    }
}

/// Whether `raw`, a value `RawValue` took, is a string that reads as `serde_json::Value` reads
/// it. `RawValue` skips strings without decoding them, and is laxer than `Value` only about
/// `\u` escapes (unpaired surrogates) there; the fields a restore does not read are mostly
/// strings with quotes escaped (the JWKs), which are then skipped, not decoded.
fn plain_string_text(raw: &str) -> bool {
    raw.starts_with('"') && !raw.contains("\\u")
}

impl<'de: 'a, 'a> Deserialize<'de> for RestoreFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(RestoreFieldsVisitor(std::marker::PhantomData))
    }
}

struct RestoreFieldsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for RestoreFieldsVisitor<'a> {
    type Value = RestoreFields<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a session record")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut members: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut fields = RestoreFields::default();
        while let Some(name) = members.next_key::<FieldName>()? {
            let Some(slot) = fields.slot(&name) else {
                let raw = members.next_value::<&'de RawValue>()?;
                fields.unchecked |= !plain_string_text(raw.get());
                continue;
            };
            // A field given twice: the record path says which one counts, or what is wrong.
            if slot.is_some() {
                return Err(serde::de::Error::custom("duplicate field"));
            }
            // Taken as its raw text: `plain_string` reads it strictly, and sends anything but a
            // string or null to the record path.
            *slot = Some(members.next_value::<&'de RawValue>()?.get());
        }
        Ok(fields)
    }
}

/// A field that is absent, null, or a string; `None` for anything else (the slow path then
/// names the problem).
#[allow(
    clippy::option_option,
    reason = "the outer None says the fast path cannot take the field; the inner one that it is absent"
)]
fn plain_string(raw: Option<&str>) -> Option<Option<Cow<'_, str>>> {
    let Some(text) = raw else { return Some(None) };
    if text == "null" {
        return Some(None);
    }
    if !text.starts_with('"') {
        return None;
    }
    let value: Cow<'_, str> = if let Some(inner) = unescaped_literal(text) {
        // What serde reads from it, without serde's setup for one short string.
        Cow::Borrowed(inner)
    } else if let Ok(borrowed) = serde_json::from_str::<&str>(text) {
        Cow::Borrowed(borrowed)
    } else {
        Cow::Owned(serde_json::from_str::<String>(text).ok()?)
    };
    // The reference reads an empty string as absent.
    Some(if value.is_empty() { None } else { Some(value) })
}

/// The text of a JSON string literal that is all of `text` and holds no escape (no backslash,
/// no quote, no control character between its quotes), which is then what it reads as.
fn unescaped_literal(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)).then_some(inner)
}

/// A JSON text read the way `serde_json::Value` reads it, keeping nothing. The fast path skips
/// the fields it does not take with `IgnoredAny`, which is laxer than `Value` (that `Record`
/// uses): it takes unpaired surrogate escapes, numbers out of range (`1e400`) and nesting past
/// `serde_json`'s depth limit. Text this refuses takes the record path, which names the problem.
struct ReadsAsValue;

impl<'de> Deserialize<'de> for ReadsAsValue {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(ReadsAsValue)
    }
}

impl<'de> serde::de::Visitor<'de> for ReadsAsValue {
    type Value = ReadsAsValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self, E> {
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self, E> {
        Ok(self)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self, E> {
        Ok(self)
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<Self, E> {
        Ok(self)
    }

    fn visit_unit<E>(self) -> std::result::Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut items: A,
    ) -> std::result::Result<Self, A::Error> {
        while items.next_element::<ReadsAsValue>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut members: A,
    ) -> std::result::Result<Self, A::Error> {
        while members
            .next_entry::<ReadsAsValue, ReadsAsValue>()?
            .is_some()
        {}
        Ok(self)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoredSession {
    pub session_id: String,
    pub issuer: String,
    pub web_id: Option<String>,
    pub client_app_id: Option<String>,
    pub refresh_token: Option<Secret>,
    pub token_type: TokenType,
    /// The stored `keepAlive` flag; the reference reads a missing one as false here.
    pub keep_alive: bool,
}

impl StoredSession {
    /// Reads the text stored under `key` for session `id`, as `from_record` would, but without
    /// building the whole record. Any text the fast path does not take (corrupted data, a
    /// duplicate field) goes through `Record`, whose errors say what is wrong.
    pub fn parse(id: &str, key: &str, raw: &str) -> Result<Option<Self>> {
        if let Some(found) = Self::parse_fast(id, raw) {
            return Ok(found);
        }
        let record = SessionRecord::parse(key, raw)?;
        Self::from_record(id, &record)
    }

    #[allow(
        clippy::option_option,
        reason = "the outer None sends the record to the slow path; the inner one is no session"
    )]
    fn parse_fast(id: &str, raw: &str) -> Option<Option<Self>> {
        // A struct also deserializes from a JSON array; only objects are records.
        if !raw.trim_start().starts_with('{') {
            return None;
        }
        // A record as logins write it, a flat object of strings, is read without serde; anything
        // else by serde, as `Value` would read it.
        let fields = if let Some(fields) = flat::fields(raw) {
            fields
        } else {
            let fields: RestoreFields<'_> = serde_json::from_str(raw).ok()?;
            if fields.unchecked {
                serde_json::from_str::<ReadsAsValue>(raw).ok()?;
            }
            fields
        };
        // Every field read (strictly) before any answer: a field that is not a plain string is
        // the record path's to judge, with or without an issuer.
        let issuer = plain_string(fields.issuer)?;
        let web_id = plain_string(fields.web_id)?;
        let client_app_id = plain_string(fields.client_app_id)?;
        let refresh_token = plain_string(fields.refresh_token)?;
        let flag = |raw| plain_string(raw).map(|v| v.as_deref() == Some("true"));
        let dpop = flag(fields.dpop)?;
        let keep_alive = flag(fields.keep_alive)?;
        let Some(issuer) = issuer else {
            return Some(None);
        };
        Some(Some(Self {
            session_id: id.to_owned(),
            issuer: issuer.into_owned(),
            web_id: web_id.map(Cow::into_owned),
            client_app_id: client_app_id.map(Cow::into_owned),
            refresh_token: refresh_token.map(|t| Secret::new(t.into_owned())),
            token_type: if dpop {
                TokenType::DPoP
            } else {
                TokenType::Bearer
            },
            keep_alive,
        }))
    }

    /// `None` when the record has no issuer: the reference cannot log such a session in again
    /// (client-credentials sessions store none), so it treats it as unknown.
    pub fn from_record(session_id: &str, record: &SessionRecord) -> Result<Option<Self>> {
        let Some(issuer) = record.issuer()? else {
            return Ok(None);
        };
        Ok(Some(Self {
            session_id: session_id.to_owned(),
            issuer: issuer.to_owned(),
            web_id: record.web_id()?.map(str::to_owned),
            client_app_id: record.client_app_id()?.map(str::to_owned),
            refresh_token: record.refresh_token()?.map(Secret::new),
            token_type: if record.dpop()? {
                TokenType::DPoP
            } else {
                TokenType::Bearer
            },
            keep_alive: record.keep_alive()?,
        }))
    }
}

mod flat;

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_worked_example_record() {
        let raw = r#"{"clientId":"https://app.example/id","clientType":"solid-oidc","clientName":"https://app.example/id","issuer":"https://idp.example/","redirectUrl":"https://app.example/cb","dpop":"true","keepAlive":"true","refreshToken":"rt-1","webId":"https://alice.example/profile/card#me","isLoggedIn":"true"}"#;
        let record = SessionRecord::parse("solidClientAuthenticationUser:s-2", raw).unwrap();
        let s = StoredSession::from_record("s-2", &record).unwrap().unwrap();
        assert_eq!(s.issuer, "https://idp.example/");
        assert_eq!(
            s.web_id.as_deref(),
            Some("https://alice.example/profile/card#me")
        );
        assert_eq!(s.client_app_id, None);
        assert_eq!(s.refresh_token.as_ref().map(Secret::expose), Some("rt-1"));
        assert_eq!(s.token_type, TokenType::DPoP);
        assert!(s.keep_alive);
        assert!(!format!("{s:?}").contains("rt-1"));
    }

    #[test]
    fn the_fast_path_agrees_with_the_record_path() {
        let cases = [
            r#"{"issuer":"https://idp/","webId":"https://w","dpop":"true","keepAlive":"false","refreshToken":"rt","other":{"a":[1]}}"#,
            r#"{"issuer":"https://idp/","webId":"","clientAppId":null}"#,
            r#"{"issuer":"https:\/\/idp\/","webId":"https://w/\u00e9"}"#,
            r#"{"clientId":"x"}"#,
            r#"{"issuer":""}"#,
            r#"{"issuer":"a","issuer":"b"}"#,
            r#"{"issuer":"a","webId":5}"#,
            r#"{"issuer":"a","keepAlive":true}"#,
            r#"{"issuer":7}"#,
            r#"["issuer"]"#,
            r#"{"issuer":"a""#,
            "  {\"issuer\":\"a\"}  ",
            r#"{"webId":"\ud800"}"#,
            r#"{"issuer":"a","clientName":"\uDC00","webId":"\ud83d\ude00"}"#,
            r#"{"issuer":"a","other":1e400}"#,
            r#"{"webId":-1e309}"#,
        ];
        let deep = format!(
            r#"{{"issuer":"a","other":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let cases = cases.iter().copied().chain([deep.as_str()]);
        for raw in cases {
            let by_record =
                SessionRecord::parse("k", raw).and_then(|r| StoredSession::from_record("s", &r));
            assert_eq!(StoredSession::parse("s", "k", raw), by_record, "{raw}");
        }
    }

    #[test]
    fn no_issuer_means_no_session() {
        let record = SessionRecord::parse(
            "k",
            r#"{"clientId":"app-7","clientType":"static","clientSecret":"sec"}"#,
        )
        .unwrap();
        assert_eq!(StoredSession::from_record("s-1", &record).unwrap(), None);
    }

    #[test]
    fn defaults_follow_the_reference() {
        let record = SessionRecord::parse("k", r#"{"issuer":"https://idp/","webId":""}"#).unwrap();
        let s = StoredSession::from_record("s", &record).unwrap().unwrap();
        assert_eq!(s.web_id, None);
        assert_eq!(s.token_type, TokenType::Bearer);
        assert!(!s.keep_alive);
        assert_eq!(s.refresh_token, None);
    }
}
