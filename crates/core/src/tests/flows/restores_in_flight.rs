//! Concurrent restores of one session on one store implemented in JS, in one process
//! (`restore::RestoresInFlight`): they are one restore, whose storage reads and token request
//! they share, and whose outcome (the credentials, or the error) each of them ends with.

use super::refresh_token::log_in;
use super::{is_refusal, restored, run_together_logged, Backing, World};
use crate::error::StorageMethod;
use crate::restore::Renewal;
use crate::secret::Secret;
use crate::storage::record_key;
use crate::tests::support::fake_idp::Refreshes;

const RESTORES: usize = 20;

/// How many times the operations read the session record.
fn record_reads(calls: &[(StorageMethod, String)]) -> usize {
    let key = record_key(super::SESSION);
    calls
        .iter()
        .filter(|(method, k)| *method == StorageMethod::Get && *k == key)
        .count()
}

/// A logged-in session whose stored access token is due, on a world whose provider then hands
/// out hour-long ones.
fn due_session() -> World {
    let world = World::with_due_tokens();
    log_in(&world);
    world.idp.settings().access_token_lifetime = 3600;
    world
}

/// The storage calls one restore of a fresh `due_session` makes alone.
fn calls_of_one_restore() -> Vec<(StorageMethod, String)> {
    let world = due_session();
    let process = world.process(Backing::Js);
    let (results, calls) = run_together_logged(&world, vec![process.restore_after(0)]);
    for result in results {
        restored(result);
    }
    calls
}

#[test]
fn concurrent_restores_of_a_due_session_make_the_reads_and_the_refresh_of_one() {
    let alone = calls_of_one_restore();
    let world = due_session();
    let before = world.grants("refresh_token");
    let process = world.process(Backing::Js);
    let ops = (0..RESTORES).map(|_| process.restore_after(0)).collect();
    let (results, calls) = run_together_logged(&world, ops);
    let tokens: Vec<String> = results
        .into_iter()
        .map(|result| {
            restored(result)
                .credentials
                .access_token
                .expose()
                .to_owned()
        })
        .collect();
    assert_eq!(world.grants("refresh_token") - before, 1, "one refresh");
    assert_eq!(
        calls, alone,
        "the storage calls of one restore, not {RESTORES}"
    );
    assert_eq!(record_reads(&calls), record_reads(&alone));
    let stored = world.field("accessToken").expect("an access token");
    assert!(
        tokens.iter().all(|t| *t == stored),
        "all got the one stored"
    );
}

#[test]
fn concurrent_restores_with_a_good_stored_token_read_the_record_once() {
    let world = World::new();
    log_in(&world);
    let process = world.process(Backing::Js);
    let ops = (0..RESTORES).map(|_| process.restore_after(0)).collect();
    let (results, calls) = run_together_logged(&world, ops);
    assert_eq!(results.len(), RESTORES);
    for result in results {
        restored(result);
    }
    assert_eq!(record_reads(&calls), 1, "{calls:?}");
}

#[test]
fn restores_that_joined_a_refused_refresh_end_with_its_error() {
    let world = due_session();
    world.idp.settings().refreshes = Refreshes::Refused;
    let before = world.grants("refresh_token");
    let record = world.record();
    let process = world.process(Backing::Js);
    let ops = (0..RESTORES).map(|_| process.restore_after(0)).collect();
    let (results, _) = run_together_logged(&world, ops);
    for result in results {
        let error = result.expect_err("the refresh was refused");
        assert!(is_refusal(&error, "invalid_grant"), "{error}");
    }
    assert_eq!(world.grants("refresh_token") - before, 1, "asked once");
    assert_eq!(world.record(), record, "the record byte for byte");
}

#[test]
fn a_restore_begun_after_the_first_ended_reads_storage_again() {
    let world = World::new();
    log_in(&world);
    let process = world.process(Backing::Js);
    for expected in 1..=2 {
        let (results, calls) = run_together_logged(&world, vec![process.restore_after(0)]);
        for result in results {
            restored(result);
        }
        assert_eq!(record_reads(&calls), 1, "restore {expected}");
    }
}

#[test]
fn restores_of_different_kinds_do_not_join_but_still_refresh_once_each_way() {
    let world = World::new();
    log_in(&world);
    let before = world.grants("refresh_token");
    let process = world.process(Backing::Js);
    let held = world.field("accessToken").expect("an access token");
    // A restore from storage (the stored token is good), a forced refresh and a timer's
    // renewal of the token it holds: three kinds, none joining another.
    let ops = vec![
        process.renew_after(0, Renewal::IfDue),
        process.renew_after(0, Renewal::Always),
        process.renew_after(0, Renewal::Replacing(Secret::new(held.clone()))),
    ];
    let (results, calls) = run_together_logged(&world, ops);
    let tokens: Vec<String> = results
        .into_iter()
        .map(|result| {
            restored(result)
                .credentials
                .access_token
                .expose()
                .to_owned()
        })
        .collect();
    // Each read the record (the forced refresh once more, under the refresh lease).
    assert!(record_reads(&calls) >= 3, "{calls:?}");
    assert_eq!(tokens[0], held, "the restore used the stored token");
    assert_ne!(tokens[1], held, "the forced one refreshed");
    // The renewal ran after the forced refresh (the record's key lock) and took its token.
    assert_eq!(tokens[2], tokens[1]);
    assert_eq!(world.grants("refresh_token") - before, 1);
}

#[test]
fn concurrent_forced_refreshes_and_concurrent_timer_renewals_each_make_one() {
    let world = World::new();
    log_in(&world);
    let process = world.process(Backing::Js);
    let before = world.grants("refresh_token");
    let forced = (0..RESTORES)
        .map(|_| process.renew_after(0, Renewal::Always))
        .collect();
    let (results, _) = run_together_logged(&world, forced);
    let tokens: Vec<String> = results
        .into_iter()
        .map(|result| {
            restored(result)
                .credentials
                .access_token
                .expose()
                .to_owned()
        })
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one refresh, shared"
    );
    assert_eq!(world.grants("refresh_token") - before, 1);
    // Every session's timer fires for the token they all hold: one refresh between them.
    let held = Secret::new(tokens[0].clone());
    let renewals = (0..RESTORES)
        .map(|_| process.renew_after(0, Renewal::Replacing(held.clone())))
        .collect();
    let (results, calls) = run_together_logged(&world, renewals);
    for result in results {
        let renewed = restored(result).credentials.access_token;
        assert_ne!(renewed.expose(), held.expose(), "renewed");
    }
    assert_eq!(world.grants("refresh_token") - before, 2);
    assert!(record_reads(&calls) <= 2, "one renewal's reads: {calls:?}");
}
