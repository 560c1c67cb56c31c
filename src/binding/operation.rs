//! `Operation`: a core operation that waits on a store implemented in JS, driven from JS.
//!
//! JS calls `resume` with the answers to the calls it was handed last; `resume` runs the
//! operation on, and hands out the next calls (`[]` once finished, `null` while it waits for a
//! key lock held by another operation). Operations on the native store never get here: `start`
//! finishes them in one go and returns their value.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::errors::throw;
use super::storage::{ListAnswer, NativeStorage};
use super::StoredSessionSummary;
use crate::drive::{Driven, Step, WakeSignal};
use crate::error::{Result as CoreResult, StorageFailure};
use crate::storage::{Storage, Ticket};

/// The value an operation ends with.
pub enum OpOutput {
    Nothing,
    List(ListAnswer),
    Session(Option<StoredSessionSummary>),
}

impl From<()> for OpOutput {
    fn from(_: ()) -> Self {
        OpOutput::Nothing
    }
}

impl From<ListAnswer> for OpOutput {
    fn from(answer: ListAnswer) -> Self {
        OpOutput::List(answer)
    }
}

/// A changed session list: its text, for JSON.parse, and its generation.
#[napi(object, object_from_js = false)]
pub struct SessionListText {
    pub generation: u32,
    pub json: String,
}

impl From<Option<StoredSessionSummary>> for OpOutput {
    fn from(s: Option<StoredSessionSummary>) -> Self {
        OpOutput::Session(s)
    }
}

impl ToNapiValue for OpOutput {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val {
            OpOutput::Nothing => unsafe { <()>::to_napi_value(env, ()) },
            OpOutput::List(ListAnswer::Unchanged(generation)) => unsafe {
                u32::to_napi_value(env, generation)
            },
            OpOutput::List(ListAnswer::Changed { generation, json }) => unsafe {
                SessionListText::to_napi_value(env, SessionListText { generation, json })
            },
            OpOutput::Session(s) => unsafe {
                Option::<StoredSessionSummary>::to_napi_value(env, s)
            },
        }
    }
}

/// What a starting function returns: the value, or the operation to drive.
pub enum Outcome {
    Done(OpOutput),
    Pending(Operation),
}

impl ToNapiValue for Outcome {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val {
            Outcome::Done(output) => unsafe { OpOutput::to_napi_value(env, output) },
            Outcome::Pending(op) => unsafe { Operation::to_napi_value(env, op) },
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

static NEXT_OPERATION_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Operations whose wake signal fired since the last JS call returned.
    static READY: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// The JS callbacks of operations that wait for a wake.
    static WAITING: RefCell<HashMap<u64, FunctionRef<(), ()>>> = RefCell::new(HashMap::new());
}

/// Calls the JS callbacks of waiting operations that were woken. Wakes come from lock releases
/// inside some operation's poll, so every entry point calls this before returning to JS.
fn notify_woken(env: &Env) -> Result<()> {
    let ready = READY.with(|r| std::mem::take(&mut *r.borrow_mut()));
    for id in ready {
        let callback = WAITING.with(|w| w.borrow_mut().remove(&id));
        if let Some(callback) = callback {
            callback.borrow_back(env)?.call(())?;
        }
    }
    Ok(())
}

/// Starts an operation on `storage` and runs it as far as it goes.
pub fn start<F, Fut>(env: &Env, storage: &NativeStorage, make: F) -> Result<Outcome>
where
    F: FnOnce(Rc<dyn Storage>) -> Fut,
    Fut: Future<Output = CoreResult<OpOutput>> + 'static,
{
    let (store, queue) = storage.for_operation();
    let id = NEXT_OPERATION_ID.fetch_add(1, Ordering::Relaxed);
    let wake = WakeSignal::new(move || READY.with(|r| r.borrow_mut().push(id)));
    let mut op = Operation {
        id,
        driven: Driven::new(make(store), queue, wake),
        first_calls: None,
        outstanding: Vec::new(),
    };
    let outcome = match op.driven.poll([]) {
        Step::Done => match op.driven.take_output() {
            Some(Ok(output)) => Ok(Outcome::Done(output)),
            Some(Err(e)) => Err(throw(env, e)),
            None => Err(Error::from_reason("operation finished without a result")),
        },
        Step::Calls(calls) => {
            op.first_calls = Some(calls);
            Ok(Outcome::Pending(op))
        }
        Step::Waiting => Ok(Outcome::Pending(op)),
    };
    notify_woken(env)?;
    outcome
}

/// A call JS must make on its store.
#[napi(object, object_from_js = false)]
pub struct StorageRequest {
    /// `"get"`, `"set"` or `"delete"`.
    pub method: String,
    pub key: String,
    /// The value to store, for `set`.
    pub value: Option<String>,
}

/// Why the call at `index` of the last batch gave no answer.
#[napi(object, object_to_js = false)]
pub struct StorageFailureReport {
    pub index: u32,
    /// What the storage threw or rejected with, as text.
    pub message: Option<String>,
    /// Set when the call did not settle within this many milliseconds.
    pub timed_out_ms: Option<f64>,
    /// Set when `get` answered with a non-string; names the type.
    pub wrong_type: Option<String>,
}

impl StorageFailureReport {
    fn into_failure(self) -> StorageFailure {
        if let Some(ms) = self.timed_out_ms {
            StorageFailure::TimedOut(ms.max(0.0) as u64)
        } else if let Some(type_name) = self.wrong_type {
            StorageFailure::WrongType(type_name)
        } else {
            StorageFailure::Failed(self.message.unwrap_or_else(|| "unknown error".to_owned()))
        }
    }
}

#[napi]
pub struct Operation {
    id: u64,
    driven: Driven<OpOutput>,
    first_calls: Option<Vec<(Ticket, crate::storage::HostCall)>>,
    outstanding: Vec<Ticket>,
}

#[napi]
impl Operation {
    /// Hands back the answers to the last batch of calls (`values[i]` for call `i`, unless
    /// `failures` names it) and returns the next batch: `[]` once finished, `null` while the
    /// operation waits for a wake.
    #[napi(
        ts_args_type = "values: Array<string | undefined | null>, failures?: StorageFailureReport[] | null"
    )]
    pub fn resume(
        &mut self,
        env: Env,
        values: Vec<Option<String>>,
        failures: Option<Vec<StorageFailureReport>>,
    ) -> Result<Option<Vec<StorageRequest>>> {
        let step = match self.first_calls.take() {
            Some(calls) => Step::Calls(calls),
            None => {
                let mut answers: Vec<_> = std::mem::take(&mut self.outstanding)
                    .into_iter()
                    .zip(values.into_iter().chain(std::iter::repeat(None)))
                    .map(|(ticket, value)| (ticket, Ok(value)))
                    .collect();
                for report in failures.into_iter().flatten() {
                    if let Some(slot) = answers.get_mut(report.index as usize) {
                        slot.1 = Err(report.into_failure());
                    }
                }
                self.driven.poll(answers)
            }
        };
        let next = match step {
            Step::Done => Some(Vec::new()),
            Step::Waiting => None,
            Step::Calls(calls) => {
                let mut requests = Vec::with_capacity(calls.len());
                for (ticket, call) in calls {
                    self.outstanding.push(ticket);
                    requests.push(StorageRequest {
                        method: call.method.as_str().to_owned(),
                        key: call.key,
                        value: call.value,
                    });
                }
                Some(requests)
            }
        };
        notify_woken(&env)?;
        Ok(next)
    }

    /// Registers `callback` to be called once the operation can go on. Returns true, without
    /// registering, when it can go on already.
    #[napi(ts_args_type = "callback: () => void")]
    pub fn wait(&self, callback: Function<(), ()>) -> Result<bool> {
        if self.driven.wake_signal().is_woken() {
            return Ok(true);
        }
        let callback = callback.create_ref()?;
        WAITING.with(|w| w.borrow_mut().insert(self.id, callback));
        Ok(false)
    }

    /// The operation's value, once `resume` returned `[]`; throws its error if it failed.
    #[napi(ts_return_type = "any")]
    pub fn output(&mut self, env: Env) -> Result<OpOutput> {
        match self.driven.take_output() {
            Some(Ok(output)) => Ok(output),
            Some(Err(e)) => Err(throw(&env, e)),
            None => Err(Error::from_reason("the operation has not finished")),
        }
    }
}
