//! The binding's side of `RedisStorage`: a batch of an operation's storage calls made in one
//! round trip (`crate::redis`) and handed to the operation as HTTP responses are, the
//! `IStorage` methods JS calls directly, and `close`.

use std::sync::Arc;
use std::time::Instant;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::storage::NativeStorage;
use super::wakes;
use crate::error::{Error as CoreError, StorageFailure, StorageMethod};
use crate::host::{HostAnswer, StorageCall, Ticket};
use crate::keys::KeyName;
use crate::redis::commands::Command;
use crate::redis::{set_storage_timeout_ms, RedisStore};
use crate::storage::KeyLocks;

/// A `RedisStorage`'s store and the key locks its operations share.
pub(super) struct Native {
    store: Arc<RedisStore>,
    locks: Arc<KeyLocks>,
}

impl From<(Arc<RedisStore>, Arc<KeyLocks>)> for Native {
    fn from((store, locks): (Arc<RedisStore>, Arc<KeyLocks>)) -> Self {
        Self { store, locks }
    }
}

impl Native {
    /// Sends a batch of storage calls as one pipeline and returns the Promise JS awaits in
    /// their place. Once the answers are in (on the JS thread), `then` gets them, each with its
    /// ticket, and the debug-log line when `log` asked for one; the Promise settles with what
    /// `then` returns.
    pub(super) fn send(
        &self,
        env: Env,
        calls: Vec<(Ticket, StorageCall)>,
        log: bool,
        then: impl FnOnce(&Env, Vec<(Ticket, HostAnswer)>, Option<String>) -> Result<sys::napi_value>
            + Send
            + 'static,
    ) -> Result<sys::napi_value> {
        let (tickets, commands): (Vec<Ticket>, Vec<Command>) = calls
            .iter()
            .map(|(ticket, call)| (*ticket, Command::of(call)))
            .unzip();
        let store = self.store.clone();
        let locks = self.locks.clone();
        let millis = store.timeout_ms();
        let logged = log.then(|| (described(&commands), Instant::now()));
        super::redis_promise::promise(
            &env,
            async move { store.execute(commands).await },
            move |env, execution| {
                let line = logged.map(|(what, started)| {
                    let failure = execution.answers.iter().find_map(|a| a.as_ref().err());
                    let outcome = failure.map_or_else(String::new, |f| match f {
                        StorageFailure::TimedOut(ms) => format!(": no answer within {ms} ms"),
                        StorageFailure::Failed(why) => format!(": failed: {why}"),
                        StorageFailure::WrongType(kind) => format!(": answered with {kind}"),
                        StorageFailure::UnpairedSurrogate => String::new(),
                    });
                    format!(
                        "Redis: {what} in {} ms{outcome}",
                        started.elapsed().as_millis()
                    )
                });
                hold_late_writes(env, &locks, execution.late, millis);
                let answers = tickets
                    .into_iter()
                    .zip(execution.answers)
                    .map(|(ticket, answer)| (ticket, HostAnswer::Storage(answer)))
                    .collect();
                then(&env, answers, line)
            },
        )
    }
}

/// A batch for the debug log: its commands, keys named as messages name them (a session ID or a
/// login state by its kind), never a value.
fn described(commands: &[Command]) -> String {
    let named: Vec<String> = commands
        .iter()
        .map(|command| match command {
            Command::Get(k) => format!("GET {}", KeyName(k)),
            Command::Set(k, _) => format!("SET {}", KeyName(k)),
            Command::Delete(k) => format!("DEL {}", KeyName(k)),
            Command::SetIfAbsent(k, _, ttl) => format!("SET {} NX PX {ttl}", KeyName(k)),
            Command::Sleep(ms) => format!("a pause of {ms} ms"),
        })
        .collect();
    named.join(", ")
}

/// Keeps `keys` locked for another timeout: writes the timeout cut off may still land, and one
/// landing after a later read-modify-write would undo it (as `lib/driver.js` does for JS stores).
fn hold_late_writes(env: Env, locks: &Arc<KeyLocks>, keys: Vec<String>, millis: u64) {
    if keys.is_empty() {
        return;
    }
    for key in &keys {
        locks.begin_late_write(key);
    }
    let ending = locks.clone();
    let held = keys.clone();
    let ended = env.spawn_future_with_callback(
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            Ok(())
        },
        move |env, ()| {
            for key in &held {
                ending.end_late_write(key);
            }
            wakes::notify_woken(*env);
            Ok(())
        },
    );
    // Without the timer the keys would stay locked for good: release them now instead.
    if ended.is_err() {
        for key in &keys {
            locks.end_late_write(key);
        }
    }
}

/// Why a direct call failed, for `lib/errors.js`'s `fromNative` (a `StorageError`).
#[napi(object, object_from_js = false)]
pub struct StorageCallFailure {
    pub message: String,
    pub code: String,
    pub kind: String,
    pub key: Option<String>,
}

fn method_of(name: &str) -> Option<StorageMethod> {
    Some(match name {
        "get" => StorageMethod::Get,
        "set" => StorageMethod::Set,
        "delete" => StorageMethod::Delete,
        "setIfAbsent" => StorageMethod::SetIfAbsent,
        _ => return None,
    })
}

#[napi]
impl NativeStorage {
    /// One `IStorage` call on a `RedisStorage`, for JS code that calls `get`, `set`, `delete` or
    /// `setIfAbsent` itself. Resolves with the value (`get`), a non-null value when a
    /// `setIfAbsent` stored, or a `StorageCallFailure`.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<string | null | StorageCallFailure>"
    )]
    pub fn redis_call<'env>(
        &self,
        env: &'env Env,
        method: String,
        key: String,
        value: Option<String>,
        ttl_ms: Option<f64>,
    ) -> Result<PromiseRaw<'env, Either<Option<String>, StorageCallFailure>>> {
        let Some((store, locks)) = self.redis_native() else {
            return Err(Error::new(
                Status::InvalidArg,
                "this storage handle is not a RedisStorage",
            ));
        };
        let Some(method) = method_of(&method) else {
            return Err(Error::new(Status::InvalidArg, "no such storage method"));
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 1..=u32::MAX first, and rounded up as the adapter rounds"
        )]
        let ttl_ms = ttl_ms.map(|ms| ms.ceil().clamp(1.0, f64::from(u32::MAX)) as u64);
        let call = StorageCall {
            method,
            key,
            key_is_json: false,
            value,
            ttl_ms,
        };
        let command = Command::of(&call);
        let millis = store.timeout_ms();
        let promise = super::redis_promise::promise(
            env,
            async move { store.execute(vec![command]).await },
            move |env, mut execution| {
                hold_late_writes(env, &locks, std::mem::take(&mut execution.late), millis);
                let answer = execution.answers.pop().unwrap_or(Ok(None));
                let value = match answer {
                    Ok(value) => Either::A(value),
                    Err(failure) => {
                        let error = CoreError::from_failure(method, &call.key, failure);
                        let (code, kind) = super::errors::js_kind(&error);
                        Either::B(StorageCallFailure {
                            message: error.to_string(),
                            code: code.to_owned(),
                            kind: kind.unwrap_or("StorageError").to_owned(),
                            key: Some(call.key),
                        })
                    }
                };
                unsafe { Either::to_napi_value(env.raw(), value) }
            },
        )?;
        Ok(PromiseRaw::new(env.raw(), promise))
    }

    /// Closes a `RedisStorage`'s connection; its later calls fail. Nothing else to wait for:
    /// calls in flight end with the connection.
    #[napi(catch_unwind)]
    pub fn close_redis(&self) {
        if let Some((store, _)) = self.redis_native() {
            store.close();
        }
    }
}

/// The storage timeout, which JS keeps for its own stores, for `RedisStorage` calls too.
#[napi(catch_unwind)]
pub fn set_native_storage_timeout(millis: u32) {
    set_storage_timeout_ms(u64::from(millis));
}
