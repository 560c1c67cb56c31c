//! Leases: one refresh of a session, and one change of the session list, at a time across every
//! process sharing a storage. The list lease (`hold`) is taken only with `setIfAbsent`; what
//! follows is about refresh leases.
//!
//! Two processes that refresh one session at once both present its refresh token. A provider
//! that rotates refresh tokens and detects reuse takes the second for a stolen token and revokes
//! the whole grant. So before refreshing, a process takes the session's lease, a record under
//! `solidClientAuthn:refreshLease:<session id>` naming its owner and when it lapses; a process
//! that finds it taken waits for the tokens the holder stores instead of refreshing.
//!
//! With a storage that has the optional `setIfAbsent(key, value, ttlMs)` (Redis: `SET NX PX`),
//! taking the lease is one atomic call: exactly one process gets it. A plain `IStorage` has no
//! atomic operation: the lease is written, then read back after a pause, and kept only if it is
//! still ours. Two processes then both refresh only if one read the lease as free and wrote its
//! own more than the pause after the other wrote; storage calls faster than the pause rule that
//! out. Either way a lease lapses by itself, so a process that dies holding one delays the
//! others by at most its lifetime.
//!
//! Every way out of a flow that wrote a lease gives it back: success, a storage fault at any
//! call, a timeout, a read-back it cannot read. Giving back is a delete while the lease is
//! within its lifetime (nobody else can have taken it then), tried twice. When even that fails,
//! or the operation is dropped mid-way, the lease is left in the store until it lapses; the
//! process keeps a record of the leases it left (`OwnLeases`, per store object), so that it
//! takes its own left lease over instead of waiting on it. Other processes wait on it as on any
//! lease: for the tokens the refresh stored, or for it to lapse.

use std::rc::Rc;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::random::url_safe_token;
use crate::storage::{OwnLeases, Storage};

pub use crate::keys::LEASE_PREFIX;
/// How long a lease lasts: longer than a refresh takes (discovery, keys and the token request,
/// each bounded by the identity provider timeout).
pub const LEASE_TTL_MS: u64 = 15_000;
/// The pause between writing a lease and reading it back, on a storage without `setIfAbsent`.
pub const SETTLE_MS: u64 = 250;
/// How often a process waiting on another's lease looks for the tokens it stores.
pub const POLL_MS: u64 = 50;
/// The lease around changes to the session list (a read, then a write of one key).
pub const LIST_LEASE_KEY: &str = "solidClientAuthn:registeredSessionsLease";
/// How long a list lease lasts: far longer than a read and a write of one key take, and short
/// enough that one left by a process that died delays logins elsewhere only briefly.
pub const LIST_LEASE_TTL_MS: u64 = 5_000;
/// A lease is deleted without reading it first only while it has at least this long to live:
/// until then it cannot have lapsed and been taken by another process.
const BLIND_DELETE_MARGIN_MS: u64 = 1_000;

pub fn lease_key(session_id: &str) -> String {
    format!("{LEASE_PREFIX}{session_id}")
}

/// A lease this process wrote (and may hold). Dropped without being given back (`release`) or
/// disowned, it is recorded as left in the store's `OwnLeases`.
#[derive(Debug)]
pub struct Lease {
    key: String,
    owner: String,
    until: u64,
    /// When it was made, by the store's clock.
    made_at: u64,
    own: Option<Rc<OwnLeases>>,
    /// Given back, or known not to be in the store under this owner.
    settled: bool,
}

impl Lease {
    /// A lease about to be written under `key`, lasting `ttl_ms` from now.
    fn new(storage: &dyn Storage, key: &str, owner: &str, ttl_ms: u64) -> Self {
        let now = storage.now_ms();
        Self {
            key: key.to_owned(),
            owner: owner.to_owned(),
            until: now.saturating_add(ttl_ms),
            made_at: now,
            own: storage.own_leases(),
            settled: false,
        }
    }

    fn value(&self) -> String {
        json!({ "owner": self.owner, "until": self.until }).to_string()
    }

    /// This lease is not in the store under its owner (never written, or written over).
    fn disown(mut self) {
        self.settled = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(own) = &self.own {
                own.left(&self.key, &self.owner, self.until, self.made_at);
            }
        }
    }
}

/// What trying to take the lease gave.
#[derive(Debug)]
pub enum Attempt {
    Taken(Lease),
    /// Another process holds it.
    HeldElsewhere,
}

fn new_owner() -> Result<String> {
    url_safe_token::<16>()
}

/// The owner of a stored lease that has not lapsed; `None` for no lease, a lapsed one, or one
/// that cannot be read (which is taken over rather than trusted).
fn live_owner(raw: Option<&str>, now_ms: u64) -> Option<String> {
    let Value::Object(lease) = serde_json::from_str::<Value>(raw?).ok()? else {
        return None;
    };
    let until = lease.get("until").and_then(Value::as_u64)?;
    let owner = lease.get("owner").and_then(Value::as_str)?;
    (until > now_ms).then(|| owner.to_owned())
}

/// The owner of a stored lease that someone else holds: not lapsed, and not one this process
/// left behind.
fn other_holder(storage: &dyn Storage, key: &str, raw: Option<&str>) -> Option<String> {
    let owner = live_owner(raw, storage.now_ms())?;
    match storage.own_leases() {
        Some(own) if own.is_left(key, &owner) => None,
        _ => Some(owner),
    }
}

/// Tries to take the refresh lease of `session_id`.
pub async fn try_take(storage: &dyn Storage, session_id: &str) -> Result<Attempt> {
    let key = lease_key(session_id);
    let owner = new_owner()?;
    loop {
        let lease = Lease::new(storage, &key, &owner, LEASE_TTL_MS);
        // A failed call may still have stored the lease: dropped unsettled, it is recorded as
        // left.
        match storage
            .set_if_absent(&key, &lease.value(), LEASE_TTL_MS)
            .await?
        {
            Some(true) => return Ok(Attempt::Taken(lease)),
            Some(false) => {
                lease.disown();
                if reclaim_left(storage, &key).await? {
                    continue;
                }
                return Ok(Attempt::HeldElsewhere);
            }
            None => {
                lease.disown();
                break;
            }
        }
    }
    if other_holder(storage, &key, storage.get(&key).await?.as_deref()).is_some() {
        return Ok(Attempt::HeldElsewhere);
    }
    let lease = Lease::new(storage, &key, &owner, LEASE_TTL_MS);
    storage.set(&key, &lease.value()).await?;
    storage.pause(SETTLE_MS).await?;
    let read_back = match storage.get(&key).await {
        Ok(read_back) => read_back,
        Err(e) => {
            release(storage, lease).await;
            return Err(e);
        }
    };
    match live_owner(read_back.as_deref(), storage.now_ms()) {
        Some(found) if found == lease.owner => {
            // Any lease this process left under the key has just been written over.
            if let Some(own) = storage.own_leases() {
                own.forget(&key);
            }
            Ok(Attempt::Taken(lease))
        }
        // Written over by another process: theirs now.
        Some(_) => {
            lease.disown();
            Ok(Attempt::HeldElsewhere)
        }
        // Gone, or unreadable: whatever the store holds may still be this lease. Left (not
        // deleted: it may be another's), so that this process takes it over rather than waits.
        None => {
            drop(lease);
            Ok(Attempt::HeldElsewhere)
        }
    }
}

/// With `setIfAbsent`, a key that is taken may hold a lease this process left: deletes it if so
/// (and it is not near its end, when it may lapse and be taken meanwhile). Whether it did.
async fn reclaim_left(storage: &dyn Storage, key: &str) -> Result<bool> {
    let Some(own) = storage.own_leases() else {
        return Ok(false);
    };
    if !own.any_left(key) {
        return Ok(false);
    }
    let raw = storage.get(key).await?;
    let now = storage.now_ms();
    let Some((owner, until)) = raw
        .as_deref()
        .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
        .and_then(|v| {
            Some((
                v.get("owner")?.as_str()?.to_owned(),
                v.get("until")?.as_u64()?,
            ))
        })
    else {
        return Ok(false);
    };
    if !own.is_left(key, &owner) || until <= now.saturating_add(BLIND_DELETE_MARGIN_MS) {
        return Ok(false);
    }
    storage.delete(key).await?;
    own.forget(key);
    Ok(true)
}

/// Takes the lease `key` with the storage's atomic `setIfAbsent`, waiting while another process
/// holds it; `None` when the storage has no atomic operation. (Unlike a refresh, a change to the
/// session list is too frequent and too short to pay for a written and read-back lease.)
pub async fn hold(storage: &dyn Storage, key: &str, ttl_ms: u64) -> Result<Option<Lease>> {
    let owner = new_owner()?;
    let started = storage.now_ms();
    let mut delay_ms = 2;
    loop {
        let lease = Lease::new(storage, key, &owner, ttl_ms);
        // A failed call may still have stored the lease: dropped unsettled, it is recorded as left.
        match storage.set_if_absent(key, &lease.value(), ttl_ms).await? {
            None => {
                lease.disown();
                return Ok(None);
            }
            Some(true) => return Ok(Some(lease)),
            Some(false) => lease.disown(),
        }
        if reclaim_left(storage, key).await? {
            continue;
        }
        // The lease lapses by itself after ttl_ms: still there after twice that, it was written
        // without an expiry, and nobody will ever get it.
        let waited = storage.now_ms().saturating_sub(started);
        if waited > 2 * ttl_ms {
            return Err(Error::LeaseTimeout {
                key: key.to_owned(),
                millis: waited,
            });
        }
        storage.pause(delay_ms).await?;
        delay_ms = (delay_ms * 2).min(POLL_MS);
    }
}

/// Keeps refreshes of session `id` out while it is forgotten (a logout), waiting for one in
/// flight to end. With `setIfAbsent` that is the session's lease, taken (and to be given back).
/// Without it, a wait until no other process holds the lease: a refresh that takes it later
/// reads the record again after the settle pause, and finds it gone.
pub async fn exclude_refreshes(storage: &dyn Storage, id: &str) -> Result<Option<Lease>> {
    let key = lease_key(id);
    if let Some(lease) = hold(storage, &key, LEASE_TTL_MS).await? {
        return Ok(Some(lease));
    }
    let started = storage.now_ms();
    while is_held(storage, id).await? {
        let waited = storage.now_ms().saturating_sub(started);
        if waited > 2 * LEASE_TTL_MS {
            return Err(Error::RefreshLeaseTimeout {
                key,
                millis: waited,
            });
        }
        storage.pause(POLL_MS).await?;
    }
    Ok(None)
}

/// Whether the lease of `session_id` is held by another (not lapsed, not one this process left).
pub async fn is_held(storage: &dyn Storage, session_id: &str) -> Result<bool> {
    let key = lease_key(session_id);
    let raw = storage.get(&key).await?;
    Ok(other_holder(storage, &key, raw.as_deref()).is_some())
}

/// Gives the lease back, best effort: a lease that cannot be given back is recorded as left (see
/// `OwnLeases`) and lapses by itself.
pub async fn release(storage: &dyn Storage, mut lease: Lease) {
    if storage.now_ms().saturating_add(BLIND_DELETE_MARGIN_MS) < lease.until {
        // Within its lifetime nobody else can have taken it: no need to read it first. Tried
        // again once, for a transient fault; not after a timeout, which has taken long enough.
        for _ in 0..2 {
            match storage.delete(&lease.key).await {
                Ok(()) => {
                    lease.settled = true;
                    // Nothing is under the key now, whatever this process left there before.
                    if let Some(own) = storage.own_leases() {
                        own.forget(&lease.key);
                    }
                    return;
                }
                Err(Error::StorageTimeout { .. }) => return,
                Err(_) => {}
            }
        }
        return;
    }
    // Near or past its end it may have lapsed and been taken meanwhile: deleted only if ours.
    let Ok(raw) = storage.get(&lease.key).await else {
        return;
    };
    if live_owner(raw.as_deref(), storage.now_ms()).as_deref() != Some(lease.owner.as_str())
        || storage.delete(&lease.key).await.is_ok()
    {
        lease.settled = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use crate::tests::support::block_on;

    #[test]
    fn a_live_lease_names_its_owner_and_a_lapsed_or_unreadable_one_does_not() {
        let now = 1_000;
        assert_eq!(
            live_owner(Some(r#"{"owner":"a","until":2000}"#), now).as_deref(),
            Some("a")
        );
        assert_eq!(live_owner(Some(r#"{"owner":"a","until":999}"#), now), None);
        assert_eq!(live_owner(Some("not json"), now), None);
        assert_eq!(live_owner(Some(r#"{"owner":1,"until":2000}"#), now), None);
        assert_eq!(live_owner(None, now), None);
    }

    #[test]
    fn on_a_plain_storage_the_first_takes_the_lease_and_the_second_waits() {
        let storage = MemoryStorage::new();
        let first = block_on(try_take(&storage, "s")).unwrap();
        assert!(matches!(first, Attempt::Taken(_)));
        assert!(block_on(is_held(&storage, "s")).unwrap());
        assert!(matches!(
            block_on(try_take(&storage, "s")).unwrap(),
            Attempt::HeldElsewhere
        ));
        let Attempt::Taken(lease) = first else {
            unreachable!()
        };
        block_on(release(&storage, lease));
        assert!(!block_on(is_held(&storage, "s")).unwrap());
        assert!(matches!(
            block_on(try_take(&storage, "s")).unwrap(),
            Attempt::Taken(_)
        ));
    }

    #[test]
    fn a_lease_taken_over_after_it_lapsed_is_not_released_by_its_first_owner() {
        let storage = MemoryStorage::new();
        let Attempt::Taken(mut old) = block_on(try_take(&storage, "s")).unwrap() else {
            panic!("taken")
        };
        // Its holder took longer than its lifetime; another process took it meanwhile.
        old.until = 0;
        storage.set_now(
            &lease_key("s"),
            r#"{"owner":"other","until":99999999999999}"#,
        );
        block_on(release(&storage, old));
        assert!(block_on(is_held(&storage, "s")).unwrap());
    }

    /// One process's view of a store that others share: its own record of left leases and its
    /// own locks over one map, with storage faults injected by call number.
    struct Process {
        map: Rc<MemoryStorage>,
        locks: crate::storage::KeyLocks,
        own: Rc<OwnLeases>,
        atomic: bool,
        calls: std::cell::Cell<usize>,
        /// Calls (numbered from 1) that fail.
        faults: std::cell::RefCell<Vec<usize>>,
        /// Whether a failing write is made all the same (a timeout whose write landed).
        write_then_fail: std::cell::Cell<bool>,
        /// A call to `get` that answers garbage.
        corrupt_at: std::cell::Cell<Option<usize>>,
    }

    impl Process {
        fn new(map: &Rc<MemoryStorage>, atomic: bool) -> Self {
            Self {
                map: map.clone(),
                locks: crate::storage::KeyLocks::new(),
                own: Rc::default(),
                atomic,
                calls: std::cell::Cell::new(0),
                faults: std::cell::RefCell::new(Vec::new()),
                write_then_fail: std::cell::Cell::new(false),
                corrupt_at: std::cell::Cell::new(None),
            }
        }

        fn arm(&self, faults: &[usize]) {
            self.calls.set(0);
            *self.faults.borrow_mut() = faults.to_vec();
        }

        /// Counts a call; whether it fails, and its number.
        fn call(&self) -> (bool, usize) {
            let n = self.calls.get() + 1;
            self.calls.set(n);
            (self.faults.borrow().contains(&n), n)
        }

        fn fault(method: crate::error::StorageMethod, key: &str) -> Error {
            Error::from_failure(
                method,
                key,
                crate::error::StorageFailure::Failed("it threw an Error".into()),
            )
        }
    }

    #[async_trait::async_trait(?Send)]
    impl Storage for Process {
        async fn get(&self, key: &str) -> Result<Option<String>> {
            let (fails, n) = self.call();
            if fails {
                return Err(Self::fault(crate::error::StorageMethod::Get, key));
            }
            if self.corrupt_at.get() == Some(n) {
                return Ok(Some("{\"owner\":".to_owned()));
            }
            Ok(self.map.get_now(key))
        }
        async fn set(&self, key: &str, value: &str) -> Result<()> {
            let (fails, _) = self.call();
            if !fails || self.write_then_fail.get() {
                self.map.set_now(key, value);
            }
            if fails {
                return Err(Self::fault(crate::error::StorageMethod::Set, key));
            }
            Ok(())
        }
        async fn delete(&self, key: &str) -> Result<()> {
            let (fails, _) = self.call();
            if !fails || self.write_then_fail.get() {
                self.map.delete_now(key);
            }
            if fails {
                return Err(Self::fault(crate::error::StorageMethod::Delete, key));
            }
            Ok(())
        }
        fn locks(&self) -> crate::storage::Locker<'_> {
            crate::storage::Locker::new(&self.locks, 0, None)
        }
        fn is_shared(&self) -> bool {
            true
        }
        fn own_leases(&self) -> Option<Rc<OwnLeases>> {
            Some(self.own.clone())
        }
        async fn set_if_absent(&self, key: &str, value: &str, _ttl: u64) -> Result<Option<bool>> {
            if !self.atomic {
                return Ok(None);
            }
            let (fails, _) = self.call();
            // As Redis expires a key after its ttl: a lapsed lease is no value.
            let taken =
                live_owner(self.map.get_now(key).as_deref(), crate::clock::now_ms()).is_some();
            if !taken && (!fails || self.write_then_fail.get()) {
                self.map.set_now(key, value);
            }
            if fails {
                return Err(Self::fault(crate::error::StorageMethod::SetIfAbsent, key));
            }
            Ok(Some(!taken))
        }
    }

    /// Takes the refresh lease and gives it back, as a refresh does; whether it was taken.
    async fn take_and_give_back(storage: &dyn Storage) -> Result<bool> {
        match try_take(storage, "s").await? {
            Attempt::Taken(lease) => {
                release(storage, lease).await;
                Ok(true)
            }
            Attempt::HeldElsewhere => Ok(false),
        }
    }

    #[test]
    fn after_a_fault_at_any_storage_call_the_process_never_waits_on_its_own_lease() {
        let key = lease_key("s");
        for atomic in [false, true] {
            // Plain: get, set, read-back, delete. Atomic: setIfAbsent, delete. Then the delete
            // again, and calls past the end.
            let calls = if atomic { 2 } else { 4 };
            for first in 1..=calls + 1 {
                for faults in [vec![first], vec![first, first + 1]] {
                    for write_then_fail in [false, true] {
                        let case = format!(
                            "atomic {atomic}, faults {faults:?}, write then fail {write_then_fail}"
                        );
                        let map = Rc::new(MemoryStorage::new());
                        let (a, b) = (Process::new(&map, atomic), Process::new(&map, atomic));
                        a.write_then_fail.set(write_then_fail);
                        a.arm(&faults);
                        let outcome = block_on(take_and_give_back(&a));
                        a.arm(&[]);
                        if matches!(outcome, Ok(true)) && faults.len() == 1 {
                            // One transient fault, and the flow went through: the delete was
                            // tried again, nothing is left.
                            assert_eq!(map.get_now(&key), None, "{case}");
                        }
                        // Whatever was left, this process does not wait on it: its next take
                        // gets the lease at once, and gives it back.
                        assert!(!block_on(is_held(&a, "s")).unwrap(), "{case}");
                        assert!(block_on(take_and_give_back(&a)).unwrap(), "{case}");
                        assert_eq!(map.get_now(&key), None, "{case}: given back");
                        assert!(!block_on(is_held(&b, "s")).unwrap(), "{case}");
                    }
                }
            }
        }
    }

    #[test]
    fn another_process_waits_on_a_left_lease_until_its_owner_takes_it_over() {
        for atomic in [false, true] {
            let map = Rc::new(MemoryStorage::new());
            let (a, b) = (Process::new(&map, atomic), Process::new(&map, atomic));
            let Attempt::Taken(lease) = block_on(try_take(&a, "s")).unwrap() else {
                panic!("taken")
            };
            // The operation is dropped mid-refresh (or every delete failed).
            drop(lease);
            assert!(
                block_on(is_held(&b, "s")).unwrap(),
                "B cannot tell it from a live one"
            );
            assert!(matches!(
                block_on(try_take(&b, "s")).unwrap(),
                Attempt::HeldElsewhere
            ));
            assert!(
                !block_on(is_held(&a, "s")).unwrap(),
                "A knows it is its own"
            );
            let Attempt::Taken(again) = block_on(try_take(&a, "s")).unwrap() else {
                panic!("A takes its own left lease over")
            };
            assert!(block_on(is_held(&b, "s")).unwrap(), "held again, by A");
            block_on(release(&a, again));
            assert!(!block_on(is_held(&b, "s")).unwrap());
            assert!(a.own.is_empty(), "nothing left to remember");
        }
    }

    #[test]
    fn a_read_back_that_cannot_be_read_leaves_a_lease_its_process_does_not_wait_on() {
        let map = Rc::new(MemoryStorage::new());
        let (a, b) = (Process::new(&map, false), Process::new(&map, false));
        a.arm(&[]);
        // get, set, then the read-back answers garbage.
        a.corrupt_at.set(Some(3));
        assert!(matches!(
            block_on(try_take(&a, "s")).unwrap(),
            Attempt::HeldElsewhere
        ));
        assert!(map.get_now(&lease_key("s")).is_some(), "the lease written");
        assert!(
            !block_on(is_held(&a, "s")).unwrap(),
            "A does not wait on it"
        );
        assert!(block_on(is_held(&b, "s")).unwrap());
        assert!(block_on(take_and_give_back(&a)).unwrap());
        assert_eq!(map.get_now(&lease_key("s")), None);
    }

    #[test]
    fn a_list_lease_left_by_a_failed_set_if_absent_is_taken_back_by_its_process() {
        let map = Rc::new(MemoryStorage::new());
        let (a, b) = (Process::new(&map, true), Process::new(&map, true));
        a.write_then_fail.set(true);
        a.arm(&[1]);
        assert!(block_on(hold(&a, LIST_LEASE_KEY, LIST_LEASE_TTL_MS)).is_err());
        a.arm(&[]);
        assert!(
            map.get_now(LIST_LEASE_KEY).is_some(),
            "it landed all the same"
        );
        assert_eq!(
            block_on(b.set_if_absent(LIST_LEASE_KEY, "{}", 1)).unwrap(),
            Some(false),
            "another process does not take it"
        );
        let started = crate::clock::now_ms();
        let lease = block_on(hold(&a, LIST_LEASE_KEY, LIST_LEASE_TTL_MS))
            .unwrap()
            .expect("taken");
        assert!(
            crate::clock::now_ms() - started < 1_000,
            "at once, not after the lease lapsed"
        );
        block_on(release(&a, lease));
        assert_eq!(map.get_now(LIST_LEASE_KEY), None);
    }
}
