//! A logged-in session's credentials as a JS object (the tokens and the DPoP key stay in Rust;
//! JS gets the headers for a request), and a restored session as JS receives it.

use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::caches::caches;
use super::errors::throw;
use super::host_values::Outcome;
use super::operation::start;
use super::storage::NativeStorage;
use crate::protocol::credentials::{Credentials, ProofJob};
use crate::protocol::token::NonceCache;
use crate::restore::Renewal;
use crate::secret::Secret;
use crate::session::timer::{SessionTimer, TimerAction};

thread_local! {
    /// Per Node environment (each has its own thread): the latest DPoP nonces of resource
    /// servers.
    static RESOURCE_NONCES: Rc<NonceCache> = Rc::default();
}

/// A session's tokens and DPoP key. They stay in Rust: JS gets the headers for a request.
#[napi]
pub struct SessionCredentials {
    pub(super) inner: Credentials,
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

/// When a session's background timer fires (ms from now), and whether it then refreshes the
/// session (else the session expires).
#[napi(object, object_from_js = false)]
pub struct TimerPlan {
    pub delay_ms: f64,
    pub refresh: bool,
}

impl From<crate::session::timer::TimerPlan> for TimerPlan {
    #[allow(
        clippy::cast_precision_loss,
        reason = "delays in milliseconds stay far below 2^53"
    )]
    fn from(plan: crate::session::timer::TimerPlan) -> Self {
        Self {
            delay_ms: plan.delay_ms as f64,
            refresh: plan.action == TimerAction::Refresh,
        }
    }
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

    /// The background timer of a session holding these credentials, from now: `keepAlive`, and
    /// whether storage can renew them (`renewable`), for a first try; after failed refreshes in
    /// a row, the backoff. `null` when the token does not expire.
    #[napi(catch_unwind)]
    pub fn timer_plan(
        &self,
        keep_alive: bool,
        renewable: bool,
        failed_refreshes: u32,
    ) -> Option<TimerPlan> {
        SessionTimer::of(&self.inner, keep_alive, renewable, failed_refreshes)
            .plan()
            .map(TimerPlan::from)
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

    /// `headersFor`, with the DPoP proof signed on libuv's thread pool: the JS thread is spared
    /// the signature, most of a DPoP request's cost, when it has other requests to serve. Bad
    /// input throws here, as in `headersFor`; the Promise only carries the signing.
    #[napi(catch_unwind, ts_return_type = "Promise<RequestAuthHeaders>")]
    pub fn headers_off_thread(
        &self,
        env: Env,
        method: String,
        url: String,
    ) -> Result<AsyncTask<SignProof>> {
        let nonces = RESOURCE_NONCES.with(Rc::clone);
        let (authorization, proof) = self
            .inner
            .prepare_headers(&method, &url, &nonces)
            .map_err(|e| throw(env, &e))?;
        Ok(AsyncTask::new(SignProof {
            authorization,
            proof,
        }))
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

/// The signing of one DPoP proof, on libuv's thread pool (see `headersOffThread`).
pub struct SignProof {
    authorization: Secret,
    proof: Option<ProofJob>,
}

impl Task for SignProof {
    type Output = Option<String>;
    type JsValue = RequestAuthHeaders;

    fn compute(&mut self) -> Result<Option<String>> {
        // The only failure left once the claims are set: the signature itself, whose error
        // says nothing of the key.
        self.proof
            .take()
            .map(ProofJob::sign)
            .transpose()
            .map_err(|e| Error::from_reason(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, dpop: Option<String>) -> Result<RequestAuthHeaders> {
        Ok(RequestAuthHeaders {
            authorization: self.authorization.expose().to_owned(),
            dpop,
        })
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
    /// The session's background timer, as `credentials.timerPlan(keepAlive, true, 0)` would
    /// plan it now: for a `Session` kept alive as the record says, at no extra native call.
    pub timer: Option<TimerPlan>,
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
            timer: SessionTimer::of(&r.credentials, r.keep_alive, true, 0)
                .plan()
                .map(TimerPlan::from),
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
                timer: None,
                client_app_id,
                keep_alive,
                new_refresh_token: None,
                not_stored: None,
            },
        }
    }
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
    /// `restoreSession` gives. Joins a renewal of the same session under way on the store.
    /// `verifyWebIdIssuer` as for `restoreSession`.
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
        verify_web_id_issuer: Option<bool>,
    ) -> Result<Outcome> {
        let caches = caches();
        let in_flight = storage.restores();
        let renewal = Renewal::Replacing(self.inner.access_token.clone());
        let check = crate::protocol::webid_profile::WebIdCheck::from_option(verify_web_id_issuer);
        start(env, storage, parent, move |s, http| async move {
            let restore = in_flight.restore(&*http, &*s, &caches, &session_id, renewal, check);
            Ok(restore.await?.map(RestoredSession::from))
        })
    }
}
