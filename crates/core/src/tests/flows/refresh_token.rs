//! A login with a refresh token the app holds (`login({ refreshToken, clientId, ... })`): the
//! refresh-token grant at once, then the restores and refreshes of any session.

use super::{is_refusal, Flow, World, SESSION};
use crate::error::Result;
use crate::grants::refresh_token::RefreshTokenLogin;
use crate::protocol::caches::Caches;
use crate::protocol::dpop::DpopKey;
use crate::protocol::webid_profile::WebIdCheck;
use crate::restore::Renewal;
use crate::secret::Secret;
use crate::session::field;
use crate::session::Restored;
use crate::tests::support::block_on;
use crate::tests::support::fake_idp::{Refreshes, ISSUER};

const CLIENT_ID: &str = "app";
const CLIENT_SECRET: &str = "app-secret";

/// What `logInWithRefreshToken` does, for `client_id` with `client_secret`, presenting
/// `refresh_token` with the DPoP key `key` when given (a new one otherwise).
fn log_in_with(
    world: &World,
    client: (&str, Option<&str>),
    refresh_token: &str,
    key: Option<&DpopKey>,
) -> Result<Restored> {
    let login = RefreshTokenLogin {
        issuer: ISSUER.to_owned(),
        client_id: client.0.to_owned(),
        client_secret: client.1.map(Secret::new),
        refresh_token: Secret::new(refresh_token),
        dpop: true,
        key: key.map(|k| {
            (
                k.public_jwk_json(),
                k.private_jwk_json().expose().to_owned(),
            )
        }),
        webid_check: WebIdCheck::Verify,
    };
    let storage = &*world.store;
    block_on(async {
        let restored = crate::grants::refresh_token::log_in(
            &world.host(),
            storage,
            &world.caches,
            SESSION,
            &login,
        )
        .await?;
        crate::storage::registry::confirm_registered(storage, SESSION).await?;
        Ok(restored)
    })
}

/// A confidential client's refresh token from an earlier login.
fn log_in_returning_the_token(world: &World) -> (String, Restored) {
    world.idp.add_client(CLIENT_ID, Some(CLIENT_SECRET));
    let token = world.idp.mint_refresh_token(CLIENT_ID, None);
    let restored = log_in_with(world, (CLIENT_ID, Some(CLIENT_SECRET)), &token, None);
    (token, restored.expect("the login succeeds"))
}

pub(super) fn log_in(world: &World) {
    log_in_returning_the_token(world);
}

const FLOW: Flow = Flow::refreshing(log_in);

shared_scenarios!(FLOW);

#[test]
fn a_login_refreshes_at_once_and_stores_the_rotated_token_in_place_of_the_given_one() {
    let world = World::new();
    let (given, restored) = log_in_returning_the_token(&world);
    assert_eq!(world.grants("refresh_token"), 1);
    let stored = world.field("refreshToken").expect("a refresh token");
    assert_ne!(stored, given);
    assert!(!world.idp.is_live(&given) && world.idp.is_live(&stored));
    assert_eq!(
        restored.new_refresh_token.as_ref().map(Secret::expose),
        Some(stored.as_str())
    );
    assert_eq!(
        world.field(field::ACCESS_TOKEN).as_deref(),
        Some(restored.credentials.access_token.expose())
    );
    assert!(world.is_listed());
}

#[test]
fn a_login_with_a_refused_refresh_token_keeps_the_good_one_stored() {
    let world = World::new();
    log_in(&world);
    let good = world.field("refreshToken");
    let error = log_in_with(&world, (CLIENT_ID, Some(CLIENT_SECRET)), "rt-stolen", None)
        .expect_err("refused");
    assert!(is_refusal(&error, "invalid_grant"), "{error}");
    assert_eq!(world.field("refreshToken"), good);
}

#[test]
fn a_public_clients_refresh_token_is_presented_with_the_key_it_is_bound_to() {
    // A Solid-OIDC Client ID document: a public client, whose refresh tokens are bound to the
    // DPoP key they were issued to (RFC 9449 §5).
    let client = ("https://app.example/id", None);
    let key = DpopKey::generate().unwrap();
    let world = World::new();
    let token = world
        .idp
        .mint_refresh_token(client.0, Some(&key.thumbprint()));
    log_in_with(&world, client, &token, Some(&key)).expect("presented with its key");
    assert_eq!(world.field("publicKey"), Some(key.public_jwk_json()));

    let world = World::new();
    let token = world
        .idp
        .mint_refresh_token(client.0, Some(&key.thumbprint()));
    let error = log_in_with(&world, client, &token, None)
        .expect_err("a new key is not the one it is bound to");
    assert!(is_refusal(&error, "invalid_grant"), "{error}");
}

#[test]
fn a_provider_that_does_not_rotate_leaves_the_refresh_token_in_place() {
    let world = World::with_due_tokens();
    world.idp.settings().refreshes = Refreshes::Kept;
    log_in(&world);
    let kept = world.field("refreshToken").expect("a refresh token");
    let restored = world.restored(Renewal::IfDue);
    assert_eq!(world.field("refreshToken").as_deref(), Some(kept.as_str()));
    // The reference fires newRefreshToken with the same token.
    assert_eq!(
        restored.new_refresh_token.as_ref().map(Secret::expose),
        Some(kept.as_str())
    );
}

#[test]
fn a_renewal_takes_the_token_another_process_stored_and_refreshes_its_own_otherwise() {
    let world = World::new();
    log_in(&world);
    let held = world.restored(Renewal::IfDue).credentials.access_token;
    let refreshes = world.grants("refresh_token");
    // Another process refreshes meanwhile (`refreshSession`), with caches of its own.
    let elsewhere = block_on(crate::restore::restore(
        &world.idp,
        &*world.store,
        &Caches::default(),
        SESSION,
        Renewal::Always,
        crate::protocol::webid_profile::WebIdCheck::Verify,
    ));
    let theirs = super::restored(elsewhere).credentials.access_token;
    assert_eq!(world.grants("refresh_token"), refreshes + 1);
    // This process's timer says its token is due: it takes theirs, and sends nothing.
    let renewed = world.restored(Renewal::Replacing(held)).credentials;
    assert_eq!(renewed.access_token.expose(), theirs.expose());
    assert_eq!(world.grants("refresh_token"), refreshes + 1);
    // The stored token is the one held: nobody renewed it, so this renewal refreshes.
    world.restored(Renewal::Replacing(theirs));
    assert_eq!(world.grants("refresh_token"), refreshes + 2);
}
