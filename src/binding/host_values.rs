//! What crosses between JS and an operation's storage calls: the call JS is to make
//! (`StorageRequest`), what the store answered (`HostValue`), and why a call gave no answer
//! (`StorageFailureReport`), read back into the core's answers.

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::text::{kind_of, JsText};
use crate::error::{StorageFailure, StorageMethod};
use crate::host::StorageCall;

/// How many slots of a batch array (`PendingOperation`) each call takes.
pub(super) const CALL_SLOTS: usize = 4;

/// The number of a storage method in a call's first slot (`lib/storage.js` has the same table).
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
