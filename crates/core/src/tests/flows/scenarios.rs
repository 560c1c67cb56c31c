//! What every flow does once logged in, written once: each function logs in with the flow's
//! login and checks one behaviour (`shared_scenarios!` makes tests of them).

use super::{restored, run_together, storage_calls, Backing, FailingWrites, Flow, World, SESSION};
use crate::error::Error;
use crate::restore::Renewal;
use crate::secret::Secret;
use crate::session::field;
use crate::storage::lease::LEASE_PREFIX;
use crate::storage::Storage as _;
use crate::tests::support::block_on;
use crate::tests::support::fake_idp::WEB_ID;

/// A restore within the access token's lifetime hands back the stored token and sends nothing.
pub(super) fn restore_with_a_good_token(flow: Flow) {
    let world = World::new();
    (flow.log_in)(&world);
    let requests = world.idp.seen().len();
    let restored = world.restored(Renewal::IfDue);
    assert_eq!(
        Some(restored.credentials.access_token.expose().to_owned()),
        world.field(field::ACCESS_TOKEN)
    );
    assert_eq!(restored.credentials.web_id, WEB_ID);
    assert!(restored.new_refresh_token.is_none(), "nothing was renewed");
    assert_eq!(world.idp.seen().len(), requests, "not one request");
}

/// A restore of a due token renews it once, with the flow's grant, and stores the new one, which
/// the next restore uses.
pub(super) fn restore_with_a_due_token(flow: Flow) {
    let world = World::with_due_tokens();
    (flow.log_in)(&world);
    let old = world.field(field::ACCESS_TOKEN).expect("an access token");
    world.idp.settings().access_token_lifetime = 3600;
    let before = world.grants(flow.renewal_grant);
    let token = world.restored(Renewal::IfDue).credentials.access_token;
    assert_eq!(world.grants(flow.renewal_grant), before + 1);
    assert_ne!(token.expose(), old);
    assert_eq!(
        world.field(field::ACCESS_TOKEN).as_deref(),
        Some(token.expose())
    );
    let again = world.restored(Renewal::IfDue).credentials.access_token;
    assert_eq!(again.expose(), token.expose());
    assert_eq!(
        world.grants(flow.renewal_grant),
        before + 1,
        "no second renewal"
    );
}

/// A refresh from a provider that rotates refresh tokens stores the new refresh token, hands it
/// out for `newRefreshToken`, and the next refresh presents it.
pub(super) fn refresh_with_rotation(flow: Flow) {
    let world = World::with_due_tokens();
    (flow.log_in)(&world);
    let first = world.field("refreshToken").expect("a refresh token");
    let restored = world.restored(Renewal::IfDue);
    let second = world.field("refreshToken").expect("a refresh token");
    assert_ne!(first, second, "rotated");
    assert_eq!(
        restored.new_refresh_token.as_ref().map(Secret::expose),
        Some(second.as_str())
    );
    assert!(!world.idp.is_live(&first), "the provider spent the first");
    world.restored(Renewal::Always);
    assert!(
        !world.idp.is_live(&second),
        "the second was presented (a reused first would have revoked the grant)"
    );
    let third = world.field("refreshToken").expect("a refresh token");
    assert!(world.idp.is_live(&third));
}

/// A renewal the provider refuses fails with its refusal and leaves the record as it was.
pub(super) fn refused_renewal(flow: Flow) {
    let world = World::with_due_tokens();
    (flow.log_in)(&world);
    let before = world.record();
    (flow.refuse_renewal)(&world);
    let error = world.restore(Renewal::IfDue).unwrap_err();
    assert!(matches!(error, Error::OAuth { .. }), "{error}");
    assert_eq!(world.record(), before);
}

/// A refresh whose answer is refused (its ID token is for another client) after the provider
/// rotated: the new refresh token is stored, the only good one left, and nothing else is.
pub(super) fn refused_answer_after_rotation(flow: Flow) {
    let world = World::with_due_tokens();
    (flow.log_in)(&world);
    let before = world.record().expect("a record");
    let old = world.field("refreshToken").expect("a refresh token");
    world.idp.settings().id_tokens_for_another_client = true;
    let error = world.restore(Renewal::IfDue).unwrap_err();
    assert!(matches!(error, Error::InvalidToken { .. }), "{error}");
    let new = world.field("refreshToken").expect("a refresh token");
    assert!(!world.idp.is_live(&old) && world.idp.is_live(&new));
    let quoted = |token: &str| format!("\"{token}\"");
    assert_eq!(
        world.record(),
        Some(before.replace(&quoted(&old), &quoted(&new)))
    );
    world.idp.settings().id_tokens_for_another_client = false;
    world.restored(Renewal::IfDue);
}

/// A refresh whose record cannot be written: the credentials come with the write's error, the
/// record waits unsaved (the provider has spent the old refresh token), and the next restore
/// writes it before anything else and refreshes with the new refresh token.
pub(super) fn refreshed_record_not_stored(flow: Flow) {
    let world = World::with_due_tokens();
    (flow.log_in)(&world);
    let old = world.field("refreshToken").expect("a refresh token");
    let before = world.grants(flow.renewal_grant);
    let store = FailingWrites::over(&world);
    let restore = |store: &FailingWrites| {
        block_on(crate::restore::restore(
            &world.idp,
            store,
            &world.caches,
            SESSION,
            Renewal::IfDue,
            crate::protocol::webid_profile::WebIdCheck::Verify,
        ))
    };
    let restored = restored(restore(&store));
    assert!(
        restored.not_stored.is_some(),
        "the write's error comes along"
    );
    assert_eq!(
        world.field("refreshToken"),
        Some(old.clone()),
        "not written"
    );
    assert!(!world.idp.is_live(&old));
    store.failing.set(false);
    let again = self::restored(restore(&store));
    assert!(again.not_stored.is_none());
    assert_eq!(
        world.grants(flow.renewal_grant),
        before + 2,
        "both refreshes went through: the second with the new refresh token"
    );
    assert_eq!(
        world.field("refreshToken").as_deref(),
        again.new_refresh_token.as_ref().map(Secret::expose)
    );
}

/// A renewal with the provider out of reach fails and leaves the record as it was.
pub(super) fn renewal_out_of_reach(flow: Flow) {
    let world = World::with_due_tokens();
    (flow.log_in)(&world);
    let before = world.record();
    world.idp.settings().unreachable = true;
    let error = world.restore(Renewal::IfDue).unwrap_err();
    assert!(matches!(error, Error::IdpUnreachable { .. }), "{error}");
    assert_eq!(world.record(), before);
}

/// A logout revokes the session's refresh token and leaves nothing of the session in storage.
pub(super) fn log_out_with_revocation(flow: Flow) {
    let world = World::new();
    (flow.log_in)(&world);
    let refresh_token = world.field("refreshToken").expect("a refresh token");
    let outcome = world.log_out(None).unwrap();
    assert!(outcome.revoked);
    assert_eq!(world.idp.revoked(), std::slice::from_ref(&refresh_token));
    assert!(!world.idp.is_live(&refresh_token));
    assert_eq!(world.record(), None);
    assert!(!world.is_listed());
    assert!(world.restore(Renewal::IfDue).unwrap().is_none());
}

/// A logout while a restore of the due session refreshes, on `backing`, in the restoring
/// process or in `another_process`: the session must end gone from storage, with no refresh
/// token the provider issued still good. The logout starts after a number of storage calls of
/// its own, from none to a dozen, so that it meets the refresh at each of its steps.
pub(super) fn log_out_during_a_refresh(flow: Flow, backing: Backing, another_process: bool) {
    for delay in 0..12 {
        let world = World::with_due_tokens();
        (flow.log_in)(&world);
        let process = world.process(backing);
        let other = world.process(backing);
        let logging_out = if another_process { &other } else { &process };
        let restore = process.operation(|storage, http, caches| async move {
            let restore = crate::restore::restore(
                &*http,
                &*storage,
                &caches,
                SESSION,
                Renewal::IfDue,
                crate::protocol::webid_profile::WebIdCheck::Verify,
            );
            restore.await.map(drop)
        });
        let log_out = logging_out.operation(move |storage, http, caches| async move {
            storage_calls(&*storage, delay).await?;
            let log_out = crate::logout::log_out(&*http, &*storage, &caches, SESSION, None, None);
            log_out.await.map(drop)
        });
        for result in run_together(&world, vec![restore, log_out]) {
            result.expect("both succeed");
        }
        // Not printed when it fails: the record holds the session's keys.
        assert!(
            world.record().is_none(),
            "delay {delay}: the session is gone"
        );
        let live = world.idp.live_refresh_tokens();
        assert!(live.is_empty(), "delay {delay}: {live:?} still good");
    }
}

/// Two restores of one due session side by side, on `backing`, in one process or in
/// `two_processes`; the second starts after `delay` storage calls of its own. How many renewals
/// the provider saw. Each restore must succeed, and every lease be given back.
fn restores_side_by_side(flow: Flow, backing: Backing, two_processes: bool, delay: usize) -> usize {
    let world = World::with_due_tokens();
    (flow.log_in)(&world);
    world.idp.settings().access_token_lifetime = 3600;
    let before = world.grants(flow.renewal_grant);
    let first = world.process(backing);
    let other = world.process(backing);
    let second = if two_processes { &other } else { &first };
    let ops = vec![first.restore_after(0), second.restore_after(delay)];
    let handed_out: Vec<String> = run_together(&world, ops)
        .into_iter()
        .map(|result| {
            let credentials = restored(result).credentials;
            credentials.access_token.expose().to_owned()
        })
        .collect();
    let stored = world.field(field::ACCESS_TOKEN).expect("an access token");
    assert!(
        handed_out.contains(&stored),
        "delay {delay}: the stored token was handed out"
    );
    let leases = world.store.keys_with_prefix(LEASE_PREFIX);
    assert_eq!(
        leases,
        Some(Vec::new()),
        "delay {delay}: every lease given back"
    );
    let renewals = world.grants(flow.renewal_grant) - before;
    if renewals == 1 {
        assert!(
            handed_out.iter().all(|t| *t == stored),
            "delay {delay}: all got the one"
        );
    }
    renewals
}

/// The most renewals any of the interleavings of two restores made, the second starting from
/// at once to a dozen storage calls later, so that it meets the first at each of its steps.
fn most_renewals(flow: Flow, backing: Backing, two_processes: bool) -> usize {
    (0..12)
        .map(|delay| restores_side_by_side(flow, backing, two_processes, delay))
        .max()
        .unwrap_or_default()
}

/// Two restores of one due session at once in one process, on `backing`: at most how many
/// renewals.
pub(super) fn concurrent_restores(flow: Flow, backing: Backing) -> usize {
    most_renewals(flow, backing, false)
}

/// One restore of a due session in each of two processes sharing a store implemented in JS, at
/// once: at most how many renewals.
pub(super) fn two_processes(flow: Flow, backing: Backing) -> usize {
    most_renewals(flow, backing, true)
}
