//! Core errors as JS errors. The `code` tells the JS layer which error class to build; `key`
//! names the storage key the error is about, when there is one.

use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, Status};

use crate::error::Error as CoreError;

pub fn code_of(error: &CoreError) -> &'static str {
    match error {
        CoreError::StorageCall { .. } => "ERR_STORAGE_FAILED",
        CoreError::StorageTimeout { .. } => "ERR_STORAGE_TIMEOUT",
        CoreError::CorruptedData { .. } => "ERR_STORAGE_CORRUPTED",
        CoreError::LockWaitTimeout { .. } => "ERR_STORAGE_LOCK_TIMEOUT",
        CoreError::IdpUnreachable { .. } => "ERR_IDP_UNREACHABLE",
        CoreError::IdpTimeout { .. } => "ERR_IDP_TIMEOUT",
        CoreError::IdpResponse { .. } => "ERR_IDP_RESPONSE",
    }
}

fn build(env: Env, error: &CoreError) -> napi::Result<()> {
    let mut js_error =
        env.create_error(napi::Error::new(Status::GenericFailure, error.to_string()))?;
    js_error.set_named_property("code", code_of(error))?;
    if let Some(key) = error.key() {
        js_error.set_named_property("key", key)?;
    }
    env.throw(js_error)
}

/// Throws `error` into JS, and returns the napi error that tells the caller an exception is
/// already pending.
pub fn throw(env: Env, error: &CoreError) -> napi::Error {
    match build(env, error) {
        Ok(()) => napi::Error::new(Status::PendingException, String::new()),
        Err(e) => e,
    }
}
