//! An async mutex per storage key, re-entrant within one family of operations.
//!
//! The reference reads a record, merges into it and writes it back with nothing in between to
//! stop a concurrent writer; two logouts at once can each drop the other's change to the session
//! list. Every read-modify-write here holds the key's lock for the whole sequence.
//!
//! A storage method may itself call back into this package on the same store (a cache hook that
//! logs another session out, say). The operation it starts waits for nothing its caller holds:
//! it belongs to its caller's family, and a family shares its locks. Waiting would deadlock, since
//! the caller cannot finish before the storage call that started the nested operation does.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};

/// Operations started from inside another operation's storage call share its family.
pub type Family = u32;

struct Held {
    family: Family,
    /// How many guards of the family hold the key.
    depth: u32,
    /// Writes to the key that timed out and may still land (see `begin_late_write`).
    late_writes: u32,
    waiters: Vec<Waker>,
}

#[derive(Default)]
pub struct KeyLocks {
    held: Mutex<HashMap<String, Held>>,
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

    /// Whether anyone holds `key` now.
    pub fn is_held(&self, key: &str) -> bool {
        self.table().contains_key(key)
    }

    /// Keeps `key` locked while a write to it that timed out may still land: an operation that
    /// read the key and wrote it back meanwhile would be undone by it. Ends with
    /// `end_late_write`, when the write settles or is given up for lost.
    pub fn begin_late_write(&self, key: &str) {
        let mut table = self.table();
        if let Some(held) = table.get_mut(key) {
            held.late_writes += 1;
        } else {
            table.insert(
                key.to_owned(),
                Held {
                    family: 0,
                    depth: 0,
                    late_writes: 1,
                    waiters: Vec::new(),
                },
            );
        }
    }

    pub fn end_late_write(&self, key: &str) {
        let mut table = self.table();
        let Some(held) = table.get_mut(key) else {
            return;
        };
        held.late_writes = held.late_writes.saturating_sub(1);
        Self::release_if_free(table, key);
    }

    /// Removes `key`'s entry once nothing holds it, and wakes its waiters.
    fn release_if_free(mut table: MutexGuard<'_, HashMap<String, Held>>, key: &str) {
        let free = table
            .get(key)
            .is_some_and(|held| held.depth == 0 && held.late_writes == 0);
        if !free {
            return;
        }
        let waiters = table.remove(key).map(|h| h.waiters).unwrap_or_default();
        drop(table);
        for waker in waiters {
            waker.wake();
        }
    }

    /// Whether some other family waits for a key that `family` holds.
    pub fn others_wait_on(&self, family: Family) -> bool {
        self.table()
            .values()
            .any(|held| held.family == family && !held.waiters.is_empty())
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        // A poisoned table only means a panic elsewhere while it was held; the map itself is
        // still consistent, because no code path leaves it half-updated.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One operation's view of a store's locks: the family it belongs to, and the signal that tells
/// a wait to give up.
#[derive(Clone, Copy)]
pub struct Locker<'a> {
    locks: &'a KeyLocks,
    family: Family,
    give_up: Option<&'a GiveUp>,
}

/// Set by whoever drives an operation when a lock wait has lasted too long: the wait then ends
/// with `Error::LockWaitTimeout` carrying the number of milliseconds it lasted.
#[derive(Default, Debug)]
pub struct GiveUp(Cell<Option<u64>>);

impl GiveUp {
    pub fn set(&self, millis: Option<u64>) {
        self.0.set(millis);
    }
}

impl<'a> Locker<'a> {
    pub fn new(locks: &'a KeyLocks, family: Family, give_up: Option<&'a GiveUp>) -> Self {
        Self {
            locks,
            family,
            give_up,
        }
    }

    /// Waits until no other family holds `key`, then holds it until the guard is dropped.
    pub fn lock(self, key: &'a str) -> impl Future<Output = Result<KeyGuard<'a>>> + 'a {
        LockFuture { locker: self, key }
    }
}

struct LockFuture<'a> {
    locker: Locker<'a>,
    key: &'a str,
}

impl<'a> Future for LockFuture<'a> {
    type Output = Result<KeyGuard<'a>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Locker {
            locks,
            family,
            give_up,
        } = self.locker;
        let mut table = locks.table();
        match table.get_mut(self.key) {
            None => {
                table.insert(
                    self.key.to_owned(),
                    Held {
                        family,
                        depth: 1,
                        late_writes: 0,
                        waiters: Vec::new(),
                    },
                );
            }
            Some(held) if held.family == family && held.depth > 0 && held.late_writes == 0 => {
                held.depth += 1;
            }
            Some(held) => {
                if let Some(millis) = give_up.and_then(|g| g.0.get()) {
                    return Poll::Ready(Err(Error::LockWaitTimeout {
                        key: self.key.to_owned(),
                        millis,
                    }));
                }
                if !held.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    held.waiters.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(KeyGuard {
            locks,
            key: self.key,
        }))
    }
}

/// Holds a key's lock; when the family's last guard goes, whoever waits for the key is woken.
#[must_use]
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: &'a str,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut table = self.locks.table();
        let Some(held) = table.get_mut(self.key) else {
            return;
        };
        held.depth = held.depth.saturating_sub(1);
        KeyLocks::release_if_free(table, self.key);
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

    fn ready<T>(p: Poll<Result<T>>) -> T {
        match p {
            Poll::Ready(Ok(v)) => v,
            Poll::Ready(Err(e)) => panic!("unexpected error {e}"),
            Poll::Pending => panic!("expected the lock at once"),
        }
    }

    #[test]
    fn second_locker_waits_and_is_woken_on_release() {
        let locks = KeyLocks::new();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);

        let mut first = Box::pin(Locker::new(&locks, 1, None).lock("k"));
        let guard = ready(first.as_mut().poll(&mut cx));
        let mut second = Box::pin(Locker::new(&locks, 2, None).lock("k"));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        // Other keys are independent.
        let mut other = Box::pin(Locker::new(&locks, 2, None).lock("other"));
        assert!(other.as_mut().poll(&mut cx).is_ready());

        drop(guard);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(second.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn released_key_leaves_no_entry() {
        let locks = KeyLocks::new();
        let mut cx = Context::from_waker(Waker::noop());
        let guard = ready(
            Box::pin(Locker::new(&locks, 1, None).lock("k"))
                .as_mut()
                .poll(&mut cx),
        );
        assert!(locks.is_held("k"));
        drop(guard);
        assert!(!locks.is_held("k"));
    }

    #[test]
    fn a_family_shares_its_locks_and_others_wait_for_all_of_its_guards() {
        let locks = KeyLocks::new();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);

        let outer = ready(
            Box::pin(Locker::new(&locks, 7, None).lock("k"))
                .as_mut()
                .poll(&mut cx),
        );
        let nested = ready(
            Box::pin(Locker::new(&locks, 7, None).lock("k"))
                .as_mut()
                .poll(&mut cx),
        );
        let mut stranger = Box::pin(Locker::new(&locks, 8, None).lock("k"));
        assert!(stranger.as_mut().poll(&mut cx).is_pending());
        drop(outer);
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "the nested guard still holds it"
        );
        assert!(stranger.as_mut().poll(&mut cx).is_pending());
        drop(nested);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(stranger.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_late_write_keeps_the_key_locked_until_it_ends() {
        let locks = KeyLocks::new();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);

        let guard = ready(
            Box::pin(Locker::new(&locks, 1, None).lock("k"))
                .as_mut()
                .poll(&mut cx),
        );
        locks.begin_late_write("k");
        drop(guard);
        assert!(
            locks.is_held("k"),
            "the operation ended, its write may still land"
        );
        let mut same_family = Box::pin(Locker::new(&locks, 1, None).lock("k"));
        assert!(same_family.as_mut().poll(&mut cx).is_pending());
        let mut other = Box::pin(Locker::new(&locks, 2, None).lock("k"));
        assert!(other.as_mut().poll(&mut cx).is_pending());
        locks.end_late_write("k");
        assert!(!locks.is_held("k"));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "the waiters are woken");
        assert!(other.as_mut().poll(&mut cx).is_ready());
        // An end without a beginning changes nothing.
        locks.end_late_write("nothing");
        assert!(!locks.is_held("nothing"));
    }

    #[test]
    fn a_wait_gives_up_when_told() {
        let locks = KeyLocks::new();
        let give_up = GiveUp::default();
        let mut cx = Context::from_waker(Waker::noop());
        let _held = ready(
            Box::pin(Locker::new(&locks, 1, None).lock("k"))
                .as_mut()
                .poll(&mut cx),
        );
        let mut waiter = Box::pin(Locker::new(&locks, 2, Some(&give_up)).lock("k"));
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        give_up.set(Some(250));
        match waiter.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => {
                assert_eq!(e.key(), Some("k"));
                assert!(e.to_string().contains("250 ms"), "{e}");
            }
            _ => panic!("expected the wait to give up"),
        }
        // A free key is taken even when the signal is set.
        let mut free = Box::pin(Locker::new(&locks, 2, Some(&give_up)).lock("free"));
        assert!(free.as_mut().poll(&mut cx).is_ready());
    }
}
