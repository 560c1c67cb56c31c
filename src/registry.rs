//! The list of registered session IDs under `solidClientAuthn:registeredSessions`.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::record::{json_type_name, syntax_reason};
use crate::storage::{Storage, REGISTERED_SESSIONS_KEY};

/// Parses the stored list: a JSON array of strings, nothing else.
pub fn parse_ids(raw: &str) -> Result<Vec<String>> {
    let corrupted = |reason: String| Error::corrupted(REGISTERED_SESSIONS_KEY, reason);
    let value: Value = serde_json::from_str(raw).map_err(|e| corrupted(syntax_reason(&e)))?;
    let Value::Array(items) = value else {
        return Err(corrupted(format!(
            "it is {}, expected a JSON array of session IDs",
            json_type_name(&value)
        )));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(id) => Ok(id),
            other => Err(corrupted(format!(
                "item {index} is {}, expected a session ID string",
                json_type_name(&other)
            ))),
        })
        .collect()
}

/// Accepts a JSON string and nothing else, without copying it.
struct AnyString;

impl<'de> serde::Deserialize<'de> for AnyString {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = AnyString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> std::result::Result<AnyString, E> {
                Ok(AnyString)
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

/// Checks that `raw` is a valid list (what `parse_ids` would accept) without building it: for
/// callers that hand the text on to something faster at building arrays (V8's JSON.parse).
pub fn check_ids(raw: &str) -> Result<()> {
    // A Vec of a zero-sized type never allocates per item; only a failure pays for `parse_ids`,
    // whose error says what is wrong without quoting the data.
    match serde_json::from_str::<Vec<AnyString>>(raw) {
        Ok(_) => Ok(()),
        Err(_) => parse_ids(raw).map(drop),
    }
}

pub fn serialize_ids(ids: &[String]) -> String {
    Value::Array(ids.iter().cloned().map(Value::String).collect()).to_string()
}

/// Every registered session ID; an absent list is an empty one.
pub async fn session_ids(storage: &dyn Storage) -> Result<Vec<String>> {
    match storage.get(REGISTERED_SESSIONS_KEY).await? {
        Some(raw) => parse_ids(&raw),
        None => Ok(Vec::new()),
    }
}

/// Adds `id` to the list unless it is there already.
pub async fn register(storage: &dyn Storage, id: &str) -> Result<()> {
    let _guard = storage.locks().lock(REGISTERED_SESSIONS_KEY).await;
    let mut ids = session_ids(storage).await?;
    if ids.iter().any(|known| known == id) {
        return Ok(());
    }
    ids.push(id.to_owned());
    storage
        .set(REGISTERED_SESSIONS_KEY, &serialize_ids(&ids))
        .await
}

/// Removes `id` from the list, if the list exists.
pub async fn unregister(storage: &dyn Storage, id: &str) -> Result<()> {
    let _guard = storage.locks().lock(REGISTERED_SESSIONS_KEY).await;
    let Some(raw) = storage.get(REGISTERED_SESSIONS_KEY).await? else {
        return Ok(());
    };
    let mut ids = parse_ids(&raw)?;
    let before = ids.len();
    ids.retain(|known| known != id);
    if ids.len() == before {
        return Ok(());
    }
    storage
        .set(REGISTERED_SESSIONS_KEY, &serialize_ids(&ids))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use crate::testing::block_on;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse_ids(r#"["a","b"]"#).unwrap(), ["a", "b"]);
        assert!(parse_ids("[]").unwrap().is_empty());
        let e = parse_ids(r#"{"a":1}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the data stored under \"solidClientAuthn:registeredSessions\" is corrupted: it is an object, expected a JSON array of session IDs"
        );
        let e = parse_ids(r#"["a",7]"#).unwrap_err();
        assert!(e
            .to_string()
            .ends_with("item 1 is a number, expected a session ID string"));
        let e = parse_ids("[\"a\"").unwrap_err();
        assert!(e.to_string().contains("not valid JSON"));
    }

    #[test]
    fn check_agrees_with_parse() {
        for raw in [
            r#"["a","b\"c"]"#,
            "[]",
            r#"{"a":1}"#,
            r#"["a",7]"#,
            "[\"a\"",
            r#"[["a"]]"#,
            "null",
            r#"["\ud800"]"#,
        ] {
            assert_eq!(check_ids(raw).err(), parse_ids(raw).err(), "{raw}");
        }
    }

    #[test]
    fn serializes_like_json_stringify() {
        let ids = vec!["a\"b".to_owned(), "é\n".to_owned()];
        assert_eq!(serialize_ids(&ids), r#"["a\"b","é\n"]"#);
        assert_eq!(serialize_ids(&[]), "[]");
    }

    #[test]
    fn register_and_unregister() {
        let s = MemoryStorage::new();
        block_on(async {
            unregister(&s, "x").await.unwrap();
            assert_eq!(s.get_now(REGISTERED_SESSIONS_KEY), None);
            register(&s, "a").await.unwrap();
            register(&s, "b").await.unwrap();
            register(&s, "a").await.unwrap();
            assert_eq!(
                s.get_now(REGISTERED_SESSIONS_KEY).as_deref(),
                Some(r#"["a","b"]"#)
            );
            unregister(&s, "a").await.unwrap();
            assert_eq!(session_ids(&s).await.unwrap(), ["b"]);
        });
    }
}
