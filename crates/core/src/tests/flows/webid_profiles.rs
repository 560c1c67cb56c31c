//! WebID profile lookups as operations make them: several at once in one process (the binding's
//! host queue between them and the profiles in process), on the store's clock, which the test
//! moves. These call the cache directly; the grants' checks through it are in `webid_checks`.

use std::cell::Cell;
use std::rc::Rc;

use super::{Backing, Process, World};
use crate::error::Result;
use crate::host::drive::Driven;
use crate::protocol::webid_profile::{WebIdCache, WebIdError, VERIFIED_LIFETIME_MS};
use crate::tests::support::drive_together;
use crate::tests::support::fake_idp::{ISSUER, WEB_ID};
use crate::tests::support::profiles::{document_of, Answer, Profiles, WithIdp};

const OTHER_IDP: &str = "https://other-idp.example/";

/// A process whose stores go by `clock`.
fn process_on(world: &World, clock: &Rc<Cell<u64>>) -> Process {
    let mut process = world.process(Backing::Native);
    process.clock = Some(clock.clone());
    process
}

/// An operation checking that `webid` names `issuer`, at the store's time.
fn verify(
    process: &Process,
    cache: &Rc<WebIdCache>,
    webid: &'static str,
    issuer: &'static str,
) -> Driven<std::result::Result<(), WebIdError>> {
    let cache = cache.clone();
    process.operation(move |storage, http, _caches| async move {
        Ok(cache.verify(&*http, storage.now_ms(), webid, issuer).await)
    })
}

/// Runs `ops` side by side against `profiles`; each one's outcome.
fn run(
    world: &World,
    profiles: &Profiles,
    ops: Vec<Driven<std::result::Result<(), WebIdError>>>,
) -> Vec<std::result::Result<(), WebIdError>> {
    drive_together(ops, &world.store, profiles)
        .into_iter()
        .map(|outcome: Result<_>| outcome.expect("the operation itself does not fail"))
        .collect()
}

#[test]
fn a_burst_of_checks_of_one_webid_sends_one_request() {
    let world = World::new();
    let profiles = Profiles::new();
    profiles.serve_turtle(WEB_ID, &[ISSUER]);
    let clock = Rc::new(Cell::new(1_000_000));
    let process = process_on(&world, &clock);
    let cache = Rc::new(WebIdCache::default());
    let mut ops: Vec<_> = (0..20)
        .map(|_| verify(&process, &cache, WEB_ID, ISSUER))
        .collect();
    // One of the burst for an issuer the profile does not name: it shares the request, and fails.
    ops.push(verify(&process, &cache, WEB_ID, OTHER_IDP));
    let outcomes = run(&world, &profiles, ops);
    assert_eq!(profiles.requests_to(document_of(WEB_ID)), 1);
    assert!(outcomes[..20].iter().all(Result::is_ok), "{outcomes:?}");
    assert!(
        matches!(&outcomes[20], Err(WebIdError::IssuerMismatch { issuer, listed, .. })
            if issuer == OTHER_IDP && listed == &[ISSUER.to_owned()]),
        "{:?}",
        outcomes[20]
    );
}

#[test]
fn a_verified_pair_sends_no_request_until_it_expires_by_the_store_clock() {
    let world = World::new();
    let profiles = Profiles::new();
    profiles.serve_turtle(WEB_ID, &[ISSUER]);
    let start = 1_000_000;
    let clock = Rc::new(Cell::new(start));
    let process = process_on(&world, &clock);
    let cache = Rc::new(WebIdCache::default());
    let check = |issuer| {
        run(
            &world,
            &profiles,
            vec![verify(&process, &cache, WEB_ID, issuer)],
        )
    };

    assert!(check(ISSUER)[0].is_ok());
    assert_eq!(profiles.seen().len(), 1);
    // The same issuer without its trailing slash is the same pair.
    clock.set(start + VERIFIED_LIFETIME_MS - 1);
    assert!(check(ISSUER)[0].is_ok());
    assert!(check(ISSUER.trim_end_matches('/'))[0].is_ok());
    assert_eq!(profiles.seen().len(), 1);

    // Expired: read again, and the profile has dropped the provider since.
    clock.set(start + VERIFIED_LIFETIME_MS);
    profiles.serve_turtle(WEB_ID, &[OTHER_IDP]);
    assert!(matches!(
        &check(ISSUER)[0],
        Err(WebIdError::IssuerMismatch { .. })
    ));
    assert_eq!(profiles.seen().len(), 2);
    // A mismatch is not kept: the profile fixed by its owner counts at once.
    profiles.serve_turtle(WEB_ID, &[OTHER_IDP, ISSUER]);
    assert!(check(ISSUER)[0].is_ok());
    assert_eq!(profiles.seen().len(), 3);

    // A clock set back by more than a lifetime does not keep a pair alive for longer.
    clock.set(start - VERIFIED_LIFETIME_MS);
    assert!(check(ISSUER)[0].is_ok());
    assert_eq!(profiles.seen().len(), 4);
}

#[test]
fn a_profile_out_of_reach_fails_every_check_of_a_burst_closed_with_one_request() {
    for answer in [
        Answer::Status(404),
        Answer::Unreachable,
        Answer::TimedOut(3500),
    ] {
        let world = World::new();
        let profiles = Profiles::new();
        profiles.answer(document_of(WEB_ID), answer.clone());
        let clock = Rc::new(Cell::new(1_000_000));
        let process = process_on(&world, &clock);
        let cache = Rc::new(WebIdCache::default());
        let ops = (0..5)
            .map(|_| verify(&process, &cache, WEB_ID, ISSUER))
            .collect();
        let outcomes = run(&world, &profiles, ops);
        assert_eq!(profiles.seen().len(), 1, "{answer:?}");
        for outcome in &outcomes {
            let Err(error @ WebIdError::Profile { webid, .. }) = outcome else {
                panic!("{answer:?}: {outcome:?}")
            };
            assert_eq!(webid, WEB_ID);
            assert!(
                error.to_string().starts_with(&format!(
                    "the WebID profile of {WEB_ID} could not be read: {}",
                    document_of(WEB_ID)
                )),
                "{error}"
            );
        }
        // Not kept: the next check asks again, and passes once the profile is back.
        profiles.serve_turtle(WEB_ID, &[ISSUER]);
        assert!(run(
            &world,
            &profiles,
            vec![verify(&process, &cache, WEB_ID, ISSUER)]
        )[0]
        .is_ok());
        assert_eq!(profiles.seen().len(), 2, "{answer:?}");
    }
}

#[test]
fn a_login_by_webid_reads_the_issuers_once_for_the_check_that_ends_it() {
    let world = World::new();
    let profiles = Profiles::new();
    profiles.serve_turtle(WEB_ID, &[OTHER_IDP, ISSUER]);
    let clock = Rc::new(Cell::new(1_000_000));
    let process = process_on(&world, &clock);
    let cache = Rc::new(WebIdCache::default());
    let lookup = {
        let cache = cache.clone();
        process.operation(move |storage, http, _caches| async move {
            Ok(cache
                .issuers(&*http, storage.now_ms(), WEB_ID)
                .await
                .map(|listed| listed.to_vec()))
        })
    };
    let listed = drive_together(vec![lookup], &world.store, &profiles);
    assert_eq!(
        listed[0].as_ref().ok(),
        Some(&Ok(vec![OTHER_IDP.to_owned(), ISSUER.to_owned()]))
    );
    clock.set(clock.get() + 60_000);
    let outcomes = run(
        &world,
        &profiles,
        vec![
            verify(&process, &cache, WEB_ID, ISSUER),
            verify(&process, &cache, WEB_ID, OTHER_IDP),
        ],
    );
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(profiles.seen().len(), 1);
}

#[test]
fn the_fake_providers_webid_names_it_beside_the_provider() {
    let world = World::new();
    let profiles = Profiles::for_fake_idp();
    let host = WithIdp {
        idp: &world.idp,
        profiles: &profiles,
    };
    let clock = Rc::new(Cell::new(1_000_000));
    let process = process_on(&world, &clock);
    let cache = Rc::new(WebIdCache::default());
    let outcomes = drive_together(
        vec![
            verify(&process, &cache, WEB_ID, ISSUER),
            verify(&process, &cache, WEB_ID, OTHER_IDP),
        ],
        &world.store,
        &host,
    );
    assert!(matches!(outcomes[0], Ok(Ok(()))), "{outcomes:?}");
    assert!(
        matches!(outcomes[1], Ok(Err(WebIdError::IssuerMismatch { .. }))),
        "{outcomes:?}"
    );
    assert_eq!(profiles.seen().len(), 1);
    assert!(world.idp.seen().is_empty());
}
