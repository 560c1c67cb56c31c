//! The WebID check at the end of every grant that logs in (issue 16): the profile of the WebID
//! the tokens name must list the provider as `solid:oidcIssuer`, or the login fails and stores
//! nothing as logged in; a verified login marks the record (`webIdVerifiedIssuer`). Also the
//! login by WebID (`authorization_code::start` without an issuer) and the check of an ID token
//! the app holds (`Session.fromTokens`).

use super::{restored, World, REDIRECT_URL, SESSION};
use crate::error::{Error, Result};
use crate::grants::authorization_code::{self, AuthorizationLogin};
use crate::grants::client_credentials::{self, ClientCredentialsLogin};
use crate::grants::refresh_token::{self, RefreshTokenLogin};
use crate::protocol::caches::Caches;
use crate::protocol::end_session::EndSession;
use crate::protocol::webid_profile::{WebIdCheck, WebIdError};
use crate::restore::{Renewal, Restore};
use crate::secret::Secret;
use crate::session::field;
use crate::storage::{issuer_config_key, record_key, REGISTERED_SESSIONS_KEY};
use crate::tests::support::block_on;
use crate::tests::support::fake_idp::{Endpoint, ISSUER, WEB_ID};
use crate::tests::support::profiles::{document_of, Answer};

/// A provider the fake provider's WebID may name instead of it.
const OTHER_IDP: &str = "https://other-idp.example/";
const CLIENT_ID: &str = "robot";
const CLIENT_SECRET: &str = "robot-secret";

/// A grant's login of `SESSION`, in two parts: everything before its last step (which gives
/// what that step needs: the redirect, for the authorization code), and the last step, which
/// ends logged in or refused.
#[derive(Clone, Copy)]
struct Grant {
    name: &'static str,
    prepare: fn(&World) -> Option<String>,
    last: fn(&World, Option<&str>, WebIdCheck) -> Result<()>,
}

impl Grant {
    fn log_in(self, world: &World, check: WebIdCheck) -> Result<()> {
        let prepared = (self.prepare)(world);
        (self.last)(world, prepared.as_deref(), check)
    }
}

fn authorization_login(issuer: Option<&str>, web_id: Option<&str>) -> AuthorizationLogin {
    AuthorizationLogin {
        issuer: issuer.map(str::to_owned),
        web_id: web_id.map(str::to_owned),
        webid_check: WebIdCheck::Verify,
        redirect_url: REDIRECT_URL.to_owned(),
        client_id: None,
        client_secret: None,
        client_name: None,
        custom_scopes: Vec::new(),
        prompt: None,
        dpop: true,
        keep_alive: true,
    }
}

fn start(world: &World, login: &AuthorizationLogin) -> Result<String> {
    let host = world.host();
    let request = block_on(authorization_code::start(
        &host,
        &*world.store,
        &world.caches,
        SESSION,
        login,
    ))?;
    Ok(request.url)
}

fn finish(world: &World, redirect: &str, check: WebIdCheck) -> Result<()> {
    let host = world.host();
    block_on(authorization_code::finish(
        &host,
        &*world.store,
        &world.caches,
        redirect,
        true,
        check,
    ))
    .map(drop)
}

const AUTHORIZATION_CODE: Grant = Grant {
    name: "authorization code",
    prepare: |world| {
        let url = start(world, &authorization_login(Some(ISSUER), None)).expect("started");
        Some(world.idp.authorize(&url))
    },
    last: |world, redirect, check| finish(world, redirect.expect("a redirect"), check),
};

fn client_credentials_login(world: &World, check: WebIdCheck) -> Result<()> {
    world.idp.add_client(CLIENT_ID, Some(CLIENT_SECRET));
    let login = ClientCredentialsLogin {
        issuer: ISSUER.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
        dpop: true,
        webid_check: check,
    };
    let host = world.host();
    block_on(client_credentials::log_in_session(
        &host,
        &*world.store,
        &world.caches,
        SESSION,
        &login,
    ))
    .map(drop)
}

const CLIENT_CREDENTIALS: Grant = Grant {
    name: "client credentials",
    prepare: |_| None,
    last: |world, _, check| client_credentials_login(world, check),
};

const REFRESH_TOKEN: Grant = Grant {
    name: "refresh token",
    prepare: |_| None,
    last: |world, _, check| {
        world.idp.add_client(CLIENT_ID, Some(CLIENT_SECRET));
        let login = RefreshTokenLogin {
            issuer: ISSUER.to_owned(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: Some(Secret::new(CLIENT_SECRET)),
            refresh_token: Secret::new(world.idp.mint_refresh_token(CLIENT_ID, None)),
            dpop: true,
            key: None,
            webid_check: check,
        };
        let host = world.host();
        block_on(refresh_token::log_in(
            &host,
            &*world.store,
            &world.caches,
            SESSION,
            &login,
        ))
        .map(drop)
    },
};

const GRANTS: [Grant; 3] = [AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN];

/// Every key a login writes, and what each holds.
fn snapshot(world: &World) -> Vec<(String, Option<String>)> {
    let mut keys = vec![
        record_key(SESSION),
        REGISTERED_SESSIONS_KEY.to_owned(),
        issuer_config_key(ISSUER),
    ];
    let states = world.field(field::AUTHORIZATION_STATES).unwrap_or_default();
    let states: Vec<String> = serde_json::from_str(&states).unwrap_or_default();
    keys.extend(states.iter().map(|state| record_key(state)));
    keys.into_iter()
        .map(|key| {
            let value = world.store.get_now(&key);
            (key, value)
        })
        .collect()
}

/// Whether the session record holds anything of a logged-in session.
fn holds_a_login(world: &World) -> bool {
    [
        field::IS_LOGGED_IN,
        field::ACCESS_TOKEN,
        field::REFRESH_TOKEN,
        field::WEB_ID,
        field::ID_TOKEN,
        field::WEB_ID_VERIFIED_ISSUER,
    ]
    .iter()
    .any(|name| world.field(name).is_some())
}

fn assert_mismatch(error: &Error, grant: &str) {
    let Error::WebId(WebIdError::IssuerMismatch {
        webid,
        issuer,
        listed,
    }) = error
    else {
        panic!("{grant}: {error}")
    };
    assert_eq!(webid, WEB_ID, "{grant}");
    assert_eq!(issuer, ISSUER, "{grant}");
    assert_eq!(listed, &[OTHER_IDP.to_owned()], "{grant}");
    let message = error.to_string();
    assert!(
        message.contains(WEB_ID) && message.contains(ISSUER) && message.contains(OTHER_IDP),
        "{grant}: {message}"
    );
}

#[test]
fn a_webid_whose_profile_names_the_provider_logs_in_and_the_record_is_marked() {
    for grant in GRANTS {
        let world = World::new();
        grant
            .log_in(&world, WebIdCheck::Verify)
            .unwrap_or_else(|e| panic!("{}: {e}", grant.name));
        assert_eq!(
            world.field(field::WEB_ID_VERIFIED_ISSUER).as_deref(),
            Some(ISSUER),
            "{}",
            grant.name
        );
        assert_eq!(world.field(field::WEB_ID).as_deref(), Some(WEB_ID));
        assert_eq!(world.profile_requests(WEB_ID), 1, "{}", grant.name);
        // The profile request is a plain GET: nothing of the login goes with it.
        let request = &world.profiles.seen()[0];
        assert_eq!(request.method, "GET");
        assert!(
            request.headers.iter().all(|(name, _)| name == "accept"),
            "{:?}",
            request.headers
        );
    }
}

#[test]
fn a_second_login_within_the_cache_lifetime_sends_no_profile_request() {
    for grant in GRANTS {
        let world = World::new();
        grant.log_in(&world, WebIdCheck::Verify).unwrap();
        grant.log_in(&world, WebIdCheck::Verify).unwrap();
        assert_eq!(world.profile_requests(WEB_ID), 1, "{}", grant.name);
        assert_eq!(
            world.field(field::WEB_ID_VERIFIED_ISSUER).as_deref(),
            Some(ISSUER)
        );
    }
}

#[test]
fn a_profile_that_names_another_provider_refuses_the_login_and_stores_nothing_as_logged_in() {
    for grant in GRANTS {
        let world = World::new();
        world.profiles.serve_turtle(WEB_ID, &[OTHER_IDP]);
        let error = grant.log_in(&world, WebIdCheck::Verify).unwrap_err();
        assert_mismatch(&error, grant.name);
        assert!(!holds_a_login(&world), "{}", grant.name);
    }
}

#[test]
fn a_refused_login_leaves_storage_byte_for_byte_as_before_its_last_step() {
    for grant in GRANTS {
        let mut world = World::new();
        grant.log_in(&world, WebIdCheck::Verify).unwrap();
        // The provider dropped from the profile since, and a process that has not verified it.
        world.profiles.serve_turtle(WEB_ID, &[OTHER_IDP]);
        world.caches = Caches::default();
        let prepared = (grant.prepare)(&world);
        let before = snapshot(&world);
        let tokens_before = world.idp.count(Endpoint::Token);
        let error = (grant.last)(&world, prepared.as_deref(), WebIdCheck::Verify).unwrap_err();
        assert_mismatch(&error, grant.name);
        assert_eq!(snapshot(&world), before, "{}", grant.name);
        assert_eq!(world.idp.count(Endpoint::Token), tokens_before + 1);
        // The record is still the first login's: a restore hands back its tokens.
        assert!(matches!(
            world.restore(Renewal::IfDue),
            Ok(Some(Restore::Restored(_)))
        ));
    }
}

#[test]
fn a_profile_out_of_reach_fails_the_login_closed() {
    for answer in [
        Answer::Status(404),
        Answer::Unreachable,
        Answer::TimedOut(3500),
    ] {
        for grant in GRANTS {
            let world = World::new();
            world.profiles.answer(document_of(WEB_ID), answer.clone());
            let error = grant.log_in(&world, WebIdCheck::Verify).unwrap_err();
            let Error::WebId(WebIdError::Profile { webid, .. }) = &error else {
                panic!("{} {answer:?}: {error}", grant.name)
            };
            assert_eq!(webid, WEB_ID);
            assert!(!holds_a_login(&world), "{} {answer:?}", grant.name);
        }
    }
}

#[test]
fn with_the_check_off_no_profile_is_asked_and_the_record_is_not_marked() {
    for grant in GRANTS {
        let world = World::new();
        world.profiles.serve_turtle(WEB_ID, &[OTHER_IDP]);
        grant
            .log_in(&world, WebIdCheck::Skip)
            .unwrap_or_else(|e| panic!("{}: {e}", grant.name));
        assert!(world.profiles.seen().is_empty(), "{}", grant.name);
        assert_eq!(world.field(field::WEB_ID).as_deref(), Some(WEB_ID));
        assert_eq!(world.field(field::WEB_ID_VERIFIED_ISSUER), None);

        // A login with the check off over a verified record takes its mark away.
        world.profiles.serve_turtle(WEB_ID, &[ISSUER]);
        grant.log_in(&world, WebIdCheck::Verify).unwrap();
        assert!(world.field(field::WEB_ID_VERIFIED_ISSUER).is_some());
        grant.log_in(&world, WebIdCheck::Skip).unwrap();
        assert_eq!(
            world.field(field::WEB_ID_VERIFIED_ISSUER),
            None,
            "{}",
            grant.name
        );
    }
}

#[test]
fn a_refresh_of_a_marked_record_asks_no_profile_and_keeps_the_mark() {
    for grant in [AUTHORIZATION_CODE, REFRESH_TOKEN] {
        let mut world = World::with_due_tokens();
        grant.log_in(&world, WebIdCheck::Verify).unwrap();
        world.caches = Caches::default();
        let refreshes = world.grants("refresh_token");
        restored(world.restore(Renewal::IfDue));
        assert_eq!(world.grants("refresh_token"), refreshes + 1);
        assert_eq!(world.profile_requests(WEB_ID), 1, "{}", grant.name);
        assert_eq!(
            world.field(field::WEB_ID_VERIFIED_ISSUER).as_deref(),
            Some(ISSUER)
        );
    }
}

/// A record not marked as verified (the reference's, or one logged in with the check off) is
/// checked by the restore: a refresh then stores the mark with the new tokens; a stored access
/// token used as is writes nothing, and the WebID cache answers the next restores.
#[test]
fn a_restore_of_an_unmarked_record_checks_it_and_a_refresh_marks_it() {
    for grant in [AUTHORIZATION_CODE, REFRESH_TOKEN] {
        let mut world = World::with_due_tokens();
        grant.log_in(&world, WebIdCheck::Skip).unwrap();
        assert_eq!(world.field(field::WEB_ID_VERIFIED_ISSUER), None);
        world.caches = Caches::default();
        restored(world.restore(Renewal::IfDue));
        assert_eq!(world.profile_requests(WEB_ID), 1, "{}", grant.name);
        assert_eq!(
            world.field(field::WEB_ID_VERIFIED_ISSUER).as_deref(),
            Some(ISSUER),
            "{}",
            grant.name
        );
        // Marked now: another process's restore asks nothing.
        world.caches = Caches::default();
        restored(world.restore(Renewal::Always));
        assert_eq!(world.profile_requests(WEB_ID), 1, "{}", grant.name);
    }
}

#[test]
fn a_restore_of_an_unmarked_record_whose_profile_names_another_provider_is_refused_and_changes_nothing(
) {
    let mut world = World::with_due_tokens();
    REFRESH_TOKEN.log_in(&world, WebIdCheck::Skip).unwrap();
    world.profiles.serve_turtle(WEB_ID, &[OTHER_IDP]);
    world.caches = Caches::default();
    let before = snapshot(&world);
    let refreshes = world.grants("refresh_token");
    let error = world.restore(Renewal::IfDue).unwrap_err();
    assert_mismatch(&error, "restore");
    assert_eq!(snapshot(&world), before);
    assert_eq!(world.grants("refresh_token"), refreshes);
    // With the check off, as `verifyWebIdIssuer: false` passes it, the restore asks nothing.
    restored(world.restore_checked(Renewal::IfDue, WebIdCheck::Skip));
    assert_eq!(world.grants("refresh_token"), refreshes + 1);
    assert_eq!(world.field(field::WEB_ID_VERIFIED_ISSUER), None);
}

/// A client-credentials session's restore logs the client in again (it has no refresh token).
#[test]
fn a_client_credentials_re_login_of_a_marked_record_asks_no_profile() {
    let mut world = World::with_due_tokens();
    CLIENT_CREDENTIALS
        .log_in(&world, WebIdCheck::Verify)
        .unwrap();
    // Another process's caches: nothing verified in them.
    world.caches = Caches::default();
    for _ in 0..3 {
        restored(world.restore(Renewal::IfDue));
    }
    assert_eq!(world.grants("client_credentials"), 4);
    assert_eq!(world.profile_requests(WEB_ID), 1);
    assert_eq!(
        world.field(field::WEB_ID_VERIFIED_ISSUER).as_deref(),
        Some(ISSUER)
    );
}

#[test]
fn a_client_credentials_re_login_of_an_unmarked_record_checks_once_and_marks_it() {
    let mut world = World::with_due_tokens();
    CLIENT_CREDENTIALS.log_in(&world, WebIdCheck::Skip).unwrap();
    world.caches = Caches::default();
    restored(world.restore(Renewal::IfDue));
    assert_eq!(world.profile_requests(WEB_ID), 1);
    assert_eq!(
        world.field(field::WEB_ID_VERIFIED_ISSUER).as_deref(),
        Some(ISSUER)
    );
    world.caches = Caches::default();
    restored(world.restore(Renewal::IfDue));
    assert_eq!(world.profile_requests(WEB_ID), 1);
}

#[test]
fn a_client_credentials_re_login_refused_by_the_profile_leaves_the_record_byte_for_byte() {
    let world = World::with_due_tokens();
    CLIENT_CREDENTIALS.log_in(&world, WebIdCheck::Skip).unwrap();
    world.profiles.serve_turtle(WEB_ID, &[OTHER_IDP]);
    let before = snapshot(&world);
    let error = world.restore(Renewal::IfDue).unwrap_err();
    assert_mismatch(&error, "re-login");
    assert_eq!(snapshot(&world), before);
    assert_eq!(world.grants("client_credentials"), 2);

    // With the option off, as the restore will pass it, the re-login asks nothing.
    let host = world.host();
    let relogin = block_on(async {
        let mut record = crate::session::SessionRecord::read(&*world.store, &record_key(SESSION))
            .await?
            .expect("a record");
        let key = record.dpop_key()?;
        client_credentials::log_in_again(
            &host,
            &*world.store,
            &world.caches,
            &mut record,
            ISSUER,
            key,
            true,
            WebIdCheck::Skip,
        )
        .await
    });
    assert!(matches!(relogin, Ok(Some(_))));
    assert_eq!(world.profile_requests(WEB_ID), 1);
    assert_eq!(world.field(field::WEB_ID_VERIFIED_ISSUER), None);
}

/// `Session.fromTokens`: an ID token the app kept, checked with the provider's keys and, unless
/// turned off, against the WebID's profile. An IdP logout checks the same token with it off.
#[test]
fn an_id_token_the_app_holds_is_checked_against_the_profile_unless_turned_off() {
    let world = World::new();
    AUTHORIZATION_CODE
        .log_in(&world, WebIdCheck::Verify)
        .unwrap();
    let id_token = world.field(field::ID_TOKEN).expect("an ID token");
    let client_id = world.field(field::CLIENT_ID).expect("a client");
    let check = |caches: &Caches, webid_check| {
        let end_session = EndSession {
            id_token_hint: Secret::new(id_token.clone()),
            post_logout_redirect_uri: None,
            state: None,
        };
        block_on(crate::protocol::claims::check_held_id_token(
            &world.host(),
            caches,
            crate::clock::now_ms(),
            ISSUER,
            &client_id,
            &end_session,
            webid_check,
        ))
    };
    let caches = Caches::default();
    let checked = check(&caches, WebIdCheck::Verify).expect("the token checks out");
    assert_eq!(checked.web_id, WEB_ID);
    assert_eq!(world.profile_requests(WEB_ID), 2);

    world.profiles.serve_turtle(WEB_ID, &[OTHER_IDP]);
    let error = check(&Caches::default(), WebIdCheck::Verify).unwrap_err();
    assert_mismatch(&error, "fromTokens");
    assert!(!error.to_string().contains(&id_token));

    let checked = check(&Caches::default(), WebIdCheck::Skip).expect("not asked");
    assert_eq!(checked.web_id, WEB_ID);
    assert_eq!(world.profile_requests(WEB_ID), 3);
}

/// Starts a login by WebID: its URL, or why it did not start.
fn start_by_webid(world: &World, issuer: Option<&str>) -> Result<String> {
    start(world, &authorization_login(issuer, Some(WEB_ID)))
}

#[test]
fn a_login_by_webid_goes_to_the_one_provider_its_profile_names_and_reads_it_once() {
    let world = World::new();
    let url = start_by_webid(&world, None).expect("started");
    assert!(url.starts_with(ISSUER), "{url}");
    assert_eq!(world.field(field::ISSUER).as_deref(), Some(ISSUER));
    finish(&world, &world.idp.authorize(&url), WebIdCheck::Verify).expect("logged in");
    assert_eq!(
        world.field(field::WEB_ID_VERIFIED_ISSUER).as_deref(),
        Some(ISSUER)
    );
    assert_eq!(world.profile_requests(WEB_ID), 1);
}

#[test]
fn a_login_by_webid_whose_profile_names_two_providers_needs_the_issuer() {
    let world = World::new();
    world.profiles.serve_turtle(WEB_ID, &[OTHER_IDP, ISSUER]);
    let error = start_by_webid(&world, None).unwrap_err();
    let Error::WebId(WebIdError::IssuerChoice { webid, listed }) = &error else {
        panic!("{error}")
    };
    assert_eq!(webid, WEB_ID);
    assert_eq!(listed, &[OTHER_IDP.to_owned(), ISSUER.to_owned()]);
    let message = error.to_string();
    assert!(
        message.contains(OTHER_IDP) && message.contains(ISSUER) && message.contains("oidcIssuer"),
        "{message}"
    );
    // Nothing written, nothing asked of any provider.
    assert!(world.store.is_empty());
    assert!(world.idp.seen().is_empty());

    // Named, it is one of them: the login goes there, and ends verified with no second request.
    let url = start_by_webid(&world, Some(ISSUER)).expect("started");
    finish(&world, &world.idp.authorize(&url), WebIdCheck::Verify).expect("logged in");
    assert_eq!(world.profile_requests(WEB_ID), 1);
    assert_eq!(
        world.field(field::WEB_ID_VERIFIED_ISSUER).as_deref(),
        Some(ISSUER)
    );
}

#[test]
fn a_login_by_webid_with_an_issuer_its_profile_does_not_name_is_refused() {
    let world = World::new();
    world.profiles.serve_turtle(WEB_ID, &[OTHER_IDP]);
    let error = start_by_webid(&world, Some(ISSUER)).unwrap_err();
    assert_mismatch(&error, "login by WebID");
    assert!(world.store.is_empty());
    assert!(world.idp.seen().is_empty());

    // With the check off the WebID is no constraint on the issuer given: nothing is asked.
    let login = AuthorizationLogin {
        webid_check: WebIdCheck::Skip,
        ..authorization_login(Some(ISSUER), Some(WEB_ID))
    };
    start(&world, &login).expect("started");
    assert_eq!(world.profile_requests(WEB_ID), 1);
}

#[test]
fn a_login_by_webid_whose_profile_names_no_provider_is_refused() {
    let world = World::new();
    world.profiles.serve_turtle(WEB_ID, &[]);
    let error = start_by_webid(&world, None).unwrap_err();
    assert!(
        matches!(&error, Error::WebId(WebIdError::NoIssuer { webid }) if webid == WEB_ID),
        "{error}"
    );
    assert!(error.to_string().contains(WEB_ID));
    assert!(world.store.is_empty());

    // Neither an issuer nor a WebID: nothing to log in with.
    let error = start(&world, &authorization_login(None, None)).unwrap_err();
    assert!(matches!(error, Error::Configuration { .. }), "{error}");
    assert_eq!(world.idp.count(Endpoint::Discovery), 0);
}
