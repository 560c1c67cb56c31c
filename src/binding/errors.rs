//! Core errors as JS errors. The `code` tells the JS layer which error class to build; `key`
//! names the storage key the error is about, when there is one.

use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, Status};

use crate::error::Error as CoreError;

pub fn code_of(error: &CoreError) -> &'static str {
    if let CoreError::OAuth { error, .. } = error {
        // The two that callers act on get codes of their own.
        return match error.as_str() {
            "invalid_client" => "ERR_OAUTH_INVALID_CLIENT",
            "invalid_grant" => "ERR_OAUTH_INVALID_GRANT",
            _ => "ERR_OAUTH",
        };
    }
    match error {
        CoreError::StorageCall { .. } => "ERR_STORAGE_FAILED",
        CoreError::StorageTimeout { .. } => "ERR_STORAGE_TIMEOUT",
        CoreError::CorruptedData { .. } => "ERR_STORAGE_CORRUPTED",
        CoreError::LockWaitTimeout { .. }
        | CoreError::RefreshLeaseTimeout { .. }
        | CoreError::LeaseTimeout { .. } => "ERR_STORAGE_LOCK_TIMEOUT",
        CoreError::IdpUnreachable { .. } => "ERR_IDP_UNREACHABLE",
        CoreError::IdpBlockedAddress { .. } => "ERR_IDP_BLOCKED_ADDRESS",
        CoreError::IdpTimeout { .. } => "ERR_IDP_TIMEOUT",
        CoreError::IdpResponse { .. } => "ERR_IDP_RESPONSE",
        CoreError::OAuth { .. } => "ERR_OAUTH",
        CoreError::InvalidToken { .. } => "ERR_INVALID_TOKEN",
        CoreError::InvalidRequest { .. } => "ERR_INVALID_REQUEST",
        CoreError::InvalidRedirect { .. } => "ERR_INVALID_REDIRECT",
        CoreError::Configuration { .. } => "ERR_CONFIGURATION",
        CoreError::Internal { .. } => "ERR_INTERNAL",
    }
}

fn build(env: Env, error: &CoreError) -> napi::Result<()> {
    let mut js_error =
        env.create_error(napi::Error::new(Status::GenericFailure, error.to_string()))?;
    js_error.set_named_property("code", code_of(error))?;
    if let Some(key) = error.key() {
        js_error.set_named_property("key", key)?;
    }
    if let CoreError::OAuth {
        error, description, ..
    } = error
    {
        js_error.set_named_property("error", error.as_str())?;
        if let Some(description) = description {
            js_error.set_named_property("errorDescription", description.as_str())?;
        }
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
