//! Operations that wait on a store implemented in JS, driven from JS by id.
//!
//! A starting function runs its operation as far as it goes. On the native store that is to the
//! end, and it returns the value. Otherwise it returns a `PendingOperation`: the operation's id
//! and its first batch of calls. JS makes them and calls `resumeOperation` with the answers,
//! which returns the next batch, or the value once the operation has finished; so each step
//! costs one call across the boundary. A batch without calls means the operation waits for a key
//! lock (`waitForOperation`). JS drops an operation it gives up on with `cancelOperation`.
//!
//! The HTTP requests of a batch never pass through JS: they are sent here, as the batch is
//! handed out, and JS gets a Promise in their place that settles once the response (or the
//! failure) has been handed to the operation. On a `RedisStorage` the storage calls of a batch
//! do not either: they go to Redis together, as one pipeline (`super::redis`), and JS gets one
//! Promise in their place; when it is answered, the operation goes on without JS where it can
//! (chaining, at the end of this file).
//!
//! Operations live in a per-thread table (one per Node environment: each worker has its own
//! thread) rather than in JS objects, so that an operation's memory and its key locks go the
//! moment it ends, not when a garbage-collector finalizer runs on some later turn of the loop.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Instant;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::errors::throw;
use super::host_values::{
    millis_from_js, BatchEntry, HostValue, OpOutput, Outcome, PendingOperation,
    StorageFailureReport, StorageRequest,
};
use super::storage::NativeStorage;
use super::wakes;
use crate::error::{Result as CoreResult, StorageFailure, StorageMethod};
use crate::host::drive::{Driven, Step, WakeSignal};
use crate::host::{HostAnswer, HostCall, HostHttp, Ticket};
use crate::http::{Http, HttpFailure, HttpRequest};
use crate::storage::{Family, Storage};

pub(super) struct Operation {
    family: Family,
    /// The store, when its calls are made here rather than by JS (a `RedisStorage`).
    redis: Option<super::redis::Native>,
    driven: Driven<OpOutput>,
    /// The calls handed out last, in the order JS answers them.
    outstanding: Vec<Outstanding>,
    /// What the operation did next after its native calls were answered (chaining, below),
    /// waiting for `resumeOperation` to hand it out.
    parked: Option<Step>,
    /// Debug-log lines of batches chained natively, handed to JS with the last one's.
    lines: Vec<String>,
}

enum Outstanding {
    Storage(Ticket, StorageMethod),
    /// A request sent when it was handed out; its response is delivered to the operation
    /// directly, never through JS.
    Http(Ticket),
    /// Storage calls made natively, in one round trip, when they were handed out; delivered as
    /// an HTTP response is.
    Native(Vec<Ticket>),
}

thread_local! {
    static OPERATIONS: RefCell<HashMap<u32, Operation>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
    /// Whether the Promises of HTTP requests resolve with a line for the debug log.
    static LOG_HTTP_REQUESTS: Cell<bool> = const { Cell::new(false) };
}

/// Makes the Promises that stand for HTTP requests in a batch resolve with a line for the debug
/// log (`NODE_DEBUG=solid-client-authn-native`): method, URL, status and time, nothing secret.
/// Per Node environment; off by default.
#[napi(catch_unwind)]
pub fn log_http_requests(on: bool) {
    LOG_HTTP_REQUESTS.with(|log| log.set(on));
}

/// Whether batch Promises resolve with a line for the debug log (`log_http_requests`).
pub(super) fn logging() -> bool {
    LOG_HTTP_REQUESTS.with(Cell::get)
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

/// Takes an operation out of the table, so that nothing done with it can find the table
/// borrowed; `advance` puts it back unless it has ended.
pub(super) fn take_operation(id: u32) -> Result<Operation> {
    OPERATIONS
        .with(|ops| ops.borrow_mut().remove(&id))
        .ok_or_else(|| Error::new(Status::InvalidArg, format!("no operation {id} is running")))
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
    let redis = storage.redis_native().map(super::redis::Native::from);
    let http: Rc<dyn Http> = Rc::new(HostHttp::new(queue.clone()));
    let wake = WakeSignal::new(move || wakes::woken(id));
    let future = make(store, http);
    let output = async move { future.await.map(OpOutput::new) };
    let mut driven = Driven::new(output, queue, wake);
    let step = driven.poll([]);
    let op = Operation {
        family,
        redis,
        driven,
        outstanding: Vec::new(),
        parked: None,
        lines: Vec::new(),
    };
    let advanced = advance(&env, id, op, step);
    returned(env, advanced)
}

/// What an entry point returns to JS once an operation has advanced. Wakes come first: a
/// failed operation's error is thrown into JS last, since no JS callback can be called while an
/// exception is pending.
fn returned(env: Env, advanced: Result<CoreResult<Outcome>>) -> Result<Outcome> {
    wakes::notify_woken(env);
    match advanced? {
        Ok(outcome) => Ok(outcome),
        Err(e) => Err(throw(env, &e)),
    }
}

/// What follows a poll of operation `id` that took it out of the table: its value, or the error
/// it failed with, once it has finished (it then stays out, and the locks it held are free);
/// otherwise the next batch, with the batch's HTTP requests sent.
pub(super) fn advance(
    env: &Env,
    id: u32,
    mut op: Operation,
    step: Step,
) -> Result<CoreResult<Outcome>> {
    let calls = match step {
        Step::Done => {
            wakes::stop_waiting(id);
            return match op.driven.take_output() {
                Some(output) => Ok(output.map(Outcome::Done)),
                None => Err(Error::from_reason(format!(
                    "operation {id} finished without a result"
                ))),
            };
        }
        Step::Waiting => Vec::new(),
        Step::Calls(calls) => calls,
    };
    let mut batch = Vec::with_capacity(calls.len());
    let mut native = Vec::new();
    for (ticket, call) in calls {
        match call {
            HostCall::Storage(call) if op.redis.is_some() => native.push((ticket, call)),
            HostCall::Storage(call) => {
                op.outstanding
                    .push(Outstanding::Storage(ticket, call.method));
                batch.push(BatchEntry::Call(StorageRequest(call)));
            }
            HostCall::Http(request) => {
                // If it cannot be sent, the operation is dropped here, as a failed resume's is
                // by the driver's cancel; requests already sent find it gone.
                let promise = send_http(env, id, ticket, request)?;
                op.outstanding.push(Outstanding::Http(ticket));
                batch.push(BatchEntry::Response(promise));
            }
        }
    }
    if let Some(redis) = op.redis.as_ref().filter(|_| !native.is_empty()) {
        let tickets = native.iter().map(|(ticket, _)| *ticket).collect();
        let promise = redis.send(*env, native, logging(), move |env, answers, line| {
            deliver(id, answers);
            let next = next_link(env, id, line)?;
            unsafe { Link::to_napi_value(env.raw(), next) }
        })?;
        op.outstanding.push(Outstanding::Native(tickets));
        batch.push(BatchEntry::Response(promise));
    }
    OPERATIONS.with(|ops| ops.borrow_mut().insert(id, op));
    Ok(Ok(Outcome::Pending(PendingOperation {
        operation_id: id,
        calls: batch,
    })))
}

/// Sends one HTTP request of operation `id` on napi's runtime and returns its Promise, which
/// resolves once the response, or the failure, has been handed to the operation (on the JS
/// thread, when the operation is still there).
fn send_http(env: &Env, id: u32, ticket: Ticket, request: HttpRequest) -> Result<sys::napi_value> {
    // The method and URL are for the debug log; neither is secret, and the URL is quoted as
    // outside text (bounded, control characters escaped, no user information).
    let logged = LOG_HTTP_REQUESTS.with(Cell::get).then(|| {
        (
            request.method,
            crate::quote::text(&request.url),
            Instant::now(),
        )
    });
    let promise = env.spawn_future_with_callback(
        async move { Ok(crate::http_engine::send(request).await) },
        move |env, answer| {
            let line = logged.map(|(method, url, started)| {
                let status = match &answer {
                    Ok(response) => format!("HTTP {}", response.status),
                    Err(_) => "no response".to_owned(),
                };
                format!(
                    "{method} {url}: {status} in {} ms",
                    started.elapsed().as_millis()
                )
            });
            deliver(id, [(ticket, HostAnswer::Http(answer))]);
            next_link(env, id, line)
        },
    )?;
    Ok(promise.raw())
}

/// Puts operation `id` back in the table.
pub(super) fn put_back(id: u32, op: Operation) {
    OPERATIONS.with(|ops| ops.borrow_mut().insert(id, op));
}

/// Hands answers to operation `id`, when it is still there (on the JS thread).
pub(super) fn deliver(id: u32, answers: impl IntoIterator<Item = (Ticket, HostAnswer)>) {
    OPERATIONS.with(|ops| {
        if let Some(op) = ops.borrow().get(&id) {
            for (ticket, answer) in answers {
                op.driven.deliver(ticket, answer);
            }
        }
    });
}

/// Hands back the answers to the last batch of calls (`values[i]` for call `i`, unless
/// `failures` names it) and returns the next batch (`PendingOperation`), or the operation's
/// value once it has finished (an error it ended with is thrown). `gaveUpWaitingMs` tells a lock
/// wait to give up, when the operation has waited that long.
#[napi(
    catch_unwind,
    ts_args_type = "id: number, values: Array<unknown>, failures?: StorageFailureReport[] | null, gaveUpWaitingMs?: number | null",
    ts_return_type = "PendingOperation | any"
)]
pub fn resume_operation(
    env: Env,
    id: u32,
    values: Vec<HostValue>,
    failures: Option<Vec<StorageFailureReport>>,
    gave_up_waiting_ms: Option<f64>,
) -> Result<Outcome> {
    let advanced = take_operation(id).and_then(|mut op| {
        let step = if let Some(step) = op.parked.take() {
            step
        } else if let Some(ms) = gave_up_waiting_ms {
            wakes::stop_waiting(id);
            op.driven.give_up_waiting(millis_from_js(ms))
        } else {
            let answers = op.answers(values, failures);
            op.driven.poll(answers)
        };
        advance(&env, id, op, step)
    });
    returned(env, advanced)
}

impl Operation {
    /// Whether its store's calls are made natively (a `RedisStorage`).
    pub(super) fn is_native(&self) -> bool {
        self.redis.is_some()
    }

    /// Whether every call handed out last was made natively and has been answered: the
    /// operation can go on without JS.
    pub(super) fn all_answered(&self) -> bool {
        self.outstanding.iter().all(|o| match o {
            Outstanding::Storage(..) => false,
            Outstanding::Http(ticket) => self.driven.has_answer(*ticket),
            Outstanding::Native(tickets) => tickets.iter().all(|t| self.driven.has_answer(*t)),
        })
    }

    /// Runs it on with the answers it has (after `all_answered`).
    pub(super) fn go_on(&mut self) -> Step {
        let answers = self.answers(Vec::new(), None);
        self.driven.poll(answers)
    }

    pub(super) fn park(&mut self, step: Step) {
        self.parked = Some(step);
    }

    pub(super) fn lines(&mut self) -> &mut Vec<String> {
        &mut self.lines
    }

    /// The answers to the calls handed out last, which it no longer waits for.
    fn answers(
        &mut self,
        values: Vec<HostValue>,
        failures: Option<Vec<StorageFailureReport>>,
    ) -> Vec<(Ticket, HostAnswer)> {
        let mut failures: HashMap<u32, StorageFailureReport> = failures
            .into_iter()
            .flatten()
            .map(|report| (report.index, report))
            .collect();
        let mut answers = Vec::new();
        let mut values = values.into_iter();
        for (index, outstanding) in std::mem::take(&mut self.outstanding)
            .into_iter()
            .enumerate()
        {
            let value = values.next().unwrap_or(HostValue::Absent);
            let failure = u32::try_from(index).ok().and_then(|i| failures.remove(&i));
            match outstanding {
                Outstanding::Storage(ticket, method) => {
                    let answer = match failure {
                        Some(report) => Err(report.into_failure()),
                        None => value.into_answer(method),
                    };
                    answers.push((ticket, HostAnswer::Storage(answer)));
                }
                Outstanding::Native(tickets) => {
                    for ticket in tickets {
                        if !self.driven.has_answer(ticket) {
                            answers.push((
                                ticket,
                                HostAnswer::Storage(Err(StorageFailure::Failed(
                                    "the Redis call ended without an answer".to_owned(),
                                ))),
                            ));
                        }
                    }
                }
                // Its response was delivered when it came; if none came, say so rather than
                // leave the operation waiting for it.
                Outstanding::Http(ticket) => {
                    if !self.driven.has_answer(ticket) {
                        answers.push((
                            ticket,
                            HostAnswer::Http(Err(HttpFailure::Invalid(
                                "the request ended without a response".to_owned(),
                            ))),
                        ));
                    }
                }
            }
        }
        answers
    }
}

/// Registers `callback` to be called once the operation can go on. Returns true, without
/// registering, when it can go on already.
#[napi(catch_unwind, ts_args_type = "id: number, callback: () => void")]
pub fn wait_for_operation(id: u32, callback: Function<(), ()>) -> Result<bool> {
    let woken = OPERATIONS
        .with(|ops| {
            ops.borrow()
                .get(&id)
                .map(|op| op.driven.wake_signal().is_woken())
        })
        .ok_or_else(|| Error::new(Status::InvalidArg, format!("no operation {id} is running")))?;
    if woken {
        return Ok(true);
    }
    let callback = callback.create_ref()?;
    wakes::wait(id, callback);
    Ok(false)
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

// Operations on a `RedisStorage` go on without JS between batches. JS awaits the Promise of a
// batch the binding made itself (a Redis pipeline, an HTTP request) and then calls
// `resumeOperation`: one crossing per batch. On a `RedisStorage` every call an operation makes is
// made natively, so when a batch's answers arrive (on the JS thread, in the Promise's callback)
// the operation is run on right there; if its next batch is made natively too, it is sent, and the
// Promise JS awaits resolves with the next one's, which JS follows without knowing. Only what
// needs JS ends the chain (the operation finished, waits for a lock, or issued calls that go out
// as several Promises): that step is parked in the operation, and the `resumeOperation` JS makes
// when the chain settles hands it out. A refreshing restore is then two calls into the binding,
// however many round trips it takes.

/// What a native batch's Promise resolves with: the debug-log line(s), or the next batch's
/// Promise, which JS then follows.
pub(super) enum Link {
    Line(Option<String>),
    Next(sys::napi_value),
}

impl ToNapiValue for Link {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val {
            Link::Line(line) => unsafe { Option::<String>::to_napi_value(env, line) },
            Link::Next(promise) => Ok(promise),
        }
    }
}

/// Whether a step's calls go out as exactly one Promise: storage calls only (one pipeline), or
/// a single HTTP request.
fn one_promise(calls: &[(crate::host::Ticket, HostCall)]) -> bool {
    let http = calls
        .iter()
        .filter(|(_, c)| matches!(c, HostCall::Http(_)))
        .count();
    let storage = calls.len() - http;
    (http == 0 && storage > 0) || (http == 1 && storage == 0)
}

/// Called when a native batch of operation `id` has been answered: runs the operation on, when
/// it can go on without JS, and returns what the batch's Promise resolves with.
pub(super) fn next_link(env: &Env, id: u32, line: Option<String>) -> Result<Link> {
    let ready = take_operation(id).ok().map(|op| {
        let ready = op.is_native() && op.all_answered();
        (op, ready)
    });
    let Some((mut op, ready)) = ready else {
        // Cancelled meanwhile: nothing goes on.
        return Ok(Link::Line(line));
    };
    if !ready {
        put_back(id, op);
        return Ok(Link::Line(line));
    }
    let step = op.go_on();
    // Locks the operation released (or its end) may let others go on.
    wakes::notify_woken(*env);
    let chained = matches!(&step, Step::Calls(calls) if one_promise(calls));
    if !chained {
        op.park(step);
        let mut lines = std::mem::take(op.lines());
        put_back(id, op);
        lines.extend(line);
        return Ok(Link::Line((!lines.is_empty()).then(|| lines.join("\n"))));
    }
    op.lines().extend(line);
    // The operation is back in the table (or dropped, when its calls could not be sent).
    match advance(env, id, op, step)? {
        Ok(Outcome::Pending(pending)) => match pending.calls.into_iter().next() {
            Some(BatchEntry::Response(promise)) => Ok(Link::Next(promise)),
            _ => Ok(Link::Line(None)),
        },
        _ => Ok(Link::Line(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StorageMethod;
    use crate::host::StorageCall;
    use crate::http::HttpRequest;

    fn storage() -> HostCall {
        HostCall::Storage(StorageCall {
            method: StorageMethod::Get,
            key: "k".into(),
            key_is_json: false,
            value: None,
            ttl_ms: None,
        })
    }

    fn http() -> HostCall {
        HostCall::Http(HttpRequest::get(
            "https://idp.example/.well-known/openid-configuration",
        ))
    }

    #[test]
    fn only_a_batch_that_is_one_promise_is_chained() {
        assert!(one_promise(&[(1, storage())]));
        assert!(one_promise(&[(1, storage()), (2, storage())]));
        assert!(one_promise(&[(1, http())]));
        assert!(!one_promise(&[]));
        assert!(!one_promise(&[(1, http()), (2, http())]));
        assert!(!one_promise(&[(1, storage()), (2, http())]));
    }
}
