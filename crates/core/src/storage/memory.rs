//! The native in-memory store behind `InMemoryStorage` and the process-wide default storage.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Mutex;

use super::{Family, GiveUp, KeyLocks, Locker, Storage};
use crate::error::Result;

#[derive(Default)]
pub struct MemoryStorage {
    entries: Mutex<HashMap<String, String>>,
    locks: KeyLocks,
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

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // No code path panics while holding the map, so a poisoned lock still guards a whole map.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get_now(&self, key: &str) -> Option<String> {
        self.entries().get(key).cloned()
    }

    pub fn set_now(&self, key: &str, value: &str) {
        let mut entries = self.entries();
        match entries.get_mut(key) {
            Some(existing) => value.clone_into(existing),
            None => {
                entries.insert(key.to_owned(), value.to_owned());
            }
        }
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
