//! A store whose clock is the test's: its pauses move the clock instead of waiting, so a test
//! sees a lease lapse, or a wait give up, in no time.

use std::cell::Cell;
use std::rc::Rc;

use crate::error::Result;
use crate::storage::{Locker, OwnLeases, Storage, UnsavedRecords};

/// `inner`, but by `clock` (ms since the epoch), which every pause moves forward.
pub struct Clocked {
    pub inner: Rc<dyn Storage>,
    pub clock: Rc<Cell<u64>>,
}

#[async_trait::async_trait(?Send)]
impl Storage for Clocked {
    async fn get(&self, key: &str) -> Result<Option<String>> {
        self.inner.get(key).await
    }

    async fn set(&self, key: &str, value: &str) -> Result<()> {
        self.inner.set(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key).await
    }

    async fn delete_escaped(&self, key_json: &str) -> Result<()> {
        self.inner.delete_escaped(key_json).await
    }

    fn locks(&self) -> Locker<'_> {
        self.inner.locks()
    }

    fn keys_with_prefix(&self, prefix: &str) -> Option<Vec<String>> {
        self.inner.keys_with_prefix(prefix)
    }

    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }

    async fn set_if_absent(&self, key: &str, value: &str, ttl_ms: u64) -> Result<Option<bool>> {
        self.inner.set_if_absent(key, value, ttl_ms).await
    }

    async fn pause(&self, ms: u64) -> Result<()> {
        self.clock.set(self.clock.get().saturating_add(ms));
        self.inner.pause(ms).await
    }

    fn now_ms(&self) -> u64 {
        self.clock.get()
    }

    fn own_leases(&self) -> Option<Rc<OwnLeases>> {
        self.inner.own_leases()
    }

    fn unsaved(&self) -> Option<&UnsavedRecords> {
        self.inner.unsaved()
    }
}
