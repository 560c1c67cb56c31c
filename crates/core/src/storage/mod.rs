//! The storage layer: an async key-value trait, the keys of the reference layout, and the
//! per-key write serialisation that every read-modify-write goes through.

pub mod lease;
mod locks;
mod memory;
pub mod multi_session;
mod own_leases;
pub mod registry;

pub use locks::{Family, GiveUp, KeyGuard, KeyLocks, Locker};
pub use memory::{MemoryOperation, MemoryStorage};
pub use own_leases::OwnLeases;

use std::sync::Arc;

use crate::error::Result;
use crate::session::stored::StoredSession;

pub use crate::keys::{
    issuer_config_key, record_key, ISSUER_CONFIG_PREFIX, REGISTERED_SESSIONS_KEY,
    USER_RECORD_PREFIX,
};

/// Records whose write failed after something that cannot be done twice (a refresh whose
/// refresh token the provider rotated): the only copy of the new tokens until a write succeeds.
/// Per store object, in this process.
#[derive(Default)]
pub struct UnsavedRecords(std::cell::RefCell<std::collections::HashMap<String, String>>);

impl std::fmt::Debug for UnsavedRecords {
    // The records hold refresh tokens and private keys: print their keys only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("UnsavedRecords")
            .field(&self.0.borrow().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl UnsavedRecords {
    pub fn keep(&self, key: &str, record_json: String) {
        self.0.borrow_mut().insert(key.to_owned(), record_json);
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.0.borrow().get(key).cloned()
    }

    pub fn forget(&self, key: &str) {
        self.0.borrow_mut().remove(key);
    }
}

/// A string key-value store, as the `IStorage` interface of the reference describes it.
///
/// Futures are not `Send`: operations run on the thread that owns the storage (the JS thread for
/// storages implemented in JS), so that no call has to cross threads.
#[async_trait::async_trait(?Send)]
pub trait Storage {
    async fn get(&self, key: &str) -> Result<Option<String>>;
    async fn set(&self, key: &str, value: &str) -> Result<()>;
    async fn delete(&self, key: &str) -> Result<()>;

    /// Deletes the key whose JSON string literal is `key_json`: a key that holds an unpaired
    /// UTF-16 surrogate, which a Rust string cannot. Such keys come from session lists the
    /// reference wrote; stores whose keys are always well-formed have none.
    async fn delete_escaped(&self, _key_json: &str) -> Result<()> {
        Ok(())
    }

    /// The locks that serialise read-modify-write sequences on this storage's keys, as this
    /// operation sees them. Two handles onto the same underlying store must share them.
    fn locks(&self) -> Locker<'_>;

    /// Every key that starts with `prefix`, when the store can list its keys. `IStorage` has no
    /// way to list keys, so stores implemented in JS answer `None`.
    fn keys_with_prefix(&self, _prefix: &str) -> Option<Vec<String>> {
        None
    }

    /// Session `id`'s record, stored under `key`, as a restore reads it (`StoredSession::parse`;
    /// `None` when nothing is stored there, or the record has no issuer). A store that keeps its
    /// values in this process keeps the reading beside the value until the value changes: a
    /// server restores each session on every request, and the record changes once an hour.
    async fn stored_session(&self, id: &str, key: &str) -> Result<Option<Arc<StoredSession>>> {
        match self.get(key).await? {
            Some(raw) if !raw.is_empty() => Ok(StoredSession::parse(id, key, &raw)?.map(Arc::new)),
            _ => Ok(None),
        }
    }

    /// Whether other processes may use this store too (a JS storage may be Redis or a
    /// database); an in-process store is this process's alone.
    fn is_shared(&self) -> bool {
        false
    }

    /// Stores `value` under `key` unless the key holds a value, atomically, the value expiring
    /// after `ttl_ms`: `Some(true)` when it was stored, `Some(false)` when the key was taken,
    /// `None` when the store has no such operation.
    async fn set_if_absent(&self, _key: &str, _value: &str, _ttl_ms: u64) -> Result<Option<bool>> {
        Ok(None)
    }

    /// Waits `ms` milliseconds (between reads of a key another process is expected to write).
    async fn pause(&self, _ms: u64) -> Result<()> {
        Ok(())
    }

    /// The time by this store's clock (ms since the epoch), which leases and restores go by:
    /// the system's (`clock::now_ms`), but for stores in tests, whose pauses move a clock of
    /// their own.
    fn now_ms(&self) -> u64 {
        crate::clock::now_ms()
    }

    /// The leases this process left in this store (see `crate::storage::lease`); `None` for a store no
    /// other process uses, where leases are never taken.
    fn own_leases(&self) -> Option<std::rc::Rc<OwnLeases>> {
        None
    }

    /// Records this process could not write, by key, kept to be written first thing by the next
    /// operation on them; `None` for a store whose writes cannot fail.
    fn unsaved(&self) -> Option<&UnsavedRecords> {
        None
    }
}
