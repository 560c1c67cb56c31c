//! What a `RedisStorage` says to Redis and what the replies mean: a batch's storage calls as
//! commands, pipelines of them, and each call's answer from its reply. Shared by the standalone
//! engine (`crate::redis`) and the cluster client (`crate::redis::cluster`), which send
//! them differently.

use redis::{RedisError, Value};

use crate::error::{StorageFailure, StorageMethod};
use crate::host::StorageCall;

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
pub(crate) fn lossy_json_string(literal: &str) -> String {
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
    StorageFailure::Failed(described(error))
}

/// What went wrong, as `failure_of` says it.
pub fn described(error: &RedisError) -> String {
    if error.is_connection_refusal() {
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
    } else if error.kind() == redis::ErrorKind::AuthenticationFailed {
        "Redis refused the user name or password".to_owned()
    } else if let Some(code) = error.code() {
        format!("Redis answered the error {}", crate::quote::text(code))
    } else {
        format!("the Redis client failed ({:?})", error.kind())
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
