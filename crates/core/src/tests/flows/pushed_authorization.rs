//! Pushed authorization requests (RFC 9126) at the start of an authorization-code login, and the
//! kept dynamic client that a push, or its age, tells us to register again.

use super::authorization_code::{finish, log_in_with, options, start, start_request};
use super::{is_refusal, World, REDIRECT_URL, SESSION};
use crate::error::Error;
use crate::grants::authorization_code::{self, AuthorizationLogin, ResumedRequest};
use crate::protocol::caches::Caches;
use crate::protocol::registration::{kept_client_key, UNCHECKED_CLIENT_MAX_AGE_MS};
use crate::storage::{MemoryStorage, Storage as _};
use crate::tests::support::block_on;
use crate::tests::support::fake_idp::{Endpoint, FakeIdp, PushedRequests, ISSUER, WEB_ID};

/// The reference's parameters, in its order.
const PARAMETERS: [&str; 8] = [
    "client_id",
    "scope",
    "response_type",
    "redirect_uri",
    "code_challenge",
    "state",
    "code_challenge_method",
    "prompt",
];

fn pushing_world() -> World {
    let world = World::new();
    world.idp.settings().pushed_requests = PushedRequests::Taken;
    world
}

/// The names and values of a URL's query, in order.
fn query_of(url: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(url).expect("a URL");
    url.query_pairs().into_owned().collect()
}

fn names(pairs: &[(String, String)]) -> Vec<&str> {
    pairs.iter().map(|(name, _)| name.as_str()).collect()
}

fn kept_client() -> String {
    kept_client_key(ISSUER, REDIRECT_URL)
}

/// Starts a login of `SESSION`: why it failed; a panic if it did not.
fn start_refused(world: &World, login: &AuthorizationLogin) -> Error {
    let started = block_on(authorization_code::start(
        &world.host(),
        &*world.store,
        &world.caches,
        SESSION,
        login,
    ));
    match started {
        Ok(_) => panic!("the login started"),
        Err(error) => error,
    }
}

#[test]
fn a_provider_taking_pushed_requests_gets_the_request_pushed_and_the_user_a_short_url() {
    let world = pushing_world();
    let request = start_request(&world, &options(true));
    let query = query_of(&request.url);
    assert_eq!(names(&query), ["client_id", "request_uri"]);
    assert!(request.url.starts_with(&FakeIdp::url("authorize?")));
    assert_eq!(query[0].1, request.client_id);
    // The parameters a URL would carry, pushed in the same order, the client authenticated
    // (Basic, so no secret among them).
    let pushed = world.idp.pushed_requests();
    assert_eq!(pushed.len(), 1);
    assert_eq!(names(&pushed[0]), PARAMETERS);
    assert!(pushed[0].contains(&("state".to_owned(), request.state.clone())));
    assert!(pushed[0].contains(&("redirect_uri".to_owned(), REDIRECT_URL.to_owned())));

    let finished = finish(&world, &world.idp.authorize(&request.url)).expect("the login finishes");
    assert_eq!(finished.restored.credentials.web_id, WEB_ID);
    assert_eq!(world.idp.count(Endpoint::Registration), 1);
}

#[test]
fn without_a_pushed_request_endpoint_the_url_carries_the_request_in_the_references_order() {
    let world = World::new();
    let request = start_request(&world, &options(true));
    let query = query_of(&request.url);
    assert_eq!(names(&query), PARAMETERS);
    assert!(query.contains(&("state".to_owned(), request.state)));
    assert_eq!(world.idp.count(Endpoint::PushedAuthorization), 0);
}

#[test]
fn a_kept_client_refused_at_the_push_is_registered_again_and_the_login_goes_on_in_the_same_call() {
    let world = pushing_world();
    log_in_with(&world, &options(true));
    let forgotten = world.field("clientId").expect("a client");
    // The provider restarted and forgot its clients.
    world.idp.remove_client(&forgotten);

    let request = start_request(&world, &options(true));
    assert_ne!(request.client_id, forgotten);
    assert_eq!(world.idp.count(Endpoint::Registration), 2);
    assert_eq!(
        world.idp.count(Endpoint::PushedAuthorization),
        3,
        "pushed again"
    );
    let kept = world.store.get_now(&kept_client()).expect("a kept client");
    assert!(
        kept.contains(&format!("\"{}\"", request.client_id)),
        "the new client is kept"
    );
    assert_eq!(world.field("clientId"), Some(request.client_id.clone()));
    let finished = finish(&world, &world.idp.authorize(&request.url)).expect("the login finishes");
    assert_eq!(finished.restored.credentials.web_id, WEB_ID);
}

#[test]
fn a_static_client_refused_at_the_push_is_a_typed_error_and_nothing_is_registered_or_stored() {
    let world = pushing_world();
    world.idp.add_client("static-app", Some("right"));
    let login = AuthorizationLogin {
        client_id: Some("static-app".to_owned()),
        client_secret: Some(crate::secret::Secret::new("wrong")),
        ..options(true)
    };
    let error = start_refused(&world, &login);
    assert!(is_refusal(&error, "invalid_client"), "{error}");
    assert!(!error.to_string().contains("wrong"), "no secret in {error}");
    assert_eq!(
        world.idp.count(Endpoint::PushedAuthorization),
        1,
        "pushed once"
    );
    assert_eq!(world.idp.count(Endpoint::Registration), 0);
    assert_eq!(world.record(), None);
    assert_eq!(world.store.get_now(&kept_client()), None);
}

#[test]
fn a_push_out_of_reach_or_answered_with_garbage_is_a_typed_error_and_storage_stays_as_it_was() {
    let world = pushing_world();
    start(&world, &options(true));
    let before = (
        world.record(),
        world.store.get_now(&kept_client()),
        world.store.len(),
    );
    for (fault, is_expected) in [
        (
            PushedRequests::Unreachable,
            (|e: &Error| matches!(e, Error::IdpUnreachable { .. })) as fn(&Error) -> bool,
        ),
        (
            PushedRequests::Garbage,
            |e: &Error| matches!(e, Error::IdpResponse { reason, .. } if reason.contains("not a JSON object")),
        ),
    ] {
        world.idp.settings().pushed_requests = fault;
        let error = start_refused(&world, &options(true));
        assert!(is_expected(&error), "{fault:?}: {error}");
        let after = (
            world.record(),
            world.store.get_now(&kept_client()),
            world.store.len(),
        );
        assert_eq!(after, before, "{fault:?}: storage as it was");
    }
    assert_eq!(
        world.idp.count(Endpoint::Registration),
        1,
        "the kept client is kept"
    );
}

/// Rewrites the kept client's registration time (`None`: a record written before it was kept).
fn set_registered_at(world: &World, registered_at: Option<u64>) {
    let key = kept_client();
    let raw = world.store.get_now(&key).expect("a kept client");
    let mut record: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    let fields = record.as_object_mut().expect("an object");
    match registered_at {
        Some(at) => fields.insert("registeredAt".to_owned(), at.to_string().into()),
        None => fields.remove("registeredAt"),
    };
    world.store.set_now(&key, &record.to_string());
}

#[test]
fn without_pushed_requests_a_kept_client_is_registered_again_once_a_day_old() {
    let world = World::new();
    log_in_with(&world, &options(true));
    let now = world.store.now_ms();
    set_registered_at(&world, Some(now - UNCHECKED_CLIENT_MAX_AGE_MS + 60_000));
    start(&world, &options(true));
    assert_eq!(
        world.idp.count(Endpoint::Registration),
        1,
        "younger than a day: used"
    );

    set_registered_at(&world, Some(now - UNCHECKED_CLIENT_MAX_AGE_MS - 1));
    start(&world, &options(true));
    assert_eq!(
        world.idp.count(Endpoint::Registration),
        2,
        "a day old: registered again"
    );
    let kept = world.store.get_now(&kept_client()).expect("a kept client");
    assert!(kept.contains(&format!(
        "\"{}\"",
        world.field("clientId").unwrap_or_default()
    )));

    // A registration time a day ahead (a clock elsewhere) is no more trusted than a day behind.
    set_registered_at(&world, Some(now + UNCHECKED_CLIENT_MAX_AGE_MS + 1));
    start(&world, &options(true));
    assert_eq!(world.idp.count(Endpoint::Registration), 3);

    // A kept record written before registration times were kept has no age to go by.
    set_registered_at(&world, None);
    let redirect = world.idp.authorize(&start(&world, &options(true)));
    assert_eq!(world.idp.count(Endpoint::Registration), 4);
    assert!(finish(&world, &redirect).is_ok());
}

#[test]
fn with_pushed_requests_a_kept_client_is_used_whatever_its_age() {
    let world = pushing_world();
    log_in_with(&world, &options(true));
    set_registered_at(&world, Some(1));
    start(&world, &options(true));
    set_registered_at(&world, None);
    start(&world, &options(true));
    assert_eq!(world.idp.count(Endpoint::Registration), 1);
}

#[test]
fn a_login_with_a_dynamic_client_resumed_from_its_state_alone_is_refused_at_once() {
    for pushing in [PushedRequests::Off, PushedRequests::Taken] {
        let world = World::new();
        world.idp.settings().pushed_requests = pushing;
        let request = start_request(&world, &options(true));
        let redirect = world.idp.authorize(&request.url);
        let mut resumed = ResumedRequest {
            state: request.state,
            code_verifier: request.code_verifier,
            issuer: request.issuer,
            redirect_url: REDIRECT_URL.to_owned(),
            dpop: true,
            client_id: request.client_id.clone(),
            client_secret: None,
        };
        let (store, caches) = (MemoryStorage::new(), Caches::default());
        let seen = world.idp.seen().len();
        let refused = block_on(authorization_code::resume(
            &world.idp,
            &store,
            &caches,
            "session-2",
            &resumed,
        ));
        let Err(error) = refused else {
            panic!("the state was taken")
        };
        assert!(matches!(error, Error::Configuration { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains(&request.client_id), "{message}");
        assert!(
            message.contains("registered that client dynamically"),
            "{message}"
        );
        assert!(message.contains("secret"), "{message}");
        assert!(store.is_empty(), "nothing written");
        assert_eq!(world.idp.seen().len(), seen, "no request made");

        // With the secret the app can add, the login finishes there.
        resumed.client_secret = world.field("clientSecret").map(crate::secret::Secret::new);
        let finished = block_on(async {
            let host = world.host();
            authorization_code::resume(&host, &store, &caches, "session-2", &resumed).await?;
            let check = crate::protocol::webid_profile::WebIdCheck::Verify;
            authorization_code::finish(&host, &store, &caches, &redirect, true, check).await
        });
        let Ok(finished) = finished else {
            panic!("{pushing:?}: the login did not finish")
        };
        assert_eq!(finished.restored.credentials.web_id, WEB_ID);
    }
}

#[test]
fn only_a_login_with_a_dynamic_client_has_a_state_that_says_so() {
    let world = pushing_world();
    let dynamic = start_request(&world, &options(true));
    assert!(dynamic.state.starts_with("dyn."), "{}", dynamic.state);
    let document = AuthorizationLogin {
        client_id: Some("https://app.example/id".to_owned()),
        ..options(true)
    };
    world.idp.add_client("static-app", None);
    let public_static = AuthorizationLogin {
        client_id: Some("static-app".to_owned()),
        ..options(true)
    };
    for login in [document, public_static] {
        let state = start_request(&world, &login).state;
        assert!(state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(state.len(), 43);
    }
}
