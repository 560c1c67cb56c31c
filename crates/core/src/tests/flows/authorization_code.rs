//! The authorization-code flow with PKCE: `start` (what `login` calls), the user at the
//! provider (`FakeIdp::authorize`), and `finish` at the redirect (`handleIncomingRedirect`).

use super::{is_refusal, restored, Flow, World, REDIRECT_URL, SESSION};
use crate::error::{Error, Result};
use crate::grants::authorization_code::{
    self, AuthorizationLogin, AuthorizationRequest, Finished, ResumedRequest,
};
use crate::protocol::caches::Caches;
use crate::protocol::webid_profile::WebIdCheck;
use crate::restore::Renewal;
use crate::secret::Secret;
use crate::session::field;
use crate::storage::record_key;
use crate::storage::MemoryStorage;
use crate::tests::support::block_on;
use crate::tests::support::fake_idp::{Endpoint, ISSUER, WEB_ID};

/// The options of `login({ oidcIssuer, redirectUrl })`, with a dynamically registered client.
pub(super) fn options(dpop: bool) -> AuthorizationLogin {
    AuthorizationLogin {
        issuer: Some(ISSUER.to_owned()),
        web_id: None,
        webid_check: WebIdCheck::Verify,
        redirect_url: REDIRECT_URL.to_owned(),
        client_id: None,
        client_secret: None,
        client_name: None,
        custom_scopes: Vec::new(),
        prompt: None,
        dpop,
        keep_alive: true,
    }
}

/// Starts a login of `SESSION`: the request the user is sent to the provider with.
pub(super) fn start_request(world: &World, login: &AuthorizationLogin) -> AuthorizationRequest {
    let request = block_on(authorization_code::start(
        &world.host(),
        &*world.store,
        &world.caches,
        SESSION,
        login,
    ));
    request.expect("the login starts")
}

/// Starts a login of `SESSION`: the URL the user is sent to.
pub(super) fn start(world: &World, login: &AuthorizationLogin) -> String {
    start_request(world, login).url
}

/// Finishes a login at the URL the provider redirected to.
pub(super) fn finish(world: &World, redirect: &str) -> Result<Finished> {
    finish_checked(world, redirect, WebIdCheck::Verify)
}

/// Finishes a login at the URL the provider redirected to, with the WebID check `check`.
pub(super) fn finish_checked(world: &World, redirect: &str, check: WebIdCheck) -> Result<Finished> {
    block_on(authorization_code::finish(
        &world.host(),
        &*world.store,
        &world.caches,
        redirect,
        true,
        check,
    ))
}

/// Why finishing a login at `redirect` failed; a panic if it did not.
fn refusal(world: &World, redirect: &str) -> Error {
    let Err(error) = finish(world, redirect) else {
        panic!("the redirect was taken")
    };
    error
}

/// Logs `SESSION` in: started, consented to, finished.
pub(super) fn log_in_with(world: &World, login: &AuthorizationLogin) -> Finished {
    let redirect = world.idp.authorize(&start(world, login));
    finish(world, &redirect).expect("the login finishes")
}

fn log_in(world: &World) {
    log_in_with(world, &options(true));
}

const FLOW: Flow = Flow::refreshing(log_in);

shared_scenarios!(FLOW);

#[test]
fn a_login_registers_a_client_exchanges_the_code_and_stores_the_tokens_first() {
    let world = World::new();
    let finished = log_in_with(&world, &options(true));
    assert_eq!(finished.session_id, SESSION);
    let restored = finished.restored;
    assert_eq!(restored.credentials.web_id, WEB_ID);
    assert_eq!(restored.credentials.issuer, ISSUER);
    assert!(restored.credentials.dpop_key.is_some());
    assert!(restored.keep_alive);
    let refresh_token = restored.new_refresh_token.expect("for newRefreshToken");
    // Stored as handed out.
    assert_eq!(
        world.field("refreshToken").as_deref(),
        Some(refresh_token.expose())
    );
    assert_eq!(
        world.field(field::ACCESS_TOKEN).as_deref(),
        Some(restored.credentials.access_token.expose())
    );
    assert_eq!(
        world.field(field::ACCESS_TOKEN_TYPE).as_deref(),
        Some("DPoP")
    );
    assert_eq!(world.field("webId").as_deref(), Some(WEB_ID));
    assert_eq!(world.field("clientType").as_deref(), Some("dynamic"));
    assert!(world.field("publicKey").is_some() && world.field("privateKey").is_some());
    // The verifier and the state are used up.
    assert_eq!(world.field("codeVerifier"), None);
    assert_eq!(world.field("authorizationStates"), None);
    assert!(world.is_listed());
    for (endpoint, count) in [
        (Endpoint::Discovery, 1),
        (Endpoint::Registration, 1),
        (Endpoint::Jwks, 1),
        (Endpoint::Token, 1),
    ] {
        assert_eq!(world.idp.count(endpoint), count, "{endpoint:?}");
    }
    assert_eq!(world.grants("authorization_code"), 1);
    assert!(world.idp.seen().iter().any(|s| s.dpop), "a DPoP proof");
}

#[test]
fn a_redirect_used_twice_is_refused_the_second_time_and_changes_nothing() {
    let world = World::new();
    let redirect = world.idp.authorize(&start(&world, &options(true)));
    finish(&world, &redirect).unwrap();
    let before = world.record();
    let error = refusal(&world, &redirect);
    assert!(matches!(error, Error::InvalidRedirect { .. }), "{error}");
    assert_eq!(world.record(), before);
    assert_eq!(world.grants("authorization_code"), 1, "no second exchange");
}

#[test]
fn a_code_presented_with_another_verifier_is_refused_and_the_login_can_be_finished_later() {
    let world = World::new();
    let redirect = world.idp.authorize(&start(&world, &options(true)));
    let key = record_key(SESSION);
    let genuine = world.record().expect("the login's record");
    let verifier = world.field("codeVerifier").expect("a verifier");
    world
        .store
        .set_now(&key, &genuine.replace(&verifier, "not-the-verifier"));
    let error = refusal(&world, &redirect);
    assert!(is_refusal(&error, "invalid_grant"), "{error}");
    assert_eq!(
        world.field("refreshToken"),
        None,
        "nothing stored from a refusal"
    );
    assert!(
        world.field("codeVerifier").is_some(),
        "the login is still open"
    );
}

#[test]
fn a_redirect_with_another_issuer_is_refused_before_any_token_request() {
    let world = World::new();
    let redirect = world.idp.authorize(&start(&world, &options(true)));
    let before = world.record();
    let forged = redirect.replace("iss=https", "iss=http");
    let error = refusal(&world, &forged);
    assert!(matches!(error, Error::InvalidRedirect { .. }), "{error}");
    assert_eq!(world.idp.count(Endpoint::Token), 0);
    assert_eq!(world.record(), before);
}

#[test]
fn a_bearer_login_gets_bearer_tokens_and_refreshes_without_proofs() {
    let world = World::with_due_tokens();
    let finished = log_in_with(&world, &options(false));
    assert!(finished.restored.credentials.dpop_key.is_none());
    assert_eq!(
        world.field(field::ACCESS_TOKEN_TYPE).as_deref(),
        Some("Bearer")
    );
    let refreshed = restored(world.restore(Renewal::IfDue));
    assert!(refreshed.credentials.dpop_key.is_none());
    assert_eq!(world.grants("refresh_token"), 1);
    assert!(world.idp.seen().iter().all(|s| !s.dpop), "no DPoP proof");
    assert_eq!(world.field("publicKey"), None);
}

#[test]
fn a_token_endpoint_asking_for_a_dpop_nonce_gets_the_request_again_with_it() {
    let world = World::with_due_tokens();
    world.idp.settings().dpop_nonce = Some("nonce-1".to_owned());
    log_in(&world);
    world.restored(Renewal::IfDue);
    // Asked once, at the code exchange; the refresh sends the nonce it kept.
    assert_eq!(world.grants("authorization_code"), 2);
    assert_eq!(world.grants("refresh_token"), 1);
}

#[test]
fn a_second_session_at_the_same_provider_uses_the_client_registered_for_the_first() {
    let world = World::new();
    log_in(&world);
    let client_id = world.field("clientId");
    block_on(authorization_code::start(
        &world.host(),
        &*world.store,
        &world.caches,
        "session-2",
        &options(true),
    ))
    .unwrap();
    assert_eq!(world.idp.count(Endpoint::Registration), 1);
    let other = world
        .store
        .get_now(&record_key("session-2"))
        .expect("a record");
    assert!(other.contains(&format!("\"{}\"", client_id.unwrap_or_default())));
}

#[test]
fn a_client_id_document_logs_in_as_a_public_client_and_refreshes_with_the_bound_key() {
    let world = World::with_due_tokens();
    let login = AuthorizationLogin {
        client_id: Some("https://app.example/id".to_owned()),
        ..options(true)
    };
    log_in_with(&world, &login);
    assert_eq!(world.field("clientType").as_deref(), Some("solid-oidc"));
    assert_eq!(world.idp.count(Endpoint::Registration), 0);
    // The provider binds a public client's refresh token to its DPoP key: the refresh is
    // refused unless it is made with the key stored at the login.
    world.restored(Renewal::IfDue);
    assert_eq!(world.grants("refresh_token"), 1);
}

#[test]
fn a_client_the_provider_forgot_is_forgotten_and_the_next_login_registers_again() {
    let world = World::new();
    let redirect = world.idp.authorize(&start(&world, &options(true)));
    let forgotten = world.field("clientId").expect("a client");
    world.idp.remove_client(&forgotten);
    let error = refusal(&world, &redirect);
    assert!(is_refusal(&error, "invalid_client"), "{error}");
    log_in(&world);
    assert_eq!(world.idp.count(Endpoint::Registration), 2);
    assert_ne!(world.field("clientId"), Some(forgotten));
}

#[test]
fn a_login_started_in_one_process_finishes_in_another_with_what_the_event_carried() {
    let world = World::new();
    let request = start_request(&world, &options(true));
    let redirect = world.idp.authorize(&request.url);
    // Another process, with a store of its own: what `authorizationRequest` carried, and the
    // client's secret, which the app knows.
    let resumed = ResumedRequest {
        state: request.state,
        code_verifier: request.code_verifier,
        issuer: request.issuer,
        redirect_url: REDIRECT_URL.to_owned(),
        dpop: true,
        client_id: request.client_id,
        client_secret: world.field("clientSecret").map(Secret::new),
    };
    let (store, caches) = (MemoryStorage::new(), Caches::default());
    let finished = block_on(async {
        let host = world.host();
        authorization_code::resume(&host, &store, &caches, "session-2", &resumed).await?;
        authorization_code::finish(&host, &store, &caches, &redirect, true, WebIdCheck::Verify)
            .await
    });
    let Ok(finished) = finished else {
        panic!("the login did not finish")
    };
    assert_eq!(finished.session_id, "session-2");
    assert_eq!(finished.restored.credentials.web_id, WEB_ID);
    let record = store.get_now(&record_key("session-2")).expect("a record");
    assert!(record.contains("refreshToken") && !record.contains("codeVerifier"));
}

/// An operation on the native store waits for its HTTP requests, which the host makes, so two
/// restores of one session can be in flight at once (`restoreSession` and the background
/// `renew`, which the JS layer does not merge). Each is a key-lock family of its own
/// (`MemoryOperation`): one refreshes, the other finds the new token; both refreshing would
/// make a provider that detects reuse revoke the grant.
#[test]
fn concurrent_restores_on_the_native_store_share_one_refresh() {
    assert_eq!(
        scenarios::concurrent_restores(FLOW, super::Backing::Native),
        1
    );
}

/// A logout on the native store waits for a refresh in flight, which would otherwise write the
/// session back, unlisted, with a refresh token nobody revoked.
#[test]
fn a_logout_on_the_native_store_during_a_refresh_leaves_nothing() {
    scenarios::log_out_during_a_refresh(FLOW, super::Backing::Native, false);
}

/// Across processes the key locks do not order a logout and a refresh; the session's refresh
/// lease does: a logout waits for a refresh in flight elsewhere (which would otherwise write the
/// record back, unlisted, with a live refresh token), and revokes the refresh token it stored.
#[test]
fn a_logout_in_another_process_during_a_refresh_leaves_nothing() {
    for backing in [super::Backing::Js, super::Backing::JsWithSetIfAbsent] {
        scenarios::log_out_during_a_refresh(FLOW, backing, true);
    }
}
