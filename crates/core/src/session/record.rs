//! One JSON record under `solidClientAuthenticationUser:<id>`, as the reference stores it.
//!
//! The reference keeps every value a string and merges updates into the existing object, so keys
//! keep their position and unknown keys survive. A record is parsed once per operation; fields
//! this crate does not know are carried through untouched.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

#[derive(Clone, Default, PartialEq)]
pub struct Record {
    key: String,
    fields: Map<String, Value>,
}

impl std::fmt::Debug for Record {
    // Records hold refresh tokens and private keys: print the names of known fields only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known: Vec<&str> = self
            .fields
            .keys()
            .map(String::as_str)
            .filter(|name| crate::session::field::ALL.contains(name))
            .collect();
        f.debug_struct("Record")
            .field("key", &self.key)
            .field("fields", &known)
            .field("other_fields", &(self.fields.len() - known.len()))
            .finish()
    }
}

/// Describes a JSON value's type for error messages, without its content.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a stored text is not JSON, without quoting any of it.
pub fn syntax_reason(error: &serde_json::Error) -> String {
    format!(
        "it is not valid JSON (syntax error at line {}, column {})",
        error.line(),
        error.column()
    )
}

impl Record {
    /// A record with no fields, to be stored under `key`.
    pub fn empty(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            fields: Map::new(),
        }
    }

    /// The key the record is stored under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Parses the text stored under `key`. Anything but a JSON object is corrupted data.
    pub fn parse(key: &str, raw: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(raw).map_err(|e| {
            let reason = if crate::surrogates::only_unpaired_surrogates_in_json(raw) {
                "a string in it holds an unpaired UTF-16 surrogate (a \\uD800-\\uDFFF escape), which this package cannot represent".to_owned()
            } else {
                syntax_reason(&e)
            };
            Error::corrupted(key, reason)
        })?;
        match value {
            Value::Object(fields) => Ok(Self {
                key: key.to_owned(),
                fields,
            }),
            other => Err(Error::corrupted(
                key,
                format!("it is {}, expected a JSON object", json_type_name(&other)),
            )),
        }
    }

    /// A field's value. Like the reference, an empty string counts as absent. A value that is
    /// not a string is corrupted data: the reference only ever writes strings.
    pub fn string(&self, field: &str) -> Result<Option<&str>> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Error::corrupted(
                &self.key,
                format!(
                    "field \"{field}\" is {}, expected a string",
                    json_type_name(other)
                ),
            )),
        }
    }

    /// A flag as the reference reads it: true only for the string `"true"`.
    pub fn flag(&self, field: &str) -> Result<bool> {
        Ok(self.string(field)? == Some("true"))
    }

    /// Sets a field, keeping its position if it exists and appending it otherwise.
    pub fn set(&mut self, field: &str, value: impl Into<String>) {
        let value = Value::String(value.into());
        match self.fields.get_mut(field) {
            Some(slot) => *slot = value,
            None => {
                self.fields.insert(field.to_owned(), value);
            }
        }
    }

    pub fn remove(&mut self, field: &str) {
        // shift_remove keeps the order of the remaining fields, as a JS `delete` does.
        self.fields.shift_remove(field);
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpaired_surrogate_is_named_as_such() {
        let e = Record::parse("k", r#"{"issuer":"i","webId":"w\ud800"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the data stored under \"k\" is corrupted: a string in it holds an unpaired UTF-16 surrogate (a \\uD800-\\uDFFF escape), which this package cannot represent"
        );
        let e = Record::parse("k", r#"{"issuer":"i\ud800""#).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }

    #[test]
    fn keeps_unknown_fields_and_order_through_updates() {
        let raw = r#"{"clientId":"c","future":{"nested":[1,2]},"issuer":"https://idp/"}"#;
        let mut r = Record::parse("k", raw).unwrap();
        r.set("clientId", "d");
        r.set("webId", "https://w");
        r.remove("issuer");
        assert_eq!(
            r.to_json(),
            r#"{"clientId":"d","future":{"nested":[1,2]},"webId":"https://w"}"#
        );
    }

    #[test]
    fn reads_strings_like_the_reference() {
        let r = Record::parse("k", r#"{"a":"","b":"true","c":"false","d":null}"#).unwrap();
        assert_eq!(r.string("a").unwrap(), None);
        assert_eq!(r.string("missing").unwrap(), None);
        assert_eq!(r.string("d").unwrap(), None);
        assert!(r.flag("b").unwrap());
        assert!(!r.flag("c").unwrap());
    }

    #[test]
    fn wrong_types_and_bad_json_are_corruption_without_the_value() {
        let r = Record::parse("k", r#"{"refreshToken":12345678}"#).unwrap();
        let e = r.string("refreshToken").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the data stored under \"k\" is corrupted: field \"refreshToken\" is a number, expected a string"
        );
        let e = Record::parse("k", "{\"refreshToken\":\"secret-rt\"").unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        assert!(!e.to_string().contains("secret-rt"));
        let e = Record::parse("k", "[\"secret-rt\"]").unwrap_err();
        assert!(
            e.to_string()
                .ends_with("it is an array, expected a JSON object"),
            "{e}"
        );
    }

    #[test]
    fn debug_lists_field_names_only() {
        let r = Record::parse("k", r#"{"refreshToken":"secret-rt"}"#).unwrap();
        let printed = format!("{r:?}");
        assert!(printed.contains("refreshToken"));
        assert!(!printed.contains("secret-rt"));
    }
}
