//! The leases this process left in one store (see `crate::storage::lease`): kept with the store object,
//! as its key locks are, so that a process recognises its own left lease and takes it over
//! instead of waiting for it to lapse.

use std::cell::RefCell;
use std::collections::HashMap;

/// How many left leases are remembered per key (each lapses within its lifetime anyway).
const LEFT_PER_KEY: usize = 8;

/// The leases this process wrote to one store and left there (a flow that could not delete its
/// lease, or was dropped mid-way): by key, each owner and when it lapses. A lease found in the
/// store under one of these owners is this process's own, held by nobody: it is taken over, not
/// waited on. Per store object, like the key locks.
#[derive(Default)]
pub struct OwnLeases(RefCell<HashMap<String, Vec<(String, u64)>>>);

impl std::fmt::Debug for OwnLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OwnLeases")
            .field(&self.0.borrow().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OwnLeases {
    /// Records that the lease `owner` wrote under `key`, lasting `until` (ms since the epoch),
    /// was left in the store; `now` is the time now, in the same unit.
    pub fn left(&self, key: &str, owner: &str, until: u64, now: u64) {
        let mut all = self.0.borrow_mut();
        // Lapsed ones are nobody's any more: forget them, so that the record stays small.
        all.retain(|_, owners| {
            owners.retain(|(_, lapses)| *lapses > now);
            !owners.is_empty()
        });
        let owners = all.entry(key.to_owned()).or_default();
        if owners.len() >= LEFT_PER_KEY {
            owners.remove(0);
        }
        owners.push((owner.to_owned(), until));
    }

    /// Whether the lease under `key` owned by `owner` is one this process left.
    pub fn is_left(&self, key: &str, owner: &str) -> bool {
        self.0
            .borrow()
            .get(key)
            .is_some_and(|owners| owners.iter().any(|(o, _)| o == owner))
    }

    /// Whether this process left any lease under `key`.
    pub fn any_left(&self, key: &str) -> bool {
        self.0.borrow().contains_key(key)
    }

    /// Whether no left lease is remembered.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Forgets the leases left under `key` (deleted, or written over).
    pub fn forget(&self, key: &str) {
        self.0.borrow_mut().remove(key);
    }
}
