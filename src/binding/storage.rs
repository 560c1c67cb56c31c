//! `NativeStorage`: the handle JS passes to every operation to say which store it works on.

use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::host::{HostQueue, HostStorage};
use crate::storage::registry::ListMemo;
use crate::storage::{
    Family, KeyLocks, MemoryOperation, MemoryStorage, OwnLeases, Storage, UnsavedRecords,
};

enum Backend {
    /// The native store: operations on it finish without leaving Rust.
    Memory(Rc<MemoryStorage>),
    /// A store implemented in JS; the handle only carries its key locks, shared by every
    /// operation on that store.
    Host(Arc<KeyLocks>),
}

#[napi]
pub struct NativeStorage {
    backend: Backend,
    /// Whether the JS store has the optional atomic `setIfAbsent(key, value, ttlMs)`.
    set_if_absent: bool,
    unsaved: Rc<UnsavedRecords>,
    own_leases: Rc<OwnLeases>,
    list_memo: Rc<ListMemo>,
}

#[napi]
impl NativeStorage {
    /// A new, empty native in-memory store.
    #[napi(factory, catch_unwind)]
    pub fn memory() -> Self {
        Self {
            backend: Backend::Memory(Rc::new(MemoryStorage::new())),
            set_if_absent: false,
            unsaved: Rc::default(),
            own_leases: Rc::default(),
            list_memo: Rc::default(),
        }
    }

    /// A handle for one store implemented in JS. Make one per store object and reuse it.
    /// `setIfAbsent`: the store has the optional atomic method of that name.
    #[napi(factory, catch_unwind)]
    pub fn host(set_if_absent: Option<bool>) -> Self {
        Self {
            backend: Backend::Host(Arc::new(KeyLocks::new())),
            set_if_absent: set_if_absent == Some(true),
            unsaved: Rc::default(),
            own_leases: Rc::default(),
            list_memo: Rc::default(),
        }
    }

    /// Reads a key of the native store directly (for `InMemoryStorage.get`).
    #[napi(catch_unwind)]
    pub fn get_entry(&self, key: String) -> Result<Option<String>> {
        Ok(self.memory_store()?.get_now(&key))
    }

    #[napi(catch_unwind)]
    pub fn set_entry(&self, key: String, value: String) -> Result<()> {
        self.memory_store()?.set_now(&key, &value);
        Ok(())
    }

    /// A write to `key` on this JS store timed out but may still land: the key stays locked
    /// until `endLateWrite`.
    #[napi(catch_unwind)]
    pub fn begin_late_write(&self, key: String) {
        if let Backend::Host(locks) = &self.backend {
            locks.begin_late_write(&key);
        }
    }

    /// The late write to `key` has settled, or is given up for lost.
    #[napi(catch_unwind)]
    pub fn end_late_write(&self, env: Env, key: String) {
        if let Backend::Host(locks) = &self.backend {
            locks.end_late_write(&key);
        }
        super::wakes::notify_woken(env);
    }

    #[napi(catch_unwind)]
    pub fn delete_entry(&self, key: String) -> Result<()> {
        self.memory_store()?.delete_now(&key);
        Ok(())
    }
}

impl NativeStorage {
    fn memory_store(&self) -> Result<&MemoryStorage> {
        match &self.backend {
            Backend::Memory(m) => Ok(m),
            Backend::Host(_) => Err(Error::new(
                Status::InvalidArg,
                "this storage handle is not a native in-memory store",
            )),
        }
    }

    pub(super) fn list_memo(&self) -> Rc<ListMemo> {
        self.list_memo.clone()
    }

    /// The store an operation of `family` should use, and the queue its calls go through when
    /// the store is implemented in JS.
    pub(super) fn for_operation(&self, family: Family) -> (Rc<dyn Storage>, Rc<HostQueue>) {
        let queue = HostQueue::new();
        let storage: Rc<dyn Storage> = match &self.backend {
            Backend::Memory(m) => Rc::new(MemoryOperation::new(m.clone(), family, queue.give_up())),
            Backend::Host(locks) => Rc::new(
                HostStorage::new(queue.clone(), locks.clone(), family)
                    .with_set_if_absent(self.set_if_absent)
                    .with_unsaved(self.unsaved.clone())
                    .with_own_leases(self.own_leases.clone()),
            ),
        };
        (storage, queue)
    }
}
