//! `NativeStorage`: the handle JS passes to every operation to say which store it works on.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::storage::{Family, HostQueue, HostStorage, KeyLocks, MemoryStorage, Storage};

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
    list_memo: Rc<ListMemo>,
}

/// The session list last handed to JS for this store, so that an unchanged list is neither
/// checked nor sent again: JS keeps the array it built and copies it.
#[derive(Default)]
pub struct ListMemo {
    text: RefCell<Option<String>>,
    generation: Cell<u32>,
}

/// The session list as JS should take it.
pub enum ListAnswer {
    /// The same text as the generation JS holds.
    Unchanged,
    /// New text (checked), and the generation it is.
    Changed { generation: u32, json: String },
}

impl ListMemo {
    /// `known` is the generation JS holds, if any.
    pub fn answer(
        &self,
        text: Option<String>,
        known: Option<u32>,
    ) -> crate::error::Result<ListAnswer> {
        let text = text.unwrap_or_else(|| "[]".to_owned());
        let same = self.text.borrow().as_deref() == Some(text.as_str());
        if same && known == Some(self.generation.get()) {
            return Ok(ListAnswer::Unchanged);
        }
        if !same {
            crate::registry::check_ids(&text)?;
            self.generation.set(self.generation.get().wrapping_add(1));
            *self.text.borrow_mut() = Some(text.clone());
        }
        Ok(ListAnswer::Changed {
            generation: self.generation.get(),
            json: text,
        })
    }
}

#[napi]
impl NativeStorage {
    /// A new, empty native in-memory store.
    #[napi(factory)]
    pub fn memory() -> Self {
        Self {
            backend: Backend::Memory(Rc::new(MemoryStorage::new())),
            list_memo: Rc::default(),
        }
    }

    /// A handle for one store implemented in JS. Make one per store object and reuse it.
    #[napi(factory)]
    pub fn host() -> Self {
        Self {
            backend: Backend::Host(Arc::new(KeyLocks::new())),
            list_memo: Rc::default(),
        }
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

    pub(super) fn list_memo(&self) -> Rc<ListMemo> {
        self.list_memo.clone()
    }

    /// The store an operation of `family` should use, and the queue its calls go through when
    /// the store is implemented in JS.
    pub(super) fn for_operation(&self, family: Family) -> (Rc<dyn Storage>, Rc<HostQueue>) {
        let queue = HostQueue::new();
        let storage: Rc<dyn Storage> = match &self.backend {
            Backend::Memory(m) => m.clone(),
            Backend::Host(locks) => Rc::new(HostStorage::new(queue.clone(), locks.clone(), family)),
        };
        (storage, queue)
    }
}
