//! Refresh leases over time, on a store implemented in JS without `setIfAbsent` (the lease a
//! record with its lapse time), by a clock the test keeps: a lease left by a process that died
//! delays a restore until it lapses and no longer; one that never lapses makes the restore give
//! up, and leaves the record as it was.

use std::cell::Cell;
use std::rc::Rc;

use super::{restored, run_together, Backing, World, SESSION};
use crate::error::Error;
use crate::storage::lease::{lease_key, LEASE_PREFIX, LEASE_TTL_MS};
use crate::storage::Storage as _;

/// A session with a due access token, a process on the world's store by a clock the test
/// keeps, and a lease of another process's lasting until `until` (ms after the clock's start).
fn a_restore_behind_a_left_lease(until: u64) -> (World, super::Process, Rc<Cell<u64>>, u64) {
    let world = World::with_due_tokens();
    super::refresh_token::log_in(&world);
    world.idp.settings().access_token_lifetime = 3600;
    let start = crate::clock::now_ms();
    let clock = Rc::new(Cell::new(start));
    let mut process = world.process(Backing::Js);
    process.clock = Some(clock.clone());
    let lease = serde_json::json!({ "owner": "a process that died", "until": start + until });
    world.store.set_now(&lease_key(SESSION), &lease.to_string());
    (world, process, clock, start)
}

#[test]
fn a_lease_left_by_a_process_that_died_delays_a_restore_until_it_lapses() {
    let (world, process, clock, start) = a_restore_behind_a_left_lease(LEASE_TTL_MS);
    let before = world.grants("refresh_token");
    let result = run_together(&world, vec![process.restore_after(0)]).pop();
    restored(result.expect("one result"));
    assert_eq!(world.grants("refresh_token") - before, 1, "one refresh");
    let waited = clock.get() - start;
    assert!(
        (LEASE_TTL_MS..LEASE_TTL_MS + 1_000).contains(&waited),
        "waited {waited} ms by the store's clock"
    );
    assert_eq!(
        world.store.keys_with_prefix(LEASE_PREFIX),
        Some(Vec::new()),
        "its own lease given back; the lapsed one written over"
    );
}

#[test]
fn a_lease_that_never_lapses_makes_a_restore_give_up_and_leaves_the_record() {
    let (world, process, clock, start) = a_restore_behind_a_left_lease(u64::MAX / 2);
    let record = world.record();
    let before = world.grants("refresh_token");
    let result = run_together(&world, vec![process.restore_after(0)]).pop();
    match result.expect("one result") {
        Err(Error::RefreshLeaseTimeout { millis, .. }) => {
            assert!(millis > 2 * LEASE_TTL_MS, "{millis}");
        }
        other => panic!("expected a lease timeout, got {other:?}"),
    }
    assert!(clock.get() - start <= 2 * LEASE_TTL_MS + 1_000);
    assert_eq!(world.grants("refresh_token"), before, "no refresh");
    assert_eq!(world.record(), record, "the record as it was");
}
