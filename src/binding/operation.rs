//! Operations that wait on a store implemented in JS, driven from JS by id.
//!
//! A starting function runs its operation as far as it goes. On the native store that is to the
//! end, and it returns the value. On a JS store it returns the operation's id, and JS calls
//! `resumeOperation` with the answers to the calls it was handed last, until the operation has
//! finished (`finishOperation` takes its value) or JS gives up on it (`cancelOperation`).
//!
//! Operations live in a per-thread table (one per Node environment: each worker has its own
//! thread) rather than in JS objects, so that an operation's memory and its key locks go the
//! moment it ends, not when a garbage-collector finalizer runs on some later turn of the loop.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::errors::throw;
use super::storage::NativeStorage;
use super::wakes;
use crate::error::{Result as CoreResult, StorageFailure};
use crate::host::drive::{Driven, Step, WakeSignal};
use crate::host::{HostAnswer, HostCall, HostHttp, Ticket};
use crate::http::{Http, HttpFailure, HttpRequest};
use crate::storage::{Family, Storage};

/// The value an operation ends with, converted to a JS value only when JS takes it. Each
/// operation ends with a value of its own type; this erases it.
pub struct OpOutput(Box<dyn IntoJs>);

trait IntoJs {
    /// # Safety
    /// `env` must be the environment of the current call, on its thread.
    unsafe fn into_js(self: Box<Self>, env: sys::napi_env) -> Result<sys::napi_value>;
}

impl<T: ToNapiValue + 'static> IntoJs for T {
    unsafe fn into_js(self: Box<Self>, env: sys::napi_env) -> Result<sys::napi_value> {
        unsafe { T::to_napi_value(env, *self) }
    }
}

impl OpOutput {
    pub fn new<T: ToNapiValue + 'static>(value: T) -> Self {
        Self(Box::new(value))
    }
}

impl ToNapiValue for OpOutput {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        unsafe { val.0.into_js(env) }
    }
}

/// What a starting function returns: the value, or the id of the operation to drive.
pub enum Outcome {
    Done(OpOutput),
    Pending(u32),
}

impl ToNapiValue for Outcome {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val {
            Outcome::Done(output) => unsafe { OpOutput::to_napi_value(env, output) },
            Outcome::Pending(id) => unsafe { u32::to_napi_value(env, id) },
        }
    }
}

impl TypeName for Outcome {
    fn type_name() -> &'static str {
        "Outcome"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

struct Operation {
    family: Family,
    driven: Driven<OpOutput>,
    /// The calls of the first poll, made by the starting function, for the first resume.
    first_calls: Option<Vec<(Ticket, HostCall)>>,
    /// The calls handed out last, in the order JS answers them.
    outstanding: Vec<Outstanding>,
}

enum Outstanding {
    Storage(Ticket),
    /// The request stays here until JS asks for it to be sent (`sendHttp`); its response is
    /// delivered to the operation directly, never through JS.
    Http(Ticket, Option<HttpRequest>),
}

thread_local! {
    static OPERATIONS: RefCell<HashMap<u32, Operation>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

fn next_id() -> u32 {
    NEXT_ID.with(|next| {
        let id = next.get();
        // Ids stay in 1..2^31 so that JS sees a small integer; an id comes round again only
        // after two billion operations, long after the one that had it ended.
        next.set(if id >= i32::MAX as u32 { 1 } else { id + 1 });
        id
    })
}

/// Takes an operation out of the table for the length of `f`, so that nothing `f` does can
/// find the table borrowed.
fn with_operation<T>(id: u32, f: impl FnOnce(&mut Operation) -> T) -> Result<T> {
    let mut op = OPERATIONS
        .with(|ops| ops.borrow_mut().remove(&id))
        .ok_or_else(|| Error::new(Status::InvalidArg, format!("no operation {id} is running")))?;
    let result = f(&mut op);
    OPERATIONS.with(|ops| ops.borrow_mut().insert(id, op));
    Ok(result)
}

/// Starts an operation on `storage` and runs it as far as it goes. `parent` is the operation
/// whose storage call JS was making when this one was started, if any: the new one joins its
/// family and so never waits for a lock the parent holds.
pub fn start<F, Fut, T>(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    make: F,
) -> Result<Outcome>
where
    F: FnOnce(Rc<dyn Storage>, Rc<dyn Http>) -> Fut,
    Fut: Future<Output = CoreResult<T>> + 'static,
    T: ToNapiValue + 'static,
{
    let id = next_id();
    let family = parent
        .and_then(|p| OPERATIONS.with(|ops| ops.borrow().get(&p).map(|op| op.family)))
        .unwrap_or(id);
    let (store, queue) = storage.for_operation(family);
    let http: Rc<dyn Http> = Rc::new(HostHttp::new(queue.clone()));
    let wake = WakeSignal::new(move || wakes::woken(id));
    let future = make(store, http);
    let output = async move { future.await.map(OpOutput::new) };
    let mut driven = Driven::new(output, queue, wake);
    let outcome = match driven.poll([]) {
        Step::Done => match driven.take_output() {
            Some(Ok(output)) => Ok(Outcome::Done(output)),
            Some(Err(e)) => Err(throw(env, &e)),
            None => Err(Error::from_reason("operation finished without a result")),
        },
        step => {
            let first_calls = match step {
                Step::Calls(calls) => Some(calls),
                _ => None,
            };
            let op = Operation {
                family,
                driven,
                first_calls,
                outstanding: Vec::new(),
            };
            OPERATIONS.with(|ops| ops.borrow_mut().insert(id, op));
            Ok(Outcome::Pending(id))
        }
    };
    wakes::notify_woken(env);
    outcome
}

/// A call JS must make: on its store, or an HTTP request to have sent (`sendHttp`).
#[napi(object, object_from_js = false)]
pub struct StorageRequest {
    /// `"get"`, `"set"`, `"delete"`, `"setIfAbsent"`, `"sleep"` (a pause, not a storage call) or
    /// `"http"`.
    pub method: String,
    /// The key, or for `http` the URL (never anything secret).
    pub key: String,
    /// True when `key` is a JSON string literal to decode: the key holds an unpaired UTF-16
    /// surrogate, which a Rust string cannot.
    pub key_is_json: Option<bool>,
    /// The value to store, for `set` and `setIfAbsent`.
    pub value: Option<String>,
    /// Milliseconds: the expiry of a `setIfAbsent` value, or how long to `sleep`.
    pub ttl_ms: Option<f64>,
}

/// Why the call at `index` of the last batch gave no answer.
#[napi(object, object_to_js = false)]
pub struct StorageFailureReport {
    pub index: u32,
    /// How the call failed: threw or rejected, and what kind of value ("it threw a `TypeError`").
    /// Never the value's own message, which may quote what the storage was given.
    pub message: Option<String>,
    /// Set when the call did not settle within this many milliseconds.
    pub timed_out_ms: Option<f64>,
    /// Set when `get` answered with a non-string; names the type.
    pub wrong_type: Option<String>,
    /// Set when `get` answered with text holding an unpaired surrogate where JSON cannot.
    pub unpaired_surrogate: Option<bool>,
}

/// A duration in milliseconds from JS, where it is a number.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to 0..=u32::MAX first; the storage timeout is at most 2^31 - 1 ms"
)]
fn millis_from_js(ms: f64) -> u64 {
    ms.clamp(0.0, f64::from(u32::MAX)) as u64
}

impl StorageFailureReport {
    fn into_failure(self) -> StorageFailure {
        if let Some(ms) = self.timed_out_ms {
            StorageFailure::TimedOut(millis_from_js(ms))
        } else if let Some(type_name) = self.wrong_type {
            StorageFailure::WrongType(type_name)
        } else if self.unpaired_surrogate == Some(true) {
            StorageFailure::UnpairedSurrogate
        } else {
            StorageFailure::Failed(self.message.unwrap_or_else(|| "unknown error".to_owned()))
        }
    }
}

impl Operation {
    fn hand_out(&mut self, step: Step) -> Option<Vec<StorageRequest>> {
        match step {
            Step::Done => Some(Vec::new()),
            Step::Waiting => None,
            Step::Calls(calls) => {
                let mut requests = Vec::with_capacity(calls.len());
                for (ticket, call) in calls {
                    match call {
                        HostCall::Storage(call) => {
                            self.outstanding.push(Outstanding::Storage(ticket));
                            requests.push(StorageRequest {
                                method: call.method.as_str().to_owned(),
                                key: call.key,
                                key_is_json: call.key_is_json.then_some(true),
                                value: call.value,
                                #[allow(
                                    clippy::cast_precision_loss,
                                    reason = "durations of at most a few minutes"
                                )]
                                ttl_ms: call.ttl_ms.map(|ms| ms as f64),
                            });
                        }
                        HostCall::Http(request) => {
                            // The method and URL are for debug logs; neither is secret.
                            requests.push(StorageRequest {
                                method: "http".to_owned(),
                                key: request.url.clone(),
                                key_is_json: None,
                                value: Some(request.method.to_owned()),
                                ttl_ms: None,
                            });
                            self.outstanding
                                .push(Outstanding::Http(ticket, Some(request)));
                        }
                    }
                }
                Some(requests)
            }
        }
    }
}

/// Hands back the answers to the last batch of calls (`values[i]` for call `i`, unless
/// `failures` names it) and returns the next batch: `[]` once finished, `null` while the
/// operation waits for a key lock. `gaveUpWaitingMs` tells a lock wait to give up, when the
/// operation has waited that long.
#[napi(
    catch_unwind,
    ts_args_type = "id: number, values: Array<string | undefined | null>, failures?: StorageFailureReport[] | null, gaveUpWaitingMs?: number | null"
)]
pub fn resume_operation(
    env: Env,
    id: u32,
    values: Vec<Option<String>>,
    failures: Option<Vec<StorageFailureReport>>,
    gave_up_waiting_ms: Option<f64>,
) -> Result<Option<Vec<StorageRequest>>> {
    let next = with_operation(id, |op| {
        let step = if let Some(calls) = op.first_calls.take() {
            Step::Calls(calls)
        } else if let Some(ms) = gave_up_waiting_ms {
            wakes::stop_waiting(id);
            op.driven.give_up_waiting(millis_from_js(ms))
        } else {
            let mut failures: HashMap<u32, StorageFailureReport> = failures
                .into_iter()
                .flatten()
                .map(|report| (report.index, report))
                .collect();
            let mut answers = Vec::new();
            let mut values = values.into_iter();
            for (index, outstanding) in std::mem::take(&mut op.outstanding).into_iter().enumerate()
            {
                let value = values.next().flatten();
                let failure = u32::try_from(index).ok().and_then(|i| failures.remove(&i));
                match outstanding {
                    Outstanding::Storage(ticket) => {
                        let answer = match failure {
                            Some(report) => Err(report.into_failure()),
                            None => Ok(value),
                        };
                        answers.push((ticket, HostAnswer::Storage(answer)));
                    }
                    // Its response was delivered when it came; if none came, say so rather
                    // than leave the operation waiting for it.
                    Outstanding::Http(ticket, request) => {
                        if !op.driven.has_answer(ticket) {
                            let reason = if request.is_some() {
                                "the request was never sent"
                            } else {
                                "the request ended without a response"
                            };
                            answers.push((
                                ticket,
                                HostAnswer::Http(Err(HttpFailure::Invalid(reason.to_owned()))),
                            ));
                        }
                    }
                }
            }
            op.driven.poll(answers)
        };
        op.hand_out(step)
    });
    wakes::notify_woken(env);
    next
}

/// Sends the HTTP request at `index` of the operation's last batch. The Promise resolves once
/// the response, or the failure, has been handed to the operation, with the response's status
/// (0 when there was none), for debug logs: the response itself stays in Rust.
#[napi(
    catch_unwind,
    ts_args_type = "id: number, index: number",
    ts_return_type = "Promise<number>"
)]
pub fn send_http(env: &Env, id: u32, index: u32) -> Result<PromiseRaw<'_, u32>> {
    let taken = with_operation(id, |op| match op.outstanding.get_mut(index as usize) {
        Some(Outstanding::Http(ticket, request)) => request.take().map(|r| (*ticket, r)),
        _ => None,
    })?;
    let Some((ticket, request)) = taken else {
        return Err(Error::new(
            Status::InvalidArg,
            format!("call {index} of operation {id} is not an HTTP request waiting to be sent"),
        ));
    };
    env.spawn_future_with_callback(
        async move { Ok(crate::http_engine::send(request).await) },
        move |_env, answer| {
            let status = answer.as_ref().map_or(0, |r| u32::from(r.status));
            // On the JS thread. An operation cancelled meanwhile is not there any more.
            OPERATIONS.with(|ops| {
                if let Some(op) = ops.borrow().get(&id) {
                    op.driven.deliver(ticket, HostAnswer::Http(answer));
                }
            });
            Ok(status)
        },
    )
}

/// Registers `callback` to be called once the operation can go on. Returns true, without
/// registering, when it can go on already.
#[napi(catch_unwind, ts_args_type = "id: number, callback: () => void")]
pub fn wait_for_operation(id: u32, callback: Function<(), ()>) -> Result<bool> {
    let woken = with_operation(id, |op| op.driven.wake_signal().is_woken())?;
    if woken {
        return Ok(true);
    }
    let callback = callback.create_ref()?;
    wakes::wait(id, callback);
    Ok(false)
}

/// Ends a finished operation: returns its value, or throws its error.
#[napi(catch_unwind, ts_args_type = "id: number", ts_return_type = "any")]
pub fn finish_operation(env: Env, id: u32) -> Result<OpOutput> {
    let op = OPERATIONS.with(|ops| ops.borrow_mut().remove(&id));
    wakes::stop_waiting(id);
    let output = op.and_then(|mut op| op.driven.take_output());
    let result = match output {
        Some(Ok(output)) => Ok(output),
        Some(Err(e)) => Err(throw(env, &e)),
        None => Err(Error::from_reason(format!(
            "operation {id} has not finished"
        ))),
    };
    wakes::notify_woken(env);
    result
}

/// Drops an operation wherever it is: the locks it holds are released at once.
#[napi(catch_unwind, ts_args_type = "id: number")]
pub fn cancel_operation(env: Env, id: u32) {
    let op = OPERATIONS.with(|ops| ops.borrow_mut().remove(&id));
    wakes::stop_waiting(id);
    drop(op);
    wakes::notify_woken(env);
}

/// How many operations are in the table: for tests that check that none is left behind.
#[napi(catch_unwind)]
pub fn running_operations() -> u32 {
    OPERATIONS.with(|ops| u32::try_from(ops.borrow().len()).unwrap_or(u32::MAX))
}
