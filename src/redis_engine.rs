//! Makes the storage calls of operations on a `RedisStorage` with the `redis` crate, on a
//! thread of its own (`spawn`), as `http_engine` makes their HTTP requests.
//!
//! Why here and not in JS: every storage call of an operation on a store implemented in JS
//! crosses into JS and back. A batch of calls an operation issued together is sent here as one
//! pipeline, in one round trip, and the operation gets the answers without JS seeing a key or a
//! value (the binding's `chain` runs it on to its next batch without JS, too).
//!
//! One `ConnectionManager` per store (a multiplexed connection that reconnects after Redis went
//! away), or on a Redis Cluster the crate's cluster connection (`crate::redis_cluster`), made on
//! first use, on the Redis thread. It never retries a connection by itself: while
//! Redis is down a call fails at once, and the next call connects again; a Redis that keeps the
//! connection open but stops answering is cut off by the storage timeout. Nothing here holds
//! the Node event loop: the thread and the connection's task hold nothing of Node's, and a call
//! in flight is a Promise bounded by the timeout (`binding::redis_promise`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Value};

use crate::error::{StorageFailure, StorageMethod};
use crate::host::StorageCall;

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

/// Where the sessions are: one Redis, or the nodes a Redis Cluster is first reached through.
pub enum RedisTarget {
    Server(String),
    Cluster(Vec<String>),
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
}

/// The connection batches go out on; clones share it.
#[derive(Clone)]
enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
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

/// A command of a batch. The value is a record (tokens, a private key): never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    Get(String),
    Set(String, String),
    Delete(String),
    SetIfAbsent(String, String, u64),
    /// A pause between reads of a key another process is expected to write: no command.
    Sleep(u64),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Get(k) => write!(f, "GET {k:?}"),
            Command::Set(k, _) => write!(f, "SET {k:?} [redacted]"),
            Command::Delete(k) => write!(f, "DEL {k:?}"),
            Command::SetIfAbsent(k, _, ttl) => write!(f, "SET {k:?} [redacted] NX PX {ttl}"),
            Command::Sleep(ms) => write!(f, "sleep {ms} ms"),
        }
    }
}

impl Command {
    /// The command for a storage call, or why there is none. A key given as a JSON literal
    /// holds an unpaired surrogate (a session list the reference wrote); node-redis would have
    /// written it as UTF-8 with U+FFFD in its place, so it is looked up as that.
    pub fn of(call: &StorageCall) -> Self {
        let key = if call.key_is_json {
            lossy_json_string(&call.key)
        } else {
            call.key.clone()
        };
        let value = call.value.clone().unwrap_or_default();
        match call.method {
            StorageMethod::Get => Command::Get(key),
            StorageMethod::Set => Command::Set(key, value),
            StorageMethod::Delete => Command::Delete(key),
            // SET's PX takes a whole number of milliseconds of at least 1.
            StorageMethod::SetIfAbsent => {
                Command::SetIfAbsent(key, value, call.ttl_ms.unwrap_or(1).max(1))
            }
            StorageMethod::Sleep => Command::Sleep(call.ttl_ms.unwrap_or(0)),
        }
    }

    /// The key a write changes, for the late-write lock.
    pub fn written_key(&self) -> Option<&str> {
        match self {
            Command::Set(k, _) | Command::Delete(k) | Command::SetIfAbsent(k, _, _) => Some(k),
            Command::Get(_) | Command::Sleep(_) => None,
        }
    }
}

/// A JSON string literal's text with each unpaired surrogate escape as U+FFFD.
fn lossy_json_string(literal: &str) -> String {
    let inner = literal
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(literal);
    let mut units: Vec<u16> = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                units.push(u16::from_str_radix(&hex, 16).unwrap_or(0xFFFD));
            }
            Some('n') => units.push(u16::from(b'\n')),
            Some('r') => units.push(u16::from(b'\r')),
            Some('t') => units.push(u16::from(b'\t')),
            Some('b') => units.push(0x08),
            Some('f') => units.push(0x0C),
            Some(other) => {
                let mut buf = [0u16; 2];
                units.extend_from_slice(other.encode_utf16(&mut buf));
            }
            None => {}
        }
    }
    String::from_utf16_lossy(&units)
}

/// The pipeline that makes `commands` (sleeps left out) in one round trip, keys under `prefix`.
/// Server errors come back per command, in their places, rather than failing the whole batch.
pub fn pipeline<'a>(
    prefix: &str,
    commands: impl IntoIterator<Item = &'a Command>,
) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for command in commands {
        match command {
            Command::Get(k) => {
                pipe.cmd("GET").arg(format!("{prefix}{k}"));
            }
            Command::Set(k, v) => {
                pipe.cmd("SET").arg(format!("{prefix}{k}")).arg(v);
            }
            Command::Delete(k) => {
                pipe.cmd("DEL").arg(format!("{prefix}{k}"));
            }
            Command::SetIfAbsent(k, v, ttl) => {
                pipe.cmd("SET")
                    .arg(format!("{prefix}{k}"))
                    .arg(v)
                    .arg("NX")
                    .arg("PX")
                    .arg(*ttl);
            }
            Command::Sleep(_) => {}
        }
    }
    pipe
}

/// The answer of a call, as the core reads host answers: `get`'s text, `Some` for a
/// `setIfAbsent` that stored, nothing for the rest.
pub type Answer = Result<Option<String>, StorageFailure>;

/// What Redis answered to one command, as the answer to its call.
pub fn answer_of(command: &Command, reply: Value) -> Answer {
    match (command, reply) {
        (_, Value::ServerError(e)) => Err(StorageFailure::Failed(format!(
            "Redis answered the error {}",
            crate::quote::text(e.code())
        ))),
        (Command::Get(_), Value::Nil) => Ok(None),
        (Command::Get(_), Value::BulkString(bytes)) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| StorageFailure::WrongType("bytes that are not UTF-8".to_owned())),
        (Command::Get(_), other) => Err(StorageFailure::WrongType(kind_of(&other).to_owned())),
        // SET NX answers OK when it stored and nil when the key was taken.
        (Command::SetIfAbsent(..), Value::Okay) => Ok(Some("set".to_owned())),
        _ => Ok(None),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Int(_) => "a Redis integer",
        Value::Array(_) | Value::Set(_) | Value::Map(_) => "a Redis collection",
        _ => "a Redis value that is not a string",
    }
}

/// Why a batch failed, in words that name no key, value or address: the crate's messages may
/// quote the URL (and so a password) or a command.
pub fn failure_of(error: &RedisError) -> StorageFailure {
    let what = if error.is_connection_refusal() {
        "Redis refused the connection".to_owned()
    } else if error.is_timeout() {
        "connecting to Redis timed out".to_owned()
    } else if error.is_connection_dropped() {
        "the connection to Redis was lost".to_owned()
    } else if error.is_io_error() && error.to_string().contains("certificate") {
        // rustls's reason, as an I/O error; only the fact is repeated.
        "Redis's TLS certificate was not accepted".to_owned()
    } else if error.is_io_error() {
        "Redis could not be reached".to_owned()
    } else if error.kind() == redis::ErrorKind::ClusterConnectionNotFound {
        // The cluster client keeps why it could not connect to itself.
        "no node of the Redis Cluster could be reached (down, refusing, or its TLS certificate \
         not accepted)"
            .to_owned()
    } else if let Some(code) = error.code() {
        format!("Redis answered the error {}", crate::quote::text(code))
    } else {
        format!("the Redis client failed ({:?})", error.kind())
    };
    StorageFailure::Failed(what)
}

impl RedisStore {
    /// A store for `options`; connects on first use. Fails for a URL the crate cannot use.
    pub fn open(options: RedisOptions) -> Result<Arc<Self>, String> {
        let client = match &options.target {
            RedisTarget::Server(url) => Client::Server(Box::new(client_for(url)?)),
            RedisTarget::Cluster(urls) => {
                Client::Cluster(Box::new(crate::redis_cluster::client_for(urls)?))
            }
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
                        Connection::Cluster(crate::redis_cluster::connect(client, connect))
                    }
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
        let round_trip = self.round_trip(&sent);
        let Ok(replies) = tokio::time::timeout(Duration::from_millis(millis), round_trip).await
        else {
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
    /// succeed together, apart from the others'.
    async fn round_trip(&self, sent: &[Command]) -> Vec<Reply> {
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
                crate::redis_cluster::round_trip(&connection, &self.prefix, sent, |e| {
                    self.failure_of(e)
                })
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

/// What one command of a batch got back.
pub type Reply = Result<Value, StorageFailure>;

/// The replies of a pipeline of `count` commands, one per command (the failure of the whole
/// pipeline in each place).
pub fn each(count: usize, replies: Result<Vec<Value>, StorageFailure>) -> Vec<Reply> {
    match replies {
        Err(failure) => (0..count).map(|_| Err(failure.clone())).collect(),
        Ok(values) => {
            let mut values = values.into_iter();
            (0..count)
                .map(|_| {
                    values.next().ok_or_else(|| {
                        StorageFailure::Failed(
                            "Redis answered fewer replies than commands".to_owned(),
                        )
                    })
                })
                .collect()
        }
    }
}

fn late_keys(sent: &[Command]) -> Vec<String> {
    sent.iter()
        .filter_map(Command::written_key)
        .map(str::to_owned)
        .collect()
}

/// Each call's answer from the replies to the commands sent (sleeps answer nothing).
pub fn spread(commands: &[Command], replies: Vec<Reply>) -> Vec<Answer> {
    let mut replies = replies.into_iter();
    commands
        .iter()
        .map(|c| match c {
            Command::Sleep(_) => Ok(None),
            _ => match replies.next() {
                Some(reply) => reply.and_then(|v| answer_of(c, v)),
                None => Err(StorageFailure::Failed(
                    "Redis answered fewer replies than commands".to_owned(),
                )),
            },
        })
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

/// Readies TLS for a `rediss://` client, and gives the roots it must trust when they are not
/// the crate's default (the system's): with `NODE_EXTRA_CA_CERTS` set, the system's and that
/// file's, as Node trusts.
pub(crate) fn tls_roots() -> Option<redis::TlsCertificates> {
    // The crate builds its TLS configuration with the process's default provider: ring, which
    // the HTTP engine uses too (no second TLS stack).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let extra = std::env::var_os("NODE_EXTRA_CA_CERTS").filter(|p| !p.is_empty())?;
    // Given roots replace the system's in the crate, so both go in.
    let mut pem = system_roots_pem();
    if let Ok(bytes) = std::fs::read(extra) {
        pem.extend_from_slice(&bytes);
    }
    Some(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    })
}

fn system_roots_pem() -> Vec<u8> {
    use base64::Engine as _;
    let mut pem = Vec::new();
    for cert in rustls_native_certs::load_native_certs().certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
#[path = "redis_engine_tests.rs"]
mod tests;
