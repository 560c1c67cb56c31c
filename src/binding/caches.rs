//! What operations keep between calls, per Node environment (each has its own thread):
//! discovered metadata, key sets, verified WebIDs and the latest DPoP nonces of token endpoints.
//! A module of its own so that every entry point reaches it without importing another.

use crate::protocol::caches::Caches;

thread_local! {
    static CACHES: Caches = Caches::default();
}

/// This environment's caches, for an operation to own.
pub(super) fn caches() -> Caches {
    CACHES.with(Caches::clone)
}
