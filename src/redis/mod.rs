//! Makes the storage calls of operations on a `RedisStorage` with the `redis` crate, on a
//! thread of its own (`spawn`), as `http_engine` makes their HTTP requests.
//!
//! Why here and not in JS: every storage call of an operation on a store implemented in JS
//! crosses into JS and back. A batch of calls an operation issued together is sent here as one
//! pipeline, in one round trip, and the operation gets the answers without JS seeing a key or a
//! value (the binding's `operation` runs it on to its next batch without JS, too).
//!
//! One `ConnectionManager` per store (a multiplexed connection that reconnects after Redis went
//! away), on a Redis Cluster the crate's cluster connection (`crate::redis::cluster`), or behind
//! Redis Sentinel a connection to the master the sentinels name (`crate::redis::sentinel`, which
//! asks them again after a failover), made on first use, on the Redis thread. On one Redis a
//! connection is never retried by itself: while Redis is down a call fails at once, and the next
//! call connects again; on a cluster or behind Sentinel a batch is tried again within its
//! timeout, after a redirection or a failover. A Redis that keeps the connection open but stops
//! answering is cut off by the storage timeout. Nothing here holds
//! the Node event loop: the thread and the connection's task hold nothing of Node's, and a call
//! in flight is a Promise bounded by the timeout (`binding::redis_promise`).

pub mod cluster;
pub mod commands;
pub mod sentinel;
pub mod sentinel_setup;
mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Value};

use crate::error::StorageFailure;
pub use crate::redis::commands::{
    answer_of, each, failure_of, pipeline, spread, Answer, Command, Reply,
};
use crate::redis::sentinel::{Master, SentinelTarget};
use crate::redis::tls::tls_roots;

/// The storage timeout (`setStorageTimeout`), of which JS keeps the copy its own stores use.
static STORAGE_TIMEOUT_MS: AtomicU64 = AtomicU64::new(10_000);

pub fn set_storage_timeout_ms(millis: u64) {
    STORAGE_TIMEOUT_MS.store(millis.max(1), Ordering::Relaxed);
}

/// Runs `task` on the thread Redis I/O runs on: one current-thread runtime, started on first
/// use, so that a call, the connection's task and the answer never wake each other across
/// threads. False when the thread could not be started.
pub fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) -> bool {
    static HANDLE: std::sync::OnceLock<Option<tokio::runtime::Handle>> = std::sync::OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let handle = runtime.handle().clone();
        // It runs until the process exits; it holds nothing that keeps Node alive.
        std::thread::Builder::new()
            .name("redis-storage".to_owned())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .ok()?;
        Some(handle)
    });
    match handle {
        Some(handle) => {
            handle.spawn(task);
            true
        }
        None => false,
    }
}

/// Where the sessions are: one Redis, the nodes a Redis Cluster is first reached through, or the
/// master some sentinels name.
pub enum RedisTarget {
    Server(String),
    Cluster(Vec<String>),
    Sentinel(SentinelTarget),
}

/// What `new RedisStorage(options)` was given, checked by the binding.
pub struct RedisOptions {
    pub target: RedisTarget,
    pub key_prefix: String,
    /// How long one batch may take; the storage timeout when unset.
    pub command_timeout_ms: Option<u64>,
    /// How long connecting may take; the command timeout when unset.
    pub connect_timeout_ms: Option<u64>,
}

/// A client, before its first use (boxed: each is a few hundred bytes, for a moment).
enum Client {
    Server(Box<redis::Client>),
    Cluster(Box<redis::cluster::ClusterClient>),
    /// Connects on first use by itself.
    Sentinel(Arc<Master>),
}

/// The connection batches go out on; clones share it.
#[derive(Clone)]
enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<Master>),
}

enum State {
    /// Not connected yet: the connection is made inside the runtime, on first use.
    Unopened(Client),
    Open(Connection),
    Closed,
}

/// One Redis, as one `RedisStorage` object sees it.
pub struct RedisStore {
    state: Mutex<State>,
    prefix: String,
    command_timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
}

impl std::fmt::Debug for RedisStore {
    // The client's connection info holds the password; the prefix is all there is to show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `options`; connects on first use. Fails for a URL the crate cannot use.
    pub fn open(options: RedisOptions) -> Result<Arc<Self>, String> {
        let client = match options.target {
            RedisTarget::Server(url) => Client::Server(Box::new(client_for(&url)?)),
            RedisTarget::Cluster(urls) => {
                Client::Cluster(Box::new(crate::redis::cluster::client_for(&urls)?))
            }
            RedisTarget::Sentinel(target) => Client::Sentinel(Arc::new(Master::open(target)?)),
        };
        Ok(Arc::new(Self {
            state: Mutex::new(State::Unopened(client)),
            prefix: options.key_prefix,
            command_timeout_ms: options.command_timeout_ms,
            connect_timeout_ms: options.connect_timeout_ms,
        }))
    }

    /// How long a batch may take, in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        self.command_timeout_ms
            .unwrap_or_else(|| STORAGE_TIMEOUT_MS.load(Ordering::Relaxed))
    }

    fn connect_timeout_ms(&self) -> u64 {
        self.connect_timeout_ms.unwrap_or_else(|| self.timeout_ms())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the state was held leaves it whole: each change is one assignment.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connection, made on first use. Must run on the runtime (the connection's task is
    /// spawned there).
    fn connection(&self) -> Result<Connection, StorageFailure> {
        let mut state = self.lock();
        let connection = match &*state {
            State::Open(connection) => return Ok(connection.clone()),
            State::Closed => {
                return Err(StorageFailure::Failed(
                    "the RedisStorage is closed".to_owned(),
                ))
            }
            State::Unopened(client) => {
                let connect = Duration::from_millis(self.connect_timeout_ms());
                match client {
                    Client::Server(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_number_of_retries(0)
                            .set_connection_timeout(Some(connect))
                            // The batch's own timeout bounds every call, the wait for a
                            // connection included.
                            .set_response_timeout(None);
                        let manager =
                            ConnectionManager::new_lazy_with_config((**client).clone(), config)
                                .map_err(|e| failure_of(&e))?;
                        Connection::Server(manager)
                    }
                    Client::Cluster(client) => {
                        Connection::Cluster(crate::redis::cluster::connect(client, connect))
                    }
                    Client::Sentinel(master) => Connection::Sentinel(master.clone()),
                }
            }
        };
        *state = State::Open(connection.clone());
        Ok(connection)
    }

    /// Drops the connection; every later call fails.
    pub fn close(&self) {
        *self.lock() = State::Closed;
    }

    /// Makes `commands` in one round trip (the sleeps meanwhile), within the timeout. When the
    /// timeout cuts the batch off, its writes may still land: `late` then resolves once they
    /// have or a second timeout passed, for the late-write locks.
    pub async fn execute(&self, commands: Vec<Command>) -> Execution {
        let millis = self.timeout_ms();
        let deadline = Instant::now() + Duration::from_millis(millis);
        let pause = commands
            .iter()
            .filter_map(|c| match c {
                Command::Sleep(ms) => Some(*ms),
                _ => None,
            })
            .max();
        let sent: Vec<Command> = commands
            .iter()
            .filter(|c| !matches!(c, Command::Sleep(_)))
            .cloned()
            .collect();
        // Cut off, the round trip is dropped: commands already handed to the connection still
        // go out, which is why the written keys stay locked (`Execution::late`).
        let round_trip = self.round_trip(&sent, deadline);
        let Ok(replies) = tokio::time::timeout_at(deadline.into(), round_trip).await else {
            return Execution {
                answers: commands
                    .iter()
                    .map(|c| match c {
                        Command::Sleep(_) => Ok(None),
                        _ => Err(StorageFailure::TimedOut(millis)),
                    })
                    .collect(),
                late: late_keys(&sent),
            };
        };
        if let Some(ms) = pause {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Execution {
            answers: spread(&commands, replies),
            late: Vec::new(),
        }
    }

    /// The replies to `sent`, one per command: on a cluster, each slot's commands fail or
    /// succeed together, apart from the others'. Behind Sentinel, tries after a failover start
    /// before `deadline`.
    async fn round_trip(&self, sent: &[Command], deadline: Instant) -> Vec<Reply> {
        if sent.is_empty() {
            return Vec::new();
        }
        let connection = match self.connection() {
            Ok(connection) => connection,
            Err(failure) => return sent.iter().map(|_| Err(failure.clone())).collect(),
        };
        match connection {
            Connection::Server(mut manager) => {
                let replies = pipeline(&self.prefix, sent)
                    .query_async::<Vec<Value>>(&mut manager)
                    .await
                    .map_err(|e| self.failure_of(&e));
                each(sent.len(), replies)
            }
            Connection::Cluster(connection) => {
                crate::redis::cluster::round_trip(&connection, &self.prefix, sent, |e| {
                    self.failure_of(e)
                })
                .await
            }
            Connection::Sentinel(master) => {
                let connect = Duration::from_millis(self.connect_timeout_ms());
                crate::redis::sentinel::round_trip(
                    &master,
                    &self.prefix,
                    sent,
                    deadline,
                    connect,
                    |e| self.failure_of(e),
                )
                .await
            }
        }
    }

    /// A failure of a round trip. Only connecting has a timeout of its own (the batch's is
    /// around it): a Redis that accepts and never answers times out as one that stopped
    /// answering does.
    fn failure_of(&self, error: &RedisError) -> StorageFailure {
        if error.is_timeout() {
            StorageFailure::TimedOut(self.connect_timeout_ms())
        } else {
            failure_of(error)
        }
    }
}

fn late_keys(sent: &[Command]) -> Vec<String> {
    sent.iter()
        .filter_map(Command::written_key)
        .map(str::to_owned)
        .collect()
}

/// The answers to a batch, in the order of its commands.
pub struct Execution {
    pub answers: Vec<Answer>,
    /// Keys written by a batch the timeout cut off: they stay locked for another timeout, lest
    /// a write that lands late undo a later read-modify-write.
    pub late: Vec<String>,
}

/// A client for `url`. `rediss://` trusts the system's roots, plus the PEM file named by
/// `NODE_EXTRA_CA_CERTS` as Node does; errors never repeat the URL's password.
fn client_for(url: &str) -> Result<redis::Client, String> {
    let refused = |why: &str| {
        format!(
            "RedisStorage: the url {} is not usable: {why}",
            crate::quote::text(url)
        )
    };
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(|e| refused(&format!("{:?}", e.kind())))?;
    if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
        return redis::Client::open(info).map_err(|e| refused(&format!("{:?}", e.kind())));
    }
    let Some(roots) = tls_roots() else {
        return redis::Client::open(info).map_err(|e| refused(&format!("{:?}", e.kind())));
    };
    redis::Client::build_with_tls(info, roots).map_err(|e| refused(&format!("{:?}", e.kind())))
}

#[cfg(test)]
mod tests;
