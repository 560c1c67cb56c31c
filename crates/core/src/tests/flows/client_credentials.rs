//! The client-credentials grant: a login as `login({ clientId, clientSecret, oidcIssuer })` makes
//! it, and restores that log the client in again when its access token is due (such a session
//! has no refresh token).

use super::{scenarios, Backing, Flow, World, SESSION};
use crate::grants::client_credentials::{self, ClientCredentialsLogin};
use crate::protocol::webid_profile::WebIdCheck;
use crate::restore::Renewal;
use crate::secret::Secret;
use crate::session::field;
use crate::tests::support::block_on;
use crate::tests::support::fake_idp::{FakeIdp, ISSUER, WEB_ID};

const CLIENT_ID: &str = "robot";
const CLIENT_SECRET: &str = "robot-secret";

/// What `logInWithClientCredentials` does: the client stored as the reference stores it, the
/// grant, then the login stored so that a restore can log the client in again.
fn log_in_with(world: &World, dpop: bool) -> crate::error::Result<()> {
    let login = ClientCredentialsLogin {
        issuer: ISSUER.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
        dpop,
        webid_check: WebIdCheck::Verify,
    };
    let storage = &*world.store;
    block_on(client_credentials::log_in_session(
        &world.host(),
        storage,
        &world.caches,
        SESSION,
        &login,
    ))
    .map(drop)
}

fn log_in(world: &World) {
    world.idp.add_client(CLIENT_ID, Some(CLIENT_SECRET));
    log_in_with(world, true).expect("the login succeeds");
}

const FLOW: Flow = Flow {
    log_in,
    renewal_grant: "client_credentials",
    refuse_renewal: |world| world.idp.remove_client(CLIENT_ID),
};

#[test]
fn a_login_stores_the_client_and_a_token_whose_web_id_the_access_token_names() {
    let world = World::new();
    log_in(&world);
    assert_eq!(world.grants("client_credentials"), 1);
    assert_eq!(world.field("issuer").as_deref(), Some(ISSUER));
    assert_eq!(world.field("clientType").as_deref(), Some("static"));
    assert_eq!(world.field("clientSecret").as_deref(), Some(CLIENT_SECRET));
    assert_eq!(world.field("webId").as_deref(), Some(WEB_ID));
    assert_eq!(
        world.field(field::ACCESS_TOKEN_TYPE).as_deref(),
        Some("DPoP")
    );
    assert_eq!(world.field("refreshToken"), None);
    assert!(world.is_listed());
}

#[test]
fn a_login_with_an_id_token_and_bearer_tokens_reads_the_web_id_from_the_id_token() {
    let world = World::new();
    world.idp.settings().id_token_for_client_credentials = true;
    world.idp.add_client(CLIENT_ID, Some(CLIENT_SECRET));
    log_in_with(&world, false).unwrap();
    assert_eq!(
        world.field(field::ACCESS_TOKEN_TYPE).as_deref(),
        Some("Bearer")
    );
    assert_eq!(world.field("webId").as_deref(), Some(WEB_ID));
    assert!(world.field("idToken").is_some());
    assert!(world.idp.seen().iter().all(|s| !s.dpop));
}

#[test]
fn a_login_with_a_wrong_secret_is_refused_and_stores_no_token() {
    let world = World::new();
    world.idp.add_client(CLIENT_ID, Some("another secret"));
    let error = log_in_with(&world, true).unwrap_err();
    assert!(super::is_refusal(&error, "invalid_client"), "{error}");
    assert_eq!(world.field(field::ACCESS_TOKEN), None);
}

#[test]
fn a_restore_within_the_tokens_lifetime_asks_the_provider_nothing() {
    scenarios::restore_with_a_good_token(FLOW);
}

#[test]
fn a_restore_of_a_due_token_logs_the_client_in_again_once() {
    scenarios::restore_with_a_due_token(FLOW);
}

#[test]
fn a_refused_login_again_leaves_the_record_byte_for_byte() {
    scenarios::refused_renewal(FLOW);
}

#[test]
fn a_provider_out_of_reach_leaves_the_record_byte_for_byte() {
    scenarios::renewal_out_of_reach(FLOW);
}

#[test]
fn a_logout_forgets_the_session_and_revokes_nothing() {
    let world = World::new();
    log_in(&world);
    let requests = world.idp.seen().len();
    // An IdP logout: the end-session endpoint, from the discovery this process cached.
    let end_session = crate::protocol::end_session::EndSession {
        id_token_hint: Secret::new("an.id.token"),
        post_logout_redirect_uri: Some("https://app.example/bye".to_owned()),
        state: None,
    };
    let outcome = world.log_out(Some(&end_session)).unwrap();
    assert!(!outcome.revoked, "no refresh token to revoke");
    assert_eq!(
        outcome.end_session_url.as_ref().map(Secret::expose),
        Some(&*format!(
            "{}?id_token_hint=an.id.token&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye",
            FakeIdp::url("logout")
        ))
    );
    assert_eq!(world.idp.seen().len(), requests, "not one request");
    assert_eq!(world.record(), None);
    assert!(!world.is_listed());
    assert!(world.restore(Renewal::IfDue).unwrap().is_none());
}

#[test]
fn concurrent_restores_in_one_process_log_the_client_in_again_once() {
    assert_eq!(scenarios::concurrent_restores(FLOW, Backing::Js), 1);
}

#[test]
fn two_processes_restoring_a_due_session_each_log_the_client_in_again() {
    // No lease is taken for the client-credentials grant: there is no refresh token whose reuse
    // a provider could take for theft, so each process makes the grant.
    for backing in [Backing::Js, Backing::JsWithSetIfAbsent] {
        assert_eq!(scenarios::two_processes(FLOW, backing), 2, "{backing:?}");
    }
}
