//! What crosses between JS and an operation: going out, its value or the batch of calls it
//! waits for (`Outcome`, `PendingOperation`), each call JS is to make (`StorageRequest`); coming
//! back, what the store answered (`HostValue`) and why a call gave no answer
//! (`StorageFailureReport`), read back into the core's answers.

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::text::{kind_of, JsText};
use crate::error::{StorageFailure, StorageMethod};
use crate::host::StorageCall;

/// How many slots of a batch array (`PendingOperation`) each call takes.
pub(super) const CALL_SLOTS: usize = 4;

/// The number of a storage method in a call's first slot (`lib/driver.js` has the same table).
fn method_number(method: StorageMethod) -> u32 {
    match method {
        StorageMethod::Get => 0,
        StorageMethod::Set => 1,
        StorageMethod::SetIfAbsent => 2,
        StorageMethod::Delete => 3,
        StorageMethod::Sleep => 4,
    }
}

/// Added to the method's number when the key is a JSON string literal to decode: the key holds
/// an unpaired UTF-16 surrogate, which a Rust string cannot.
const KEY_IS_JSON: u32 = 8;

/// A call JS must make on its store, or a pause, as `CALL_SLOTS` slots of the batch array:
/// `[what, key, value, ttlMs]`. `what` is the method's number (`get` 0, `set` 1,
/// `setIfAbsent` 2, `delete` 3, `sleep` 4: a pause, not a storage call), plus `KEY_IS_JSON`;
/// `value` is the value to store, for `set` and `setIfAbsent`; `ttlMs` the expiry of a
/// `setIfAbsent` value, or how long to `sleep`. A slot a call has no use for holds undefined.
pub struct StorageRequest(pub StorageCall);

impl StorageRequest {
    /// Appends the call's `CALL_SLOTS` slots to `slots`; `empty` (undefined) fills those it has
    /// no use for.
    ///
    /// # Safety
    /// `empty` must be a value of `env`, in the current native call.
    pub(super) unsafe fn push_slots(
        self,
        env: sys::napi_env,
        slots: &mut Vec<sys::napi_value>,
        empty: sys::napi_value,
    ) -> Result<()> {
        let StorageCall {
            method,
            key,
            key_is_json,
            value,
            ttl_ms,
        } = self.0;
        let what = method_number(method) + if key_is_json { KEY_IS_JSON } else { 0 };
        slots.push(unsafe { u32::to_napi_value(env, what)? });
        slots.push(unsafe { String::to_napi_value(env, key)? });
        slots.push(match value {
            Some(value) => unsafe { String::to_napi_value(env, value)? },
            None => empty,
        });
        #[allow(
            clippy::cast_precision_loss,
            reason = "durations of at most a few minutes"
        )]
        slots.push(match ttl_ms {
            Some(ms) => unsafe { f64::to_napi_value(env, ms as f64)? },
            None => empty,
        });
        Ok(())
    }
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
}

/// What a storage call answered, as JS gave it: `get` answers a string or nothing, a
/// `setIfAbsent` that stored its value answers `true`, and what `set` and `delete` answer is
/// ignored. A JS string may hold unpaired UTF-16 surrogates, which napi's UTF-8 conversion turns
/// into U+FFFD; so a text with a U+FFFD in it (rare in a stored record) is read again as UTF-16,
/// and its unpaired surrogates escaped as `JSON.stringify` escapes them, or the answer refused
/// where an escape would change what the text means.
pub enum HostValue {
    Absent,
    Text(String),
    UnpairedSurrogate,
    True,
    /// Anything else, by the kind of value it is ("a number"), for the error message.
    Other(&'static str),
}

impl HostValue {
    /// The answer of a call of `method` that settled with this value.
    pub(super) fn into_answer(
        self,
        method: StorageMethod,
    ) -> std::result::Result<Option<String>, StorageFailure> {
        match (method, self) {
            (StorageMethod::Get, HostValue::Text(text)) => Ok(Some(text)),
            (StorageMethod::Get, HostValue::UnpairedSurrogate) => {
                Err(StorageFailure::UnpairedSurrogate)
            }
            (StorageMethod::Get, HostValue::True) => {
                Err(StorageFailure::WrongType("a boolean".to_owned()))
            }
            (StorageMethod::Get, HostValue::Other(kind)) => {
                Err(StorageFailure::WrongType(kind.to_owned()))
            }
            (StorageMethod::SetIfAbsent, HostValue::True) => Ok(Some("set".to_owned())),
            // Nothing stored under the key, or what set, delete and a sleep settled with.
            _ => Ok(None),
        }
    }

    unsafe fn text(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        Ok(match unsafe { JsText::read(env, value)? } {
            JsText::Text(text) => Self::Text(text),
            JsText::Unpaired(units) => crate::surrogates::escape_unpaired(&units)
                .map_or(Self::UnpairedSurrogate, Self::Text),
        })
    }
}

impl FromNapiValue for HostValue {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        Ok(match kind_of(env, value)? {
            "undefined" | "null" => Self::Absent,
            "a string" => return unsafe { Self::text(env, value) },
            "a boolean" if unsafe { bool::from_napi_value(env, value)? } => Self::True,
            "an object" => {
                let mut is_array = false;
                check_status!(unsafe { sys::napi_is_array(env, value, &raw mut is_array) })?;
                Self::Other(if is_array { "an array" } else { "an object" })
            }
            kind => Self::Other(kind),
        })
    }
}

impl TypeName for HostValue {
    fn type_name() -> &'static str {
        "unknown"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for HostValue {}

/// A duration in milliseconds from JS, where it is a number.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to 0..=u32::MAX first; the storage timeout is at most 2^31 - 1 ms"
)]
pub(super) fn millis_from_js(ms: f64) -> u64 {
    ms.clamp(0.0, f64::from(u32::MAX)) as u64
}

impl StorageFailureReport {
    pub(super) fn into_failure(self) -> StorageFailure {
        if let Some(ms) = self.timed_out_ms {
            StorageFailure::TimedOut(millis_from_js(ms))
        } else {
            StorageFailure::Failed(self.message.unwrap_or_else(|| "unknown error".to_owned()))
        }
    }
}

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

/// What a starting function, and `resumeOperation`, return: the value, or the operation still
/// under way with the calls it waits for.
pub enum Outcome {
    Done(OpOutput),
    Pending(PendingOperation),
}

impl ToNapiValue for Outcome {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val {
            Outcome::Done(output) => {
                let value = unsafe { OpOutput::to_napi_value(env, output)? };
                #[cfg(debug_assertions)]
                unsafe {
                    not_like_pending(env, value)?;
                };
                Ok(value)
            }
            Outcome::Pending(pending) => unsafe { PendingOperation::to_napi_value(env, pending) },
        }
    }
}

/// Refuses an operation's value that JS would take for a `PendingOperation`: an array whose
/// first element is a number.
#[cfg(debug_assertions)]
unsafe fn not_like_pending(env: sys::napi_env, value: sys::napi_value) -> Result<()> {
    let mut is_array = false;
    check_status!(unsafe { sys::napi_is_array(env, value, &raw mut is_array) })?;
    if !is_array {
        return Ok(());
    }
    let mut first = std::ptr::null_mut();
    check_status!(unsafe { sys::napi_get_element(env, value, 0, &raw mut first) })?;
    if kind_of(env, first)? == "a number" {
        return Err(Error::from_reason(
            "an operation ended with an array starting with a number, which JS takes for an operation under way",
        ));
    }
    Ok(())
}

impl TypeName for Outcome {
    fn type_name() -> &'static str {
        "Outcome"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

/// An operation under way: its id, and the batch of calls it waits for. An empty batch means it
/// waits for a key lock another operation holds, or for a restore of the same session it joined
/// (`waitForOperation`).
///
/// JS gets it as one flat array, `[operationId, ...calls]`, each call in `CALL_SLOTS` slots
/// (`StorageRequest`): V8 fills an array from native code for less than an object's named
/// properties, and JS reads it as fast. No operation ends with an array whose first element is a
/// number, so that JS tells the two apart (checked in debug builds).
pub struct PendingOperation {
    pub operation_id: u32,
    pub calls: Vec<BatchEntry>,
}

/// What JS sees of a `PendingOperation`, for the generated types.
#[napi(js_name = "PendingOperation")]
#[allow(dead_code, reason = "a name for binding.d.ts only")]
pub type PendingOperationArray<'a> = Array<'a>;

impl ToNapiValue for PendingOperation {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut empty = std::ptr::null_mut();
        check_status!(unsafe { sys::napi_get_undefined(env, &raw mut empty) })?;
        let mut slots = Vec::with_capacity(1 + CALL_SLOTS * val.calls.len());
        slots.push(unsafe { u32::to_napi_value(env, val.operation_id)? });
        for entry in val.calls {
            match entry {
                BatchEntry::Call(call) => unsafe { call.push_slots(env, &mut slots, empty)? },
                // For an HTTP request already sent, a Promise in the first slot, which settles
                // once its response has reached the operation. It resolves with the line for
                // the debug log (method, URL, status, time) while `logHttpRequests` is on, else
                // with null.
                BatchEntry::Response(promise) => {
                    slots.push(promise);
                    slots.extend([empty; CALL_SLOTS - 1]);
                }
            }
        }
        unsafe { super::arrays::array(env, &slots) }
    }
}

/// One entry of a batch.
pub enum BatchEntry {
    Call(StorageRequest),
    /// The Promise of an HTTP request in flight, made in the current native call (a JS value,
    /// good until that call returns).
    Response(sys::napi_value),
}
