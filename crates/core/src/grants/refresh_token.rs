//! The refresh-token grant (RFC 6749 §6): new tokens for a session's refresh token, stored before
//! anyone learns of them; and the login of a session with a refresh token the caller holds, which
//! first checks that the WebID's profile names the provider (unless the login turned it off).
//!
//! An answer that holds a new refresh token has that token stored even when the rest of it is
//! refused (the old one may be spent); a provider that is down or refuses the token leaves the
//! record as it was.

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::grants::webid_check::verified_issuer;
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::claims;
use crate::protocol::credentials::Credentials;
use crate::protocol::dpop::DpopKey;
use crate::protocol::registration;
use crate::protocol::token;
use crate::protocol::webid_profile::WebIdCheck;
use crate::secret::Secret;
use crate::session::{self, Restored, SessionRecord};
use crate::storage::multi_session::update_record;
use crate::storage::registry;
use crate::storage::{issuer_config_key, record_key, Storage};

/// What `login({ refreshToken, clientId, clientSecret?, oidcIssuer })` gives.
pub struct RefreshTokenLogin {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub refresh_token: Secret,
    pub dpop: bool,
    /// A DPoP key to keep (its stored `publicKey` and `privateKey`): the one the refresh token
    /// is bound to, when the caller has it.
    pub key: Option<(String, String)>,
    /// Whether the WebID's profile must name the provider.
    pub webid_check: WebIdCheck,
}

/// Logs session `id` in with a refresh token the caller holds. Like the reference, it first
/// registers the session and stores its issuer and client; the given refresh token is stored
/// only once the provider has accepted it and the WebID's profile names the provider, so a bad
/// one never replaces a good stored one, and a refused login stores no token.
pub async fn log_in(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    id: &str,
    login: &RefreshTokenLogin,
) -> Result<Restored> {
    registry::register(storage, id).await?;
    update_record(storage, id, |record| {
        record.set_issuer(login.issuer.as_str());
        record.set_dpop(login.dpop);
        record.set_client_id(login.client_id.as_str());
        if let Some(secret) = &login.client_secret {
            record.set_client_secret(secret.expose());
            record.set_client_name(login.client_id.as_str());
        }
        if let Some((public, private)) = &login.key {
            record.set_stored_key(public, private);
        }
    })
    .await?;
    let key = record_key(id);
    let (guard, record) = session::open_locked(storage, &key).await?;
    let disappeared = || Error::InvalidRequest {
        reason: "the session record disappeared during the login".to_owned(),
    };
    let record = record.ok_or_else(disappeared)?;
    let issuer = record
        .issuer()?
        .map(str::to_owned)
        .ok_or_else(disappeared)?;
    let keep_alive = record.keep_alive()?;
    let client_app_id = record.client_app_id()?.map(str::to_owned);
    let dpop = record.dpop()?;
    let dpop_key = record.dpop_key()?;
    let (credentials, not_stored) = refresh_and_store_as(
        http,
        storage,
        caches,
        record,
        &issuer,
        dpop_key,
        dpop,
        Some(&login.refresh_token),
        Profile::Login(login.webid_check),
    )
    .await?;
    // A clear that ran meanwhile must not leave the record this wrote outside the list (after
    // the record's lock is let go: a clear holds the list's lock while it waits for the record's).
    drop(guard);
    registry::confirm_registered(storage, id).await?;
    Ok(Restored {
        new_refresh_token: credentials.refresh_token.clone(),
        credentials,
        keep_alive,
        client_app_id,
        not_stored,
    })
}

/// The refresh-token grant for the session in `record` (with `given` rather than its stored
/// refresh token, for a login), stored before anyone hears of it. The second value is why the
/// new record could not be stored, when it could not (see `session::store_answered`).
///
/// A refresh asks no WebID profile: a record this package logged in is marked as verified, and
/// keeps the mark while its tokens name the same WebID (`SessionRecord::store_credentials`).
#[allow(
    clippy::too_many_arguments,
    reason = "the values are what the restore or the login has read from the record"
)]
pub async fn refresh_and_store(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    record: SessionRecord,
    issuer: &str,
    dpop_key: Option<DpopKey>,
    dpop: bool,
    given: Option<&Secret>,
) -> Result<(Credentials, Option<Error>)> {
    refresh_and_store_as(
        http,
        storage,
        caches,
        record,
        issuer,
        dpop_key,
        dpop,
        given,
        Profile::AsMarked,
    )
    .await
}

/// What a refresh does about the WebID's profile.
#[derive(Clone, Copy)]
enum Profile {
    /// A session's renewal: the record's mark stays as it is.
    AsMarked,
    /// A login: the profile checked as it says, before anything is stored, and the record
    /// marked by the outcome.
    Login(WebIdCheck),
}

#[allow(
    clippy::too_many_arguments,
    reason = "the values are what the restore or the login has read from the record"
)]
async fn refresh_and_store_as(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    mut record: SessionRecord,
    issuer: &str,
    dpop_key: Option<DpopKey>,
    dpop: bool,
    given: Option<&Secret>,
    profile: Profile,
) -> Result<(Credentials, Option<Error>)> {
    let refreshed = match grant(http, caches, &record, issuer, dpop_key, dpop, given).await {
        Ok(refreshed) => refreshed,
        Err(token::Refused {
            error,
            new_refresh_token,
        }) => {
            registration::forget_if_refused(storage, &record, &error).await;
            if let Some(new_refresh_token) = new_refresh_token {
                // A provider that rotates has spent the old token: this is the only one left.
                // Nothing else of the refused answer is stored, and the caller hears the
                // refusal, which says more than a failed write would.
                record.set_refresh_token(new_refresh_token.expose());
                let _ = session::store_answered(storage, &record).await;
            }
            return Err(error);
        }
    };
    if let Profile::Login(webid_check) = profile {
        // Refused: nothing stored, not even a rotated refresh token, which would let a later
        // restore log in what this login refused.
        let credentials = &refreshed.credentials;
        let verified = verified_issuer(http, storage, caches, webid_check, credentials).await?;
        record.store_credentials(credentials, refreshed.new_key.as_ref());
        record.set_web_id_verified_issuer(verified.as_deref());
    } else {
        record.store_credentials(&refreshed.credentials, refreshed.new_key.as_ref());
    }
    let not_stored = session::store_answered(storage, &record).await?;
    if not_stored.is_none() {
        if let Some(config) = &refreshed.issuer_config {
            // Best effort: the reference writes it but never reads it back.
            let _ = storage.set(&issuer_config_key(issuer), config).await;
        }
    }
    Ok((refreshed.credentials, not_stored))
}

/// What a successful refresh grant gave, before it is stored.
struct Refreshed {
    credentials: Credentials,
    /// A key made for this refresh (none was stored), to store.
    new_key: Option<DpopKey>,
    /// The discovery record, when discovery was fetched for this refresh (stored only once the
    /// refresh has succeeded, so that a failed one changes nothing).
    issuer_config: Option<Rc<str>>,
}

/// The grant for the session in `record`, and the checks on what it returns.
async fn grant(
    http: &dyn Http,
    caches: &Caches,
    record: &SessionRecord,
    issuer: &str,
    stored_key: Option<DpopKey>,
    dpop: bool,
    given: Option<&Secret>,
) -> Result<Refreshed, token::Refused> {
    let stored_refresh_token = record.refresh_token()?.map(Secret::new);
    let refresh_token =
        given
            .cloned()
            .or(stored_refresh_token)
            .ok_or_else(|| Error::InvalidRequest {
                reason: "the session has no refresh token to refresh its access token with"
                    .to_owned(),
            })?;
    let client_id = record
        .client_id()?
        .map(str::to_owned)
        .ok_or_else(|| Error::corrupted(record.key(), "it has a refresh token but no clientId"))?;
    let client_secret = record.client_secret()?.map(Secret::new);

    let found = caches.discovery.discover(http, issuer).await?;
    let metadata = &found.metadata;
    // The reference makes a key when none is stored, and forgets it; this one is kept.
    let new_key = if dpop && stored_key.is_none() {
        Some(DpopKey::generate().map_err(Error::from)?)
    } else {
        None
    };
    let dpop_key = stored_key.or_else(|| new_key.clone()).filter(|_| dpop);
    let tokens = token::request_for_client(
        http,
        metadata,
        &client_id,
        client_secret.as_ref(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ],
        dpop_key.as_ref(),
        &caches.token_nonces,
    )
    .await?;
    let new_refresh_token = tokens.refresh_token.clone();
    let mut credentials =
        claims::credentials_from_grant(http, &caches.jwks, metadata, tokens, dpop_key, client_id)
            .await
            .map_err(|error| token::Refused {
                error,
                new_refresh_token,
            })?;
    // A provider that does not rotate sends no refresh token: the one it took stays good.
    credentials.refresh_token = credentials.refresh_token.or(Some(refresh_token));
    Ok(Refreshed {
        credentials,
        new_key,
        issuer_config: found.fetched.then(|| found.record.clone()),
    })
}
