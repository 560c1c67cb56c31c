//! The native in-memory store behind `InMemoryStorage` and the process-wide default storage.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use super::{Family, GiveUp, KeyLocks, Locker, Storage};
use crate::error::Result;
use crate::session::stored::StoredSession;

#[derive(Default)]
pub struct MemoryStorage {
    entries: Mutex<HashMap<String, Entry>>,
    locks: KeyLocks,
}

/// A stored value, and what a restore read from it (once read; dropped when the value changes).
struct Entry {
    value: String,
    session: Read,
}

/// What a restore read from a value.
#[derive(Clone)]
enum Read {
    NotYet,
    /// A session record, or none (no issuer, or an empty value).
    Session(Option<Arc<StoredSession>>),
}

impl Entry {
    fn new(value: String) -> Self {
        Self {
            value,
            session: Read::NotYet,
        }
    }
}

impl std::fmt::Debug for MemoryStorage {
    // Values are session records: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // No code path panics while holding the map, so a poisoned lock still guards a whole map.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get_now(&self, key: &str) -> Option<String> {
        self.entries().get(key).map(|entry| entry.value.clone())
    }

    pub fn set_now(&self, key: &str, value: &str) {
        let mut entries = self.entries();
        match entries.get_mut(key) {
            Some(existing) => {
                value.clone_into(&mut existing.value);
                existing.session = Read::NotYet;
            }
            None => {
                entries.insert(key.to_owned(), Entry::new(value.to_owned()));
            }
        }
    }

    /// `Storage::stored_session`, read once per stored value.
    pub fn stored_session_now(&self, id: &str, key: &str) -> Result<Option<Arc<StoredSession>>> {
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(key) else {
            return Ok(None);
        };
        if let Read::Session(session) = &entry.session {
            return Ok(session.clone());
        }
        let session = if entry.value.is_empty() {
            None
        } else {
            // A corrupted record is read again (and refused again) each time.
            StoredSession::parse(id, key, &entry.value)?.map(Arc::new)
        };
        entry.session = Read::Session(session.clone());
        Ok(session)
    }

    pub fn delete_now(&self, key: &str) {
        self.entries().remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait::async_trait(?Send)]
impl Storage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.get_now(key))
    }

    async fn stored_session(&self, id: &str, key: &str) -> Result<Option<Arc<StoredSession>>> {
        self.stored_session_now(id, key)
    }

    async fn set(&self, key: &str, value: &str) -> Result<()> {
        self.set_now(key, value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.delete_now(key);
        Ok(())
    }

    fn locks(&self) -> Locker<'_> {
        // Used directly, every caller is one family; the binding's operations each get a family
        // of their own through `MemoryOperation`.
        Locker::new(&self.locks, 0, None)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Option<Vec<String>> {
        Some(
            self.entries()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect(),
        )
    }
}

/// The native store as one operation sees it: a family of key locks of its own. An operation on
/// this store finishes within one call unless it waits on the network, and then two can be in
/// flight at once (a restore and the background renewal of one session, a logout during a
/// refresh): they keep apart as operations on a store implemented in JS do.
pub struct MemoryOperation {
    store: Rc<MemoryStorage>,
    family: Family,
    give_up: Rc<GiveUp>,
}

impl MemoryOperation {
    /// `give_up` is the signal its driver sets when a lock wait has lasted too long.
    pub fn new(store: Rc<MemoryStorage>, family: Family, give_up: Rc<GiveUp>) -> Self {
        Self {
            store,
            family,
            give_up,
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Storage for MemoryOperation {
    async fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.store.get_now(key))
    }

    async fn stored_session(&self, id: &str, key: &str) -> Result<Option<Arc<StoredSession>>> {
        self.store.stored_session_now(id, key)
    }

    async fn set(&self, key: &str, value: &str) -> Result<()> {
        self.store.set_now(key, value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.store.delete_now(key);
        Ok(())
    }

    fn locks(&self) -> Locker<'_> {
        Locker::new(&self.store.locks, self.family, Some(&self.give_up))
    }

    fn keys_with_prefix(&self, prefix: &str) -> Option<Vec<String>> {
        self.store.keys_with_prefix(prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::support::block_on;

    #[test]
    fn get_set_delete() {
        let s = MemoryStorage::new();
        block_on(async {
            assert_eq!(s.get("a").await.unwrap(), None);
            s.set("a", "1").await.unwrap();
            s.set("a", "2").await.unwrap();
            assert_eq!(s.get("a").await.unwrap().as_deref(), Some("2"));
            s.delete("a").await.unwrap();
            assert_eq!(s.get("a").await.unwrap(), None);
        });
    }

    #[test]
    fn a_restore_reads_a_record_once_per_stored_value() {
        let s = MemoryStorage::new();
        let record = |web_id: &str| format!(r#"{{"issuer":"https://i/","webId":"{web_id}"}}"#);
        block_on(async {
            assert_eq!(s.stored_session("a", "k").await.unwrap(), None);
            s.set("k", &record("https://w/1")).await.unwrap();
            let first = s.stored_session("a", "k").await.unwrap().unwrap();
            assert_eq!(first.web_id.as_deref(), Some("https://w/1"));
            let again = s.stored_session("a", "k").await.unwrap().unwrap();
            assert!(Arc::ptr_eq(&first, &again), "kept beside the value");
            // A change of the value, by any path, is read anew.
            s.set("k", &record("https://w/2")).await.unwrap();
            let changed = s.stored_session("a", "k").await.unwrap().unwrap();
            assert_eq!(changed.web_id.as_deref(), Some("https://w/2"));
            let op = MemoryOperation::new(Rc::new(MemoryStorage::new()), 1, Rc::default());
            op.set("k", &record("https://w/3")).await.unwrap();
            assert_eq!(
                op.stored_session("a", "k")
                    .await
                    .unwrap()
                    .unwrap()
                    .web_id
                    .as_deref(),
                Some("https://w/3")
            );
            op.set("k", r#"{"clientId":"x"}"#).await.unwrap();
            assert_eq!(
                op.stored_session("a", "k").await.unwrap(),
                None,
                "no issuer"
            );
            s.set("k", "{oops").await.unwrap();
            assert!(s.stored_session("a", "k").await.is_err());
            assert!(s.stored_session("a", "k").await.is_err(), "refused again");
            s.set("k", "").await.unwrap();
            assert_eq!(s.stored_session("a", "k").await.unwrap(), None);
            s.delete("k").await.unwrap();
            assert_eq!(s.stored_session("a", "k").await.unwrap(), None);
        });
    }

    #[test]
    fn lists_keys_by_prefix_and_hides_values_in_debug() {
        let s = MemoryStorage::new();
        s.set_now("p:1", "secret-token");
        s.set_now("p:2", "x");
        s.set_now("q:1", "x");
        let mut keys = s.keys_with_prefix("p:").unwrap();
        keys.sort();
        assert_eq!(keys, ["p:1", "p:2"]);
        assert!(!format!("{s:?}").contains("secret-token"));
    }
}
