//! The operations on a session: the logins that make its credentials, its restore, its logout,
//! and the check of an ID token the app holds.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::caches::caches;
use super::credentials::{RestoredSession, SessionCredentials};
use super::host_values::Outcome;
use super::operation::start;
use super::options::{
    invalid_argument, optional_text, required_text, text, webid_check, Property, Strings,
};
use super::storage::NativeStorage;
use crate::grants::client_credentials::{self, ClientCredentialsLogin};
use crate::protocol::webid_profile::WebIdCheck;
use crate::restore::Renewal;
use crate::secret::Secret;

/// Whether a login asks for a DPoP-bound token: unless its `tokenType` is `"Bearer"` (the JS
/// layer refuses any other than that and `"DPoP"`).
fn dpop(token_type: Option<&Property>) -> bool {
    !matches!(token_type, Some(Property::Text(t)) if t == "Bearer")
}

/// Restores a stored session with the access token it stored while that has more than a minute
/// to live, or else through its refresh token or client credentials (`force` always renews).
/// `null` when storage holds no session under `sessionId`; without `credentials` when it holds
/// one that cannot be logged in again. Joins a restore of the same kind under way on the store.
/// `verifyWebIdIssuer: false` skips the check of a record not marked as verified.
#[napi(
    catch_unwind,
    ts_return_type = "RestoredSession | null | PendingOperation"
)]
pub fn restore_session(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    session_id: String,
    force: bool,
    verify_web_id_issuer: Option<bool>,
) -> Result<Outcome> {
    let caches = caches();
    let in_flight = storage.restores();
    let check = WebIdCheck::from_option(verify_web_id_issuer);
    start(env, storage, parent, move |s, http| async move {
        let renewal = if force {
            Renewal::Always
        } else {
            Renewal::IfDue
        };
        let restore = in_flight.restore(&*http, &*s, &caches, &session_id, renewal, check);
        Ok(restore.await?.map(RestoredSession::from))
    })
}

/// `login({ oidcIssuer, refreshToken, clientId, clientSecret?, tokenType? })`, or
/// `refreshTokens`' token set with its DPoP key.
#[napi(object, object_to_js = false)]
pub struct RefreshTokenOptions {
    pub oidc_issuer: String,
    #[napi(ts_type = "unknown")]
    pub client_id: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub client_secret: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub refresh_token: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub token_type: Option<Property>,
    /// The key the refresh token is bound to, as the reference stores it (for `refreshTokens`).
    pub public_jwk: Option<String>,
    pub private_jwk: Option<String>,
    /// `false` turns off the check that the WebID's profile names the provider.
    #[napi(ts_type = "unknown")]
    pub verify_web_id_issuer: Option<Property>,
}

/// Logs a session in with a refresh token the caller holds.
#[napi(catch_unwind, ts_return_type = "RestoredSession | PendingOperation")]
pub fn log_in_with_refresh_token(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    session_id: String,
    options: RefreshTokenOptions,
) -> Result<Outcome> {
    let refresh_token = required_text(
        env,
        options.refresh_token,
        "refreshToken must be a non-empty string",
    )?;
    let Some(Property::Text(client_id)) = options.client_id else {
        return Err(invalid_argument(
            env,
            "A login with a refresh token needs the clientId it was issued to",
        ));
    };
    let client_secret = optional_text(env, options.client_secret, "clientSecret must be a string")?;
    let caches = caches();
    let login = crate::grants::refresh_token::RefreshTokenLogin {
        issuer: options.oidc_issuer,
        client_id,
        client_secret: client_secret.map(Secret::new),
        refresh_token: Secret::new(refresh_token),
        dpop: dpop(options.token_type.as_ref()),
        key: options.public_jwk.zip(options.private_jwk),
        webid_check: webid_check(options.verify_web_id_issuer),
    };
    start(env, storage, parent, move |s, http| async move {
        let r =
            crate::grants::refresh_token::log_in(&*http, &*s, &caches, &session_id, &login).await?;
        Ok(RestoredSession::from(r))
    })
}

/// What `login({ clientId, clientSecret, oidcIssuer, tokenType })` gives the native side (the
/// form `keep-alive.test.js` and the benchmark call directly).
#[napi(object, object_to_js = false)]
pub struct ClientCredentialsOptions {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Ask for a DPoP-bound token (the default) rather than a Bearer one.
    pub dpop: bool,
    /// `false` turns off the check that the WebID's profile names the provider.
    pub verify_web_id_issuer: Option<bool>,
}

/// Logs a session in with client credentials: stores the client as the reference does, then
/// discovers the issuer and makes the grant.
#[napi(catch_unwind, ts_return_type = "SessionCredentials | PendingOperation")]
pub fn log_in_with_client_credentials(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    session_id: String,
    options: ClientCredentialsOptions,
) -> Result<Outcome> {
    let caches = caches();
    let login = ClientCredentialsLogin {
        issuer: options.issuer,
        client_id: options.client_id,
        client_secret: Secret::new(options.client_secret),
        dpop: options.dpop,
        webid_check: WebIdCheck::from_option(options.verify_web_id_issuer),
    };
    start(env, storage, parent, move |s, http| async move {
        let inner =
            client_credentials::log_in_session(&*http, &*s, &caches, &session_id, &login).await?;
        Ok(SessionCredentials { inner })
    })
}

/// `login({ oidcIssuer, webId, redirectUrl, ... })`. Options of another type than the reference
/// reads are ignored, as it ignores them.
#[napi(object, object_to_js = false)]
pub struct AuthorizationOptions {
    /// Without it (or empty), the provider the profile of `webId` names.
    #[napi(ts_type = "unknown")]
    pub oidc_issuer: Option<Property>,
    /// A login by WebID.
    #[napi(ts_type = "unknown")]
    pub web_id: Option<Property>,
    /// `false` turns off the check that `oidcIssuer` is one the profile of `webId` names.
    #[napi(ts_type = "unknown")]
    pub verify_web_id_issuer: Option<Property>,
    pub redirect_url: String,
    #[napi(ts_type = "unknown")]
    pub client_id: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub client_secret: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub client_name: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub custom_scopes: Option<Strings>,
    #[napi(ts_type = "unknown")]
    pub prompt: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub token_type: Option<Property>,
}

/// Where to send the user, and what the `authorizationRequest` event carries.
#[napi(object, object_from_js = false)]
pub struct AuthorizationRequestInfo {
    pub url: String,
    pub state: String,
    pub issuer: String,
    pub client_id: String,
    /// Only when asked for: it is secret until the code is exchanged.
    pub code_verifier: Option<String>,
}

/// Starts an authorization-code login: the URL to send the user to.
#[napi(
    catch_unwind,
    ts_return_type = "AuthorizationRequestInfo | PendingOperation"
)]
pub fn start_authorization(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    session_id: String,
    options: AuthorizationOptions,
    keep_alive: bool,
    with_code_verifier: bool,
) -> Result<Outcome> {
    let caches = caches();
    let client_id = text(options.client_id);
    let login = crate::grants::authorization_code::AuthorizationLogin {
        issuer: text(options.oidc_issuer).filter(|issuer| !issuer.is_empty()),
        web_id: text(options.web_id).filter(|web_id| !web_id.is_empty()),
        webid_check: webid_check(options.verify_web_id_issuer),
        redirect_url: options.redirect_url,
        // A client with no name of its own registers under its ID, as in the reference.
        client_name: text(options.client_name).or_else(|| client_id.clone()),
        client_id,
        client_secret: text(options.client_secret).map(Secret::new),
        custom_scopes: options.custom_scopes.map(|s| s.0).unwrap_or_default(),
        prompt: text(options.prompt),
        dpop: dpop(options.token_type.as_ref()),
        keep_alive,
    };
    start(env, storage, parent, move |s, http| async move {
        let request =
            crate::grants::authorization_code::start(&*http, &*s, &caches, &session_id, &login)
                .await?;
        Ok(AuthorizationRequestInfo {
            url: request.url,
            state: request.state,
            issuer: request.issuer,
            client_id: request.client_id,
            code_verifier: with_code_verifier.then(|| request.code_verifier.expose().to_owned()),
        })
    })
}

/// A login started elsewhere: the `authorizationRequest` event's payload, as the app kept it
/// (`Session.fromAuthorizationRequestState`).
#[napi(object, object_to_js = false)]
pub struct ResumedAuthorization {
    #[napi(ts_type = "unknown")]
    pub state: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub code_verifier: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub issuer: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub redirect_url: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub client_id: Option<Property>,
    #[napi(ts_type = "unknown")]
    pub client_secret: Option<Property>,
    /// False for a Bearer token; anything else means DPoP.
    #[napi(ts_type = "unknown")]
    pub dpop_bound: Option<Property>,
}

/// Writes what finishing a login started elsewhere needs into `storage`.
#[napi(catch_unwind, ts_return_type = "undefined | PendingOperation")]
pub fn resume_authorization(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    session_id: String,
    request: ResumedAuthorization,
) -> Result<Outcome> {
    let field = |option, name| {
        let message = format!("The authorization request state has no {name} (a non-empty string)");
        required_text(env, option, &message)
    };
    let state = field(request.state, "state")?;
    let code_verifier = field(request.code_verifier, "codeVerifier")?;
    let issuer = field(request.issuer, "issuer")?;
    let redirect_url = field(request.redirect_url, "redirectUrl")?;
    let client_id = field(request.client_id, "clientId")?;
    let client_secret = optional_text(env, request.client_secret, "clientSecret must be a string")?;
    let caches = caches();
    let request = crate::grants::authorization_code::ResumedRequest {
        state,
        code_verifier: Secret::new(code_verifier),
        issuer,
        redirect_url,
        dpop: !matches!(request.dpop_bound, Some(Property::Bool(false))),
        client_id,
        client_secret: client_secret.map(Secret::new),
    };
    start(env, storage, parent, move |s, http| async move {
        crate::grants::authorization_code::resume(&*http, &*s, &caches, &session_id, &request).await
    })
}

/// A finished authorization-code login.
#[napi(object, object_from_js = false)]
pub struct FinishedLogin {
    pub session_id: String,
    pub restored: RestoredSession,
}

/// Finishes an authorization-code login from the URL the provider redirected to.
#[napi(catch_unwind, ts_return_type = "FinishedLogin | PendingOperation")]
pub fn finish_authorization(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    url: String,
    require_iss: bool,
    verify_web_id_issuer: Option<bool>,
) -> Result<Outcome> {
    let caches = caches();
    let check = WebIdCheck::from_option(verify_web_id_issuer);
    start(env, storage, parent, move |s, http| async move {
        let finished = crate::grants::authorization_code::finish(
            &*http,
            &*s,
            &caches,
            &url,
            require_iss,
            check,
        )
        .await?;
        Ok(FinishedLogin {
            session_id: finished.session_id,
            restored: RestoredSession::from(finished.restored),
        })
    })
}

/// What a logout did: where to send the user for an IdP logout, and whether the provider
/// revoked the refresh token.
#[napi(object, object_from_js = false)]
pub struct LogoutOutcome {
    pub end_session_url: Option<String>,
    pub revoked: bool,
}

/// An IdP logout's parameters (`logout({ logoutType: 'idp', postLogoutUrl, state })`).
#[napi(object, object_to_js = false)]
pub struct EndSessionOptions {
    pub id_token_hint: String,
    pub post_logout_url: Option<String>,
    pub state: Option<String>,
}

/// Forgets a session in storage and revokes its refresh token at the provider, best effort.
/// `issuer` is the one of the session in memory, for a session storage no longer holds;
/// `endSession` asks for the URL of the provider's end-session endpoint (an IdP logout).
#[napi(catch_unwind, ts_return_type = "LogoutOutcome | PendingOperation")]
pub fn log_out(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    session_id: String,
    issuer: Option<String>,
    end_session: Option<EndSessionOptions>,
) -> Result<Outcome> {
    let caches = caches();
    let end_session = end_session.map(|o| crate::protocol::end_session::EndSession {
        id_token_hint: Secret::new(o.id_token_hint),
        post_logout_redirect_uri: o.post_logout_url,
        state: o.state,
    });
    start(env, storage, parent, move |s, http| async move {
        let outcome = crate::logout::log_out(
            &*http,
            &*s,
            &caches,
            &session_id,
            issuer.as_deref(),
            end_session.as_ref(),
        )
        .await?;
        Ok(LogoutOutcome {
            end_session_url: outcome.end_session_url.map(|url| url.expose().to_owned()),
            revoked: outcome.revoked,
        })
    })
}

/// What an ID token the app holds says, once checked.
#[napi(object, object_from_js = false)]
pub struct CheckedIdToken {
    pub web_id: String,
    /// Where to send the user to log out of the provider with this ID token (and
    /// `postLogoutUrl`), when the provider has an end-session endpoint.
    pub end_session_url: Option<String>,
}

/// Checks an ID token issued to `clientId` by `issuer` (signature with the provider's keys,
/// issuer, audience, lifetime), and that its WebID's profile names the provider unless
/// `verifyWebIdIssuer` is `false` (an IdP logout's check passes `false`).
#[napi(catch_unwind, ts_return_type = "CheckedIdToken | PendingOperation")]
#[allow(
    clippy::too_many_arguments,
    reason = "a napi entry point: the arguments are what JS passes, positionally"
)]
pub fn check_id_token(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    issuer: String,
    client_id: String,
    id_token: String,
    post_logout_url: Option<String>,
    verify_web_id_issuer: Option<bool>,
) -> Result<Outcome> {
    let caches = caches();
    let check = WebIdCheck::from_option(verify_web_id_issuer);
    let end_session = crate::protocol::end_session::EndSession {
        id_token_hint: Secret::new(id_token),
        post_logout_redirect_uri: post_logout_url,
        state: None,
    };
    start(env, storage, parent, move |s, http| async move {
        let checked = crate::protocol::claims::check_held_id_token(
            &*http,
            &caches,
            s.now_ms(),
            &issuer,
            &client_id,
            &end_session,
            check,
        )
        .await?;
        Ok(CheckedIdToken {
            web_id: checked.web_id,
            end_session_url: checked.end_session_url.map(|url| url.expose().to_owned()),
        })
    })
}
