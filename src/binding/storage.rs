//! `NativeStorage`: the handle JS passes to every operation to say which store it works on.

use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::storage::{HostQueue, HostStorage, KeyLocks, MemoryStorage, Storage};

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
}

#[napi]
impl NativeStorage {
    /// A new, empty native in-memory store.
    #[napi(factory)]
    pub fn memory() -> Self {
        Self {
            backend: Backend::Memory(Rc::new(MemoryStorage::new())),
        }
    }

    /// A handle for one store implemented in JS. Make one per store object and reuse it.
    #[napi(factory)]
    pub fn host() -> Self {
        Self {
            backend: Backend::Host(Arc::new(KeyLocks::new())),
        }
    }

    #[napi(getter)]
    pub fn is_native(&self) -> bool {
        matches!(self.backend, Backend::Memory(_))
    }

    /// Reads a key of the native store directly (for `InMemoryStorage.get`).
    #[napi]
    pub fn get_entry(&self, key: String) -> Result<Option<String>> {
        Ok(self.memory_store()?.get_now(&key))
    }

    #[napi]
    pub fn set_entry(&self, key: String, value: String) -> Result<()> {
        self.memory_store()?.set_now(&key, &value);
        Ok(())
    }

    #[napi]
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

    /// The store an operation should use, and the queue its calls go through when the store is
    /// implemented in JS.
    pub(super) fn for_operation(&self) -> (Rc<dyn Storage>, Rc<HostQueue>) {
        let queue = HostQueue::new();
        let storage: Rc<dyn Storage> = match &self.backend {
            Backend::Memory(m) => m.clone(),
            Backend::Host(locks) => Rc::new(HostStorage::new(queue.clone(), locks.clone())),
        };
        (storage, queue)
    }
}
