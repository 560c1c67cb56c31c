//! Core errors as JS errors. The `code` tells the JS layer which error class to build.

use napi::{Env, Status};

use crate::error::Error as CoreError;

pub fn code_of(error: &CoreError) -> &'static str {
    match error {
        CoreError::StorageCall { .. } => "ERR_STORAGE_FAILED",
        CoreError::StorageTimeout { .. } => "ERR_STORAGE_TIMEOUT",
        CoreError::CorruptedData { .. } => "ERR_STORAGE_CORRUPTED",
        CoreError::InvalidArgument(_) => "ERR_INVALID_ARG_VALUE",
    }
}

/// Throws `error` into JS as an `Error` with a `code`, and returns the napi error that tells the
/// caller an exception is already pending.
pub fn throw(env: &Env, error: CoreError) -> napi::Error {
    let message = error.to_string();
    match env.throw_error(&message, Some(code_of(&error))) {
        Ok(()) => napi::Error::new(Status::PendingException, String::new()),
        Err(e) => e,
    }
}
