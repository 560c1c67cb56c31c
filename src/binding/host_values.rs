//! What JS hands across for an operation's storage calls: the call it is to make
//! (`StorageRequest`), what the store answered (`HostValue`), and why a call gave no answer
//! (`StorageFailureReport`), read back into the core's answers.

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::text::{kind_of, JsText};
use crate::error::{StorageFailure, StorageMethod};

/// A call JS must make on its store, or a pause.
#[napi(object, object_from_js = false)]
pub struct StorageRequest {
    /// `"get"`, `"set"`, `"delete"`, `"setIfAbsent"` or `"sleep"` (a pause, not a storage call).
    pub method: String,
    /// The key.
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
