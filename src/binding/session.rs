//! A logged-in session's credentials as a JS object, and the logins that make them.

use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::errors::throw;
use super::operation::{start, Outcome};
use super::storage::NativeStorage;
use crate::grants::client_credentials::{self, ClientCredentialsLogin};
use crate::protocol::caches::Caches;
use crate::protocol::credentials::Credentials;
use crate::protocol::token::NonceCache;
use crate::restore::Renewal;
use crate::secret::Secret;

thread_local! {
    /// Per Node environment (each has its own thread): discovered metadata, key sets, and the
    /// latest DPoP nonces of token endpoints and of resource servers.
    static CACHES: Caches = Caches::default();
    static RESOURCE_NONCES: Rc<NonceCache> = Rc::default();
}

/// This environment's caches, for an operation to own.
pub(super) fn caches() -> Caches {
    CACHES.with(Caches::clone)
}

/// A session's tokens and DPoP key. They stay in Rust: JS gets the headers for a request.
#[napi]
pub struct SessionCredentials {
    inner: Credentials,
}

/// A session's tokens: to JS for the `newTokens` event (only when someone listens), and from JS
/// for `Session.fromTokens` and `refreshTokens` (the DPoP key exported from the app's
/// `CryptoKey` by the JS layer).
#[napi(object)]
pub struct TokenSetParts {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub web_id: String,
    /// Seconds since the epoch.
    pub expires_at: Option<f64>,
    pub client_id: String,
    pub issuer: String,
    /// The DPoP key as the reference stores it (JWK JSON), when the token is DPoP-bound.
    pub public_jwk: Option<String>,
    pub private_jwk: Option<String>,
}

/// The headers that authenticate one request.
#[napi(object, object_from_js = false)]
pub struct RequestAuthHeaders {
    pub authorization: String,
    pub dpop: Option<String>,
}

#[napi]
impl SessionCredentials {
    #[napi(getter)]
    pub fn web_id(&self) -> String {
        self.inner.web_id.clone()
    }

    #[napi(getter)]
    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    #[napi(getter)]
    pub fn client_id(&self) -> String {
        self.inner.client_id.clone()
    }

    /// The ID token of the last login or refresh, for an IdP logout's `id_token_hint`.
    #[napi(getter)]
    pub fn id_token(&self) -> Option<String> {
        self.inner.id_token.as_ref().map(|t| t.expose().to_owned())
    }

    /// `"DPoP"` or `"Bearer"`.
    #[napi(getter)]
    pub fn token_type(&self) -> String {
        self.inner.token_type().as_str().to_owned()
    }

    /// When the access token expires, in milliseconds since the epoch, if the provider said.
    #[napi(getter)]
    #[allow(
        clippy::cast_precision_loss,
        reason = "milliseconds since the epoch stay far below 2^53"
    )]
    pub fn expires_at(&self) -> Option<f64> {
        self.inner.expires_at_ms.map(|ms| ms as f64)
    }

    /// When the access token is due for renewal, in milliseconds since the epoch: the core's
    /// one rule (a minute before expiry, or a fifth of the lifetime when that is shorter).
    #[napi(getter)]
    #[allow(
        clippy::cast_precision_loss,
        reason = "milliseconds since the epoch stay far below 2^53"
    )]
    pub fn renew_at(&self) -> Option<f64> {
        self.inner.renewal_due_at_ms().map(|ms| ms as f64)
    }

    /// The headers for a request: `Authorization`, and a fresh `DPoP` proof for DPoP tokens.
    #[napi(catch_unwind)]
    pub fn headers_for(&self, env: Env, method: String, url: String) -> Result<RequestAuthHeaders> {
        let nonces = RESOURCE_NONCES.with(Rc::clone);
        let headers = self
            .inner
            .headers_for(&method, &url, &nonces)
            .map_err(|e| throw(env, &e))?;
        Ok(RequestAuthHeaders {
            authorization: headers.authorization.expose().to_owned(),
            dpop: headers.dpop,
        })
    }

    /// The tokens themselves, for the `newTokens` event (the JS layer asks only when the app
    /// listens for it).
    #[napi(catch_unwind)]
    #[allow(
        clippy::cast_precision_loss,
        reason = "seconds since the epoch stay far below 2^53"
    )]
    pub fn token_set(&self) -> TokenSetParts {
        let c = &self.inner;
        TokenSetParts {
            access_token: c.access_token.expose().to_owned(),
            id_token: c.id_token.as_ref().map(|t| t.expose().to_owned()),
            refresh_token: c.refresh_token.as_ref().map(|t| t.expose().to_owned()),
            web_id: c.web_id.clone(),
            expires_at: c.expires_at_ms.map(|ms| (ms / 1000) as f64),
            client_id: c.client_id.clone(),
            issuer: c.issuer.clone(),
            public_jwk: c
                .dpop_key
                .as_ref()
                .map(crate::protocol::dpop::DpopKey::public_jwk_json),
            private_jwk: c
                .dpop_key
                .as_ref()
                .map(|k| k.private_jwk_json().expose().to_owned()),
        }
    }

    /// Notes the `DPoP-Nonce` a resource server sent, for the next proofs to its origin.
    #[napi(catch_unwind)]
    pub fn remember_nonce(&self, url: String, nonce: String) {
        RESOURCE_NONCES.with(|nonces| nonces.set(&url, &nonce));
    }
}

/// A restored session: what `getSessionFromStorage` needs to build a `Session`. Without
/// `credentials`, storage holds the session but nothing to log it in with.
#[napi(object, object_from_js = false)]
pub struct RestoredSession {
    pub credentials: Option<SessionCredentials>,
    /// The WebID: the credentials' own when there are some. With `expires_at`, what the
    /// `Session` needs of its credentials, here so that it need not ask them.
    pub web_id: Option<String>,
    /// When the access token expires, in milliseconds since the epoch, if the provider said
    /// (the credentials' `expiresAt`).
    pub expires_at: Option<f64>,
    /// When the access token is due for renewal (ms since the epoch; the credentials'
    /// `renewAt`).
    pub renew_at: Option<f64>,
    pub client_app_id: Option<String>,
    pub keep_alive: bool,
    /// The refresh token the provider returned, when the restore refreshed: for the
    /// `newRefreshToken` event the caller asked for, and nothing else.
    pub new_refresh_token: Option<String>,
    /// The refreshed record could not be stored (the credentials are good, and the only good
    /// ones): the error's code, message and key, for the caller to reject with after adopting
    /// the credentials.
    pub not_stored: Option<NotStored>,
}

/// A storage error that did not stop a refresh from succeeding.
#[napi(object, object_from_js = false)]
pub struct NotStored {
    pub code: String,
    /// The JS class to build (see `errors::js_kind`).
    pub kind: Option<String>,
    pub message: String,
    pub key: Option<String>,
}

impl From<crate::session::Restored> for RestoredSession {
    #[allow(
        clippy::cast_precision_loss,
        reason = "milliseconds since the epoch stay far below 2^53"
    )]
    fn from(r: crate::session::Restored) -> Self {
        Self {
            web_id: Some(r.credentials.web_id.clone()),
            expires_at: r.credentials.expires_at_ms.map(|ms| ms as f64),
            renew_at: r.credentials.renewal_due_at_ms().map(|ms| ms as f64),
            credentials: Some(SessionCredentials {
                inner: r.credentials,
            }),
            client_app_id: r.client_app_id,
            keep_alive: r.keep_alive,
            new_refresh_token: r.new_refresh_token.map(|t| t.expose().to_owned()),
            not_stored: r.not_stored.map(|e| {
                let (code, kind) = super::errors::js_kind(&e);
                NotStored {
                    code: code.to_owned(),
                    kind: kind.map(str::to_owned),
                    message: e.to_string(),
                    key: e.key().map(str::to_owned),
                }
            }),
        }
    }
}

impl From<crate::restore::Restore> for RestoredSession {
    fn from(r: crate::restore::Restore) -> Self {
        match r {
            crate::restore::Restore::Restored(restored) => (*restored).into(),
            crate::restore::Restore::LoggedOut {
                web_id,
                client_app_id,
                keep_alive,
            } => Self {
                credentials: None,
                web_id,
                expires_at: None,
                renew_at: None,
                client_app_id,
                keep_alive,
                new_refresh_token: None,
                not_stored: None,
            },
        }
    }
}

/// Restores a stored session with the access token it stored while that has more than a minute
/// to live, or else through its refresh token or client credentials (`force` always renews).
/// `null` when storage holds no session under `sessionId`; without `credentials` when it holds
/// one that cannot be logged in again.
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
) -> Result<Outcome> {
    let caches = caches();
    start(env, storage, parent, move |s, http| async move {
        let renewal = if force {
            Renewal::Always
        } else {
            Renewal::IfDue
        };
        let restored = crate::restore::restore(&*http, &*s, &caches, &session_id, renewal).await?;
        Ok(restored.map(RestoredSession::from))
    })
}

/// What `login({ refreshToken, clientId, clientSecret?, oidcIssuer, tokenType })` gives the
/// native side.
#[napi(object, object_to_js = false)]
pub struct RefreshTokenOptions {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub refresh_token: String,
    pub dpop: bool,
    /// The key the refresh token is bound to, as the reference stores it (for `refreshTokens`).
    pub public_jwk: Option<String>,
    pub private_jwk: Option<String>,
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
    let caches = caches();
    let login = crate::grants::refresh_token::RefreshTokenLogin {
        issuer: options.issuer,
        client_id: options.client_id,
        client_secret: options.client_secret.map(Secret::new),
        refresh_token: Secret::new(options.refresh_token),
        dpop: options.dpop,
        key: options.public_jwk.zip(options.private_jwk),
    };
    start(env, storage, parent, move |s, http| async move {
        let r =
            crate::grants::refresh_token::log_in(&*http, &*s, &caches, &session_id, &login).await?;
        Ok(RestoredSession::from(r))
    })
}

/// What `login({ clientId, clientSecret, oidcIssuer, tokenType })` gives the native side.
#[napi(object, object_to_js = false)]
pub struct ClientCredentialsOptions {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Ask for a DPoP-bound token (the default) rather than a Bearer one.
    pub dpop: bool,
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
    };
    start(env, storage, parent, move |s, http| async move {
        let inner =
            client_credentials::log_in_session(&*http, &*s, &caches, &session_id, &login).await?;
        Ok(SessionCredentials { inner })
    })
}

/// What `login({ oidcIssuer, redirectUrl, ... })` gives the native side.
#[napi(object, object_to_js = false)]
pub struct AuthorizationOptions {
    pub issuer: String,
    pub redirect_url: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_name: Option<String>,
    pub custom_scopes: Option<Vec<String>>,
    pub prompt: Option<String>,
    pub dpop: bool,
    pub keep_alive: bool,
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
    with_code_verifier: bool,
) -> Result<Outcome> {
    let caches = caches();
    let login = crate::grants::authorization_code::AuthorizationLogin {
        issuer: options.issuer,
        redirect_url: options.redirect_url,
        client_id: options.client_id,
        client_secret: options.client_secret.map(Secret::new),
        client_name: options.client_name,
        custom_scopes: options.custom_scopes.unwrap_or_default(),
        prompt: options.prompt,
        dpop: options.dpop,
        keep_alive: options.keep_alive,
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

/// A login started elsewhere (`Session.fromAuthorizationRequestState`).
#[napi(object, object_to_js = false)]
pub struct ResumedAuthorization {
    pub state: String,
    pub code_verifier: String,
    pub issuer: String,
    pub redirect_url: String,
    pub dpop: bool,
    pub client_id: String,
    pub client_secret: Option<String>,
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
    let caches = caches();
    let request = crate::grants::authorization_code::ResumedRequest {
        state: request.state,
        code_verifier: Secret::new(request.code_verifier),
        issuer: request.issuer,
        redirect_url: request.redirect_url,
        dpop: request.dpop,
        client_id: request.client_id,
        client_secret: request.client_secret.map(Secret::new),
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
) -> Result<Outcome> {
    let caches = caches();
    start(env, storage, parent, move |s, http| async move {
        let finished =
            crate::grants::authorization_code::finish(&*http, &*s, &caches, &url, require_iss)
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
            end_session_url: outcome.end_session_url,
            revoked: outcome.revoked,
        })
    })
}

#[napi]
impl SessionCredentials {
    /// Credentials from a token set the app holds. A DPoP key that is not a usable P-256 key is
    /// refused (it could not sign the proofs the token needs).
    #[napi(factory, catch_unwind)]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a timestamp in seconds, clamped to be non-negative and finite first"
    )]
    pub fn from_token_set(env: Env, tokens: TokenSetParts) -> Result<Self> {
        let dpop_key = match (&tokens.public_jwk, &tokens.private_jwk) {
            (Some(public), Some(private)) => Some(
                crate::protocol::dpop::DpopKey::from_stored(public, private)
                    .map_err(|e| throw(env, &e.into()))?,
            ),
            _ => None,
        };
        let expires_at_ms = tokens
            .expires_at
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s.min(1e12) as u64).saturating_mul(1000));
        Ok(Self {
            inner: Credentials {
                access_token: Secret::new(tokens.access_token),
                dpop_key,
                expires_at_ms,
                issued_at_ms: None,
                refresh_token: tokens.refresh_token.map(Secret::new),
                id_token: tokens.id_token.map(Secret::new),
                web_id: tokens.web_id,
                issuer: tokens.issuer,
                client_id: tokens.client_id,
                ath: std::cell::OnceCell::new(),
            },
        })
    }

    /// Renews these credentials, which their session's timer says are due, from the session
    /// stored under `sessionId`: with the access token stored there if it is another one (renewed
    /// meanwhile by another session or process) with enough life left, else by refreshing. What
    /// `restoreSession` gives.
    #[napi(
        catch_unwind,
        ts_return_type = "RestoredSession | null | PendingOperation"
    )]
    pub fn renew(
        &self,
        env: Env,
        storage: &NativeStorage,
        parent: Option<u32>,
        session_id: String,
    ) -> Result<Outcome> {
        let caches = caches();
        let renewal = Renewal::Replacing(self.inner.access_token.clone());
        start(env, storage, parent, move |s, http| async move {
            let restored =
                crate::restore::restore(&*http, &*s, &caches, &session_id, renewal).await?;
            Ok(restored.map(RestoredSession::from))
        })
    }
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
/// issuer, audience, lifetime).
#[napi(catch_unwind, ts_return_type = "CheckedIdToken | PendingOperation")]
pub fn check_id_token(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    issuer: String,
    client_id: String,
    id_token: String,
    post_logout_url: Option<String>,
) -> Result<Outcome> {
    let caches = caches();
    let end_session = crate::protocol::end_session::EndSession {
        id_token_hint: Secret::new(id_token),
        post_logout_redirect_uri: post_logout_url,
        state: None,
    };
    start(env, storage, parent, move |_, http| async move {
        let checked = crate::protocol::claims::check_held_id_token(
            &*http,
            &caches,
            &issuer,
            &client_id,
            &end_session,
        )
        .await?;
        Ok(CheckedIdToken {
            web_id: checked.web_id,
            end_session_url: checked.end_session_url,
        })
    })
}
