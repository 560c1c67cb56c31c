//! A panic in this package is a bug. It must reach the caller as a typed error
//! (`Error::Internal`), and print nothing: the default hook writes the panic's message to
//! stderr, and a message made from a value could hold a token.
//!
//! The hook records where the panic happened (file and line, never the message) for the error
//! that the `catch_unwind` around each poll of an operation makes of it (`crate::host::drive`); the
//! napi entry points' own `catch_unwind` covers the rest.

use std::cell::RefCell;

thread_local! {
    /// Where the last panic on this thread happened, until an error takes it.
    static LAST_PLACE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the default panic hook with one that prints nothing and remembers the place. For
/// the addon only: tests keep the default hook, whose messages they need.
pub fn install_quiet_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|at| format!("{}:{}", at.file(), at.line()));
        // `try_with`: a panic while the thread's locals are being torn down records nothing.
        let _ = LAST_PLACE.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                *last = place;
            }
        });
    }));
}

/// The error for a panic just caught on this thread. The payload is not read: it may have been
/// formatted from a value, and dropping it could itself panic, so it is forgotten.
pub fn caught(payload: Box<dyn std::any::Any + Send>) -> crate::error::Error {
    std::mem::forget(payload);
    internal(take_place())
}

/// Where the last panic on this thread happened, if one happened since the last call: for the
/// napi entry points, whose own `catch_unwind` makes an error of the panic's message, which the
/// JS side then replaces with the typed one.
pub fn take_place() -> Option<String> {
    LAST_PLACE
        .try_with(|last| last.try_borrow_mut().ok().and_then(|mut last| last.take()))
        .ok()
        .flatten()
}

/// The typed error for a panic at `place`.
pub fn internal(place: Option<String>) -> crate::error::Error {
    crate::error::Error::Internal {
        reason: match place {
            Some(place) => format!("it panicked at {place}"),
            None => "it panicked".to_owned(),
        },
    }
}
