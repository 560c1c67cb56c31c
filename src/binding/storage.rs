//! `NativeStorage`: the handle JS passes to every operation to say which store it works on.

use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::text::{first_unpaired, JsText, MaybeText};
use crate::host::{HostQueue, HostStorage};
use crate::redis::sentinel::SentinelTarget;
use crate::redis::{RedisStore, RedisTarget};
use crate::restore::RestoresInFlight;
use crate::secret::Secret;
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
    /// A `RedisStorage`: operations queue their calls as on a JS store (and take its key
    /// locks), but the binding makes them itself, pipelined (`operation::advance`).
    Redis(Arc<KeyLocks>, Arc<RedisStore>),
}

/// Where a `RedisStorage` behind Redis Sentinel finds its master, checked by
/// `lib/redis-storage.js`: the sentinels' URLs (their own user and password in them), the name
/// they monitor the master under, and the master's user, password and database.
#[napi(object, object_to_js = false)]
pub struct RedisSentinel {
    pub nodes: Vec<String>,
    pub master_name: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<u32>,
}

#[napi]
pub struct NativeStorage {
    backend: Backend,
    /// Whether the JS store has the optional atomic `setIfAbsent(key, value, ttlMs)`.
    set_if_absent: bool,
    unsaved: Rc<UnsavedRecords>,
    own_leases: Rc<OwnLeases>,
    list_memo: Rc<ListMemo>,
    restores: Rc<RestoresInFlight>,
}

#[napi]
impl NativeStorage {
    /// A new, empty native in-memory store.
    #[napi(factory, catch_unwind)]
    pub fn memory() -> Self {
        Self::over(Backend::Memory(Rc::new(MemoryStorage::new())), false)
    }

    /// A handle for one store implemented in JS. Make one per store object and reuse it.
    /// `setIfAbsent`: the store has the optional atomic method of that name.
    #[napi(factory, catch_unwind)]
    pub fn host(set_if_absent: Option<bool>) -> Self {
        Self::over(
            Backend::Host(Arc::new(KeyLocks::new())),
            set_if_absent == Some(true),
        )
    }

    /// A handle for one `RedisStorage`: on the Redis at `target` (a URL: `redis://`, `rediss://`,
    /// `unix:`), on the Redis Cluster reached first through `target`'s URLs (some of its nodes),
    /// or on the master the sentinels of `target` name, found again after a failover; the prefix
    /// put before every key, and the timeouts (unset: the storage timeout). Connects on first use.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "target: string | string[] | RedisSentinel, keyPrefix?: string, commandTimeoutMs?: number, connectTimeoutMs?: number"
    )]
    pub fn redis(
        env: Env,
        target: Either3<String, Vec<String>, RedisSentinel>,
        key_prefix: Option<String>,
        command_timeout_ms: Option<u32>,
        connect_timeout_ms: Option<u32>,
    ) -> Result<Self> {
        let target = match target {
            Either3::A(url) => RedisTarget::Server(url),
            Either3::B(urls) => RedisTarget::Cluster(urls),
            Either3::C(sentinel) => RedisTarget::Sentinel(SentinelTarget {
                nodes: sentinel.nodes,
                master_name: sentinel.master_name,
                username: sentinel.username,
                password: sentinel.password.map(Secret::new),
                db: sentinel.db.map(i64::from),
            }),
        };
        let store = RedisStore::open(crate::redis::RedisOptions {
            target,
            key_prefix: key_prefix.unwrap_or_default(),
            command_timeout_ms: command_timeout_ms.map(u64::from),
            connect_timeout_ms: connect_timeout_ms.map(u64::from),
        });
        let store = match store {
            Ok(store) => store,
            Err(message) => {
                env.throw_type_error(&message, Some("ERR_INVALID_ARG_VALUE"))?;
                return Err(Error::new(Status::PendingException, String::new()));
            }
        };
        Ok(Self::over(
            Backend::Redis(Arc::new(KeyLocks::new()), store),
            true,
        ))
    }

    /// A handle over `backend`, with nothing yet remembered of its store.
    fn over(backend: Backend, set_if_absent: bool) -> Self {
        Self {
            backend,
            set_if_absent,
            unsaved: Rc::default(),
            own_leases: Rc::default(),
            list_memo: Rc::default(),
            restores: Rc::default(),
        }
    }

    /// Reads a key of the native store directly (for `InMemoryStorage.get`).
    #[napi(catch_unwind, ts_args_type = "key: string")]
    pub fn get_entry(&self, key: MaybeText) -> Result<Option<String>> {
        match key {
            MaybeText::Text(JsText::Text(key)) => Ok(self.memory_store()?.get_now(&key)),
            // No key holding an unpaired surrogate can have been stored.
            _ => Ok(None),
        }
    }

    /// Stores a string (for `InMemoryStorage.set`). The reference stores what it is given; a
    /// non-string would come back as something else, so it is refused, as are texts a Rust
    /// string cannot hold.
    #[napi(catch_unwind, ts_args_type = "key: string, value: unknown")]
    pub fn set_entry(&self, env: Env, key: MaybeText, value: MaybeText) -> Result<()> {
        let key = well_formed(env, key, "key")?;
        let value = well_formed(env, value, "value")?;
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

    #[napi(catch_unwind, ts_args_type = "key: string")]
    pub fn delete_entry(&self, key: MaybeText) -> Result<()> {
        if let MaybeText::Text(JsText::Text(key)) = key {
            self.memory_store()?.delete_now(&key);
        }
        Ok(())
    }
}

/// The text of an `InMemoryStorage` key or value, or the `TypeError` that says why it cannot be one.
fn well_formed(env: Env, given: MaybeText, what: &str) -> Result<String> {
    let problem = match given {
        MaybeText::Text(JsText::Text(text)) => return Ok(text),
        MaybeText::Text(JsText::Unpaired(units)) => format!(
            "An InMemoryStorage {what} holds an unpaired UTF-16 surrogate (at index {}), which this package does not support",
            first_unpaired(&units)
        ),
        MaybeText::Other(kind) => format!("An InMemoryStorage {what} must be a string, got {kind}"),
    };
    env.throw_type_error(&problem, Some("ERR_INVALID_ARG_TYPE"))?;
    Err(Error::new(Status::PendingException, String::new()))
}

impl NativeStorage {
    fn memory_store(&self) -> Result<&MemoryStorage> {
        match &self.backend {
            Backend::Memory(m) => Ok(m),
            Backend::Host(_) | Backend::Redis(..) => Err(Error::new(
                Status::InvalidArg,
                "this storage handle is not a native in-memory store",
            )),
        }
    }

    /// The Redis store and its key locks, when this is a `RedisStorage`'s handle.
    pub(super) fn redis_native(&self) -> Option<(Arc<RedisStore>, Arc<KeyLocks>)> {
        match &self.backend {
            Backend::Redis(locks, store) => Some((store.clone(), locks.clone())),
            _ => None,
        }
    }

    pub(super) fn list_memo(&self) -> Rc<ListMemo> {
        self.list_memo.clone()
    }

    /// The restores under way on this store, which a restore of the same kind joins.
    pub(super) fn restores(&self) -> Rc<RestoresInFlight> {
        self.restores.clone()
    }

    /// The store an operation of `family` should use, and the queue its calls go through when
    /// the store is implemented in JS.
    pub(super) fn for_operation(&self, family: Family) -> (Rc<dyn Storage>, Rc<HostQueue>) {
        let queue = HostQueue::new();
        let storage: Rc<dyn Storage> = match &self.backend {
            Backend::Memory(m) => Rc::new(MemoryOperation::new(m.clone(), family, queue.give_up())),
            Backend::Host(locks) | Backend::Redis(locks, _) => Rc::new(
                HostStorage::new(queue.clone(), locks.clone(), family)
                    .with_set_if_absent(self.set_if_absent)
                    .with_unsaved(self.unsaved.clone())
                    .with_own_leases(self.own_leases.clone()),
            ),
        };
        (storage, queue)
    }
}
