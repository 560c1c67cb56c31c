//! The list of registered session IDs under `solidClientAuthn:registeredSessions`.

use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::storage::lease;
use crate::storage::{Storage, REGISTERED_SESSIONS_KEY};
use crate::surrogates::only_unpaired_surrogates_in_string;

mod memo;
pub use memo::{ListAnswer, ListMemo};

/// One entry of the list.
///
/// JS strings may hold unpaired UTF-16 surrogates, and the reference registers whatever session
/// ID it is given; `JSON.stringify` writes such an ID with `\uXXXX` escapes. A Rust string cannot
/// hold it, so the entry is kept as the JSON text it was stored as: rewriting the list keeps it
/// exactly, and it never equals (or is mistaken for) any other ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListedId {
    Id(String),
    /// The entry's JSON string literal, quotes included.
    Unpaired(String),
}

impl ListedId {
    pub fn id(&self) -> Option<&str> {
        match self {
            ListedId::Id(id) => Some(id),
            ListedId::Unpaired(_) => None,
        }
    }
}

/// What a JSON value is, from its text, for error messages that must not quote it.
fn raw_type_name(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Parses the stored list: a JSON array of strings, nothing else.
pub fn parse_ids(raw: &str) -> Result<Vec<ListedId>> {
    let corrupted = |reason: String| Error::corrupted(REGISTERED_SESSIONS_KEY, reason);
    let items: Vec<&RawValue> = match serde_json::from_str(raw) {
        Ok(items) => items,
        Err(e) => {
            // Tell "not JSON" from "JSON, but not an array".
            return Err(match serde_json::from_str::<&RawValue>(raw) {
                Ok(value) => corrupted(format!(
                    "it is {}, expected a JSON array of session IDs",
                    raw_type_name(value.get())
                )),
                Err(_) => corrupted(crate::session::record::syntax_reason(&e)),
            });
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let text = item.get();
            if !text.starts_with('"') {
                return Err(corrupted(format!(
                    "item {index} is {}, expected a session ID string",
                    raw_type_name(text)
                )));
            }
            match serde_json::from_str::<String>(text) {
                Ok(id) => Ok(ListedId::Id(id)),
                Err(_) if only_unpaired_surrogates_in_string(text) => {
                    Ok(ListedId::Unpaired(text.to_owned()))
                }
                Err(_) => Err(corrupted(format!(
                    "item {index} is not a valid JSON string"
                ))),
            }
        })
        .collect()
}

/// Accepts a JSON string and nothing else, without copying it. Unpaired surrogate escapes are
/// accepted, as `parse_ids` accepts them.
struct AnyString;

impl<'de> serde::Deserialize<'de> for AnyString {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(deserializer)?;
        if raw.get().starts_with('"') {
            Ok(AnyString)
        } else {
            Err(serde::de::Error::custom("expected a string"))
        }
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

/// The list as `JSON.stringify` writes it; unpaired entries as they were stored.
pub fn serialize_ids(ids: &[ListedId]) -> String {
    let mut out = String::from("[");
    for (i, entry) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match entry {
            ListedId::Id(id) => out.push_str(&serde_json::Value::from(id.as_str()).to_string()),
            ListedId::Unpaired(literal) => out.push_str(literal),
        }
    }
    out.push(']');
    out
}

/// Every registered session ID; an absent list is an empty one.
pub async fn session_ids(storage: &dyn Storage) -> Result<Vec<ListedId>> {
    match storage.get(REGISTERED_SESSIONS_KEY).await? {
        Some(raw) => parse_ids(&raw),
        None => Ok(Vec::new()),
    }
}

/// Runs `change`, a read-modify-write of the list, under the list lease when the storage has
/// `setIfAbsent` (see `lease::hold`), so that one such change runs at a time in every process
/// sharing the storage; without it only the caller's in-process lock serialises them, and two
/// processes changing the list at the same moment overwrite each other's change (an ID logged in
/// elsewhere drops out of the list). `change` is told whether the lease was taken: then it must
/// read the list again, since another process may have changed it meanwhile.
pub(crate) async fn under_list_lease<T>(
    storage: &dyn Storage,
    change: impl AsyncFnOnce(bool) -> Result<T>,
) -> Result<T> {
    let taken = lease::hold(storage, lease::LIST_LEASE_KEY, lease::LIST_LEASE_TTL_MS).await?;
    let result = change(taken.is_some()).await;
    if let Some(taken) = taken {
        lease::release(storage, taken).await;
    }
    result
}

fn lists(ids: &[ListedId], id: &str) -> bool {
    ids.iter().any(|known| known.id() == Some(id))
}

/// Adds `id` to the list unless it is there already.
pub async fn register(storage: &dyn Storage, id: &str) -> Result<()> {
    let _guard = storage.locks().lock(REGISTERED_SESSIONS_KEY).await?;
    let ids = session_ids(storage).await?;
    if lists(&ids, id) {
        return Ok(());
    }
    add_under_list_lease(storage, id, Some(ids)).await
}

/// Adds `id` to the list, under the list lease, unless it is there already. `known` is the list
/// as the caller read it, good unless the lease was taken (then another process may have changed
/// the list since, and it is read again).
async fn add_under_list_lease(
    storage: &dyn Storage,
    id: &str,
    known: Option<Vec<ListedId>>,
) -> Result<()> {
    under_list_lease(storage, async |leased| {
        let mut ids = match known {
            Some(ids) if !leased => ids,
            _ => session_ids(storage).await?,
        };
        if lists(&ids, id) {
            return Ok(());
        }
        ids.push(ListedId::Id(id.to_owned()));
        storage
            .set(REGISTERED_SESSIONS_KEY, &serialize_ids(&ids))
            .await
    })
    .await
}

/// Removes `id` from the list, if the list exists.
pub async fn unregister(storage: &dyn Storage, id: &str) -> Result<()> {
    let _guard = storage.locks().lock(REGISTERED_SESSIONS_KEY).await?;
    let Some(raw) = storage.get(REGISTERED_SESSIONS_KEY).await? else {
        return Ok(());
    };
    let mut ids = parse_ids(&raw)?;
    if !lists(&ids, id) {
        return Ok(());
    }
    under_list_lease(storage, async |leased| {
        if leased {
            ids = session_ids(storage).await?;
        }
        let before = ids.len();
        ids.retain(|known| known.id() != Some(id));
        if ids.len() == before {
            return Ok(());
        }
        storage
            .set(REGISTERED_SESSIONS_KEY, &serialize_ids(&ids))
            .await
    })
    .await
}

/// Makes sure `id` is listed once a login has written its logged-in record: a clear that ran
/// while the login did may have taken it off the list (and deleted the record, which the login
/// then wrote again). Ordered with clears as they are ordered with each other: by this process's
/// lock on the list, and with `setIfAbsent` by the list lease, which a clear holds throughout.
pub async fn confirm_registered(storage: &dyn Storage, id: &str) -> Result<()> {
    let _guard = storage.locks().lock(REGISTERED_SESSIONS_KEY).await?;
    add_under_list_lease(storage, id, None).await
}

/// Removes the `cleared` entries from the list, after their sessions were deleted; the caller
/// holds the list lease if `leased`. Without it the list is emptied (`"[]"`, as the reference
/// does). With it, the list is read again and what another process registered meanwhile stays
/// (the lease may have lapsed during a long clear).
pub async fn remove_cleared(
    storage: &dyn Storage,
    cleared: &[ListedId],
    leased: bool,
) -> Result<()> {
    let mut left = Vec::new();
    if leased {
        left = session_ids(storage).await?;
        left.retain(|entry| !cleared.contains(entry));
    }
    storage
        .set(REGISTERED_SESSIONS_KEY, &serialize_ids(&left))
        .await
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use crate::tests::support::block_on;

    fn plain(ids: &[&str]) -> Vec<ListedId> {
        ids.iter()
            .map(|id| ListedId::Id((*id).to_owned()))
            .collect()
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse_ids(r#"["a","b"]"#).unwrap(), plain(&["a", "b"]));
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
        let e = parse_ids("[\"a\\x\"]").unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }

    #[test]
    fn keeps_unpaired_surrogates_as_stored() {
        let raw = r#"["ok","b\ud800","\udc00c","\ud83d\ude00","d\ud800\ud800\\"]"#;
        let ids = parse_ids(raw).unwrap();
        assert_eq!(
            ids,
            [
                ListedId::Id("ok".into()),
                ListedId::Unpaired(r#""b\ud800""#.into()),
                ListedId::Unpaired(r#""\udc00c""#.into()),
                ListedId::Id("😀".into()),
                ListedId::Unpaired(r#""d\ud800\ud800\\""#.into()),
            ]
        );
        // Rewritten, the entries are as they were (a paired escape becomes the character, as
        // JSON.stringify writes it).
        assert_eq!(
            serialize_ids(&ids),
            r#"["ok","b\ud800","\udc00c","😀","d\ud800\ud800\\"]"#
        );
        // An entry that is broken in another way as well is not taken for one.
        assert!(parse_ids(r#"["\ud800\x"]"#).is_err());
        assert!(parse_ids("[\"\\ud800\u{1}\"]").is_err());
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
            r#"["\ud800\x"]"#,
            "[\"\u{1}\"]",
        ] {
            assert_eq!(
                check_ids(raw).err(),
                parse_ids(raw).map(drop).err(),
                "{raw}"
            );
        }
    }

    #[test]
    fn serializes_like_json_stringify() {
        let ids = plain(&["a\"b", "é\n"]);
        assert_eq!(serialize_ids(&ids), r#"["a\"b","é\n"]"#);
        assert_eq!(serialize_ids(&[]), "[]");
    }

    /// A store shared with another process that has `setIfAbsent`: when this process takes the
    /// list lease, the other has just registered `elsewhere` (between this one's first read of
    /// the list and its lease).
    struct SharedWithAnother {
        inner: MemoryStorage,
        elsewhere: &'static str,
    }

    #[async_trait::async_trait(?Send)]
    impl Storage for SharedWithAnother {
        async fn get(&self, key: &str) -> Result<Option<String>> {
            self.inner.get(key).await
        }
        async fn set(&self, key: &str, value: &str) -> Result<()> {
            self.inner.set(key, value).await
        }
        async fn delete(&self, key: &str) -> Result<()> {
            self.inner.delete(key).await
        }
        fn locks(&self) -> crate::storage::Locker<'_> {
            self.inner.locks()
        }
        async fn set_if_absent(
            &self,
            key: &str,
            value: &str,
            _ttl_ms: u64,
        ) -> Result<Option<bool>> {
            if self.inner.get_now(key).is_some() {
                return Ok(Some(false));
            }
            let mut ids = session_ids(&self.inner).await?;
            ids.push(ListedId::Id(self.elsewhere.to_owned()));
            self.inner
                .set_now(REGISTERED_SESSIONS_KEY, &serialize_ids(&ids));
            self.inner.set_now(key, value);
            Ok(Some(true))
        }
    }

    #[test]
    fn with_set_if_absent_a_change_to_the_list_keeps_what_another_process_registered_meanwhile() {
        let s = SharedWithAnother {
            inner: MemoryStorage::new(),
            elsewhere: "theirs",
        };
        block_on(async {
            register(&s, "mine").await.unwrap();
            assert_eq!(session_ids(&s).await.unwrap(), plain(&["theirs", "mine"]));
            assert_eq!(s.inner.get_now(lease::LIST_LEASE_KEY), None, "given back");

            s.inner.set_now(REGISTERED_SESSIONS_KEY, r#"["a","b"]"#);
            unregister(&s, "a").await.unwrap();
            assert_eq!(session_ids(&s).await.unwrap(), plain(&["b", "theirs"]));

            // Clearing removes what it cleared, not what was registered after it read the list.
            s.inner.set_now(REGISTERED_SESSIONS_KEY, r#"["a","b"]"#);
            under_list_lease(&s, async |leased| {
                remove_cleared(&s, &plain(&["a", "b"]), leased).await
            })
            .await
            .unwrap();
            assert_eq!(session_ids(&s).await.unwrap(), plain(&["theirs"]));
            assert_eq!(s.inner.len(), 1, "the list alone");

            // A listed session logged in again takes no lease and writes nothing.
            register(&s, "theirs").await.unwrap();
            assert_eq!(session_ids(&s).await.unwrap(), plain(&["theirs"]));
        });
    }

    #[test]
    fn a_list_lease_that_never_lapses_gives_a_typed_error_naming_it() {
        let s = SharedWithAnother {
            inner: MemoryStorage::new(),
            elsewhere: "theirs",
        };
        s.inner
            .set_now(lease::LIST_LEASE_KEY, "written without an expiry");
        let e = block_on(lease::hold(&s, lease::LIST_LEASE_KEY, 10)).unwrap_err();
        assert!(matches!(e, Error::LeaseTimeout { .. }), "{e}");
        assert!(e.to_string().contains(lease::LIST_LEASE_KEY));
        assert_eq!(
            s.inner.get_now(lease::LIST_LEASE_KEY).as_deref(),
            Some("written without an expiry"),
            "another's lease is not taken over"
        );
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
            assert_eq!(session_ids(&s).await.unwrap(), plain(&["b"]));
        });
    }

    #[test]
    fn unregister_keeps_unpaired_entries_and_never_matches_them() {
        let s = MemoryStorage::new();
        s.set_now(REGISTERED_SESSIONS_KEY, r#"["a\ud800","a\ufffd","a"]"#);
        block_on(async {
            unregister(&s, "a\u{fffd}").await.unwrap();
            unregister(&s, "a").await.unwrap();
            register(&s, "c").await.unwrap();
        });
        assert_eq!(
            s.get_now(REGISTERED_SESSIONS_KEY).as_deref(),
            Some(r#"["a\ud800","c"]"#)
        );
    }
}
