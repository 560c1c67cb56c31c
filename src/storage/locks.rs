//! An async mutex per storage key.
//!
//! The reference reads a record, merges into it and writes it back with nothing in between to
//! stop a concurrent writer; two logouts at once can each drop the other's change to the session
//! list. Every read-modify-write here holds the key's lock for the whole sequence.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct KeyLocks {
    held: Mutex<HashMap<String, Vec<Waker>>>,
}

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLocks").finish_non_exhaustive()
    }
}

impl KeyLocks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until no one else holds `key`, then holds it until the guard is dropped.
    pub fn lock<'a>(&'a self, key: &'a str) -> impl Future<Output = KeyGuard<'a>> + 'a {
        LockFuture { locks: self, key }
    }

    /// Whether anyone holds `key` now.
    pub fn is_held(&self, key: &str) -> bool {
        self.table().contains_key(key)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Waker>>> {
        // A poisoned table only means a panic elsewhere while it was held; the map itself is
        // still consistent, because no code path leaves it half-updated.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct LockFuture<'a> {
    locks: &'a KeyLocks,
    key: &'a str,
}

impl<'a> Future for LockFuture<'a> {
    type Output = KeyGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KeyGuard<'a>> {
        let mut table = self.locks.table();
        match table.get_mut(self.key) {
            None => {
                table.insert(self.key.to_owned(), Vec::new());
                Poll::Ready(KeyGuard {
                    locks: self.locks,
                    key: self.key,
                })
            }
            Some(waiters) => {
                if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// Holds a key's lock; releasing it wakes whoever waits for the same key.
#[must_use]
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: &'a str,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let waiters = self.locks.table().remove(self.key).unwrap_or_default();
        for waker in waiters {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn second_locker_waits_and_is_woken_on_release() {
        let locks = KeyLocks::new();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);

        let mut first = Box::pin(locks.lock("k"));
        let guard = match first.as_mut().poll(&mut cx) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("a free key must lock at once"),
        };
        let mut second = Box::pin(locks.lock("k"));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        // Other keys are independent.
        let mut other = Box::pin(locks.lock("other"));
        assert!(other.as_mut().poll(&mut cx).is_ready());

        drop(guard);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(second.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn released_key_leaves_no_entry() {
        let locks = KeyLocks::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut fut = Box::pin(locks.lock("k"));
        let Poll::Ready(guard) = fut.as_mut().poll(&mut cx) else {
            panic!("must lock")
        };
        assert!(locks.is_held("k"));
        drop(guard);
        assert!(!locks.is_held("k"));
    }
}
