//! The client-credentials grant (RFC 6749 §4.4), as Solid servers use it: a confidential client
//! logs itself in as the WebID its credentials belong to, once that WebID's profile is found to
//! name the provider (unless the login turned the check off).

use crate::error::Result;
use crate::grants::webid_check::verified_issuer;
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::claims;
use crate::protocol::credentials::Credentials;
use crate::protocol::discovery::IssuerMetadata;
use crate::protocol::dpop::DpopKey;
use crate::protocol::token;
use crate::protocol::webid_profile::WebIdCheck;
use crate::secret::Secret;
use crate::session::SessionRecord;
use crate::storage::multi_session::{remember_static_client, store_login};
use crate::storage::{issuer_config_key, Storage};

/// The scopes the reference asks for.
pub const SCOPES: &str = "openid offline_access webid";

/// What the caller gives.
pub struct ClientCredentialsLogin {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Ask for a DPoP-bound token (the default) rather than a Bearer one.
    pub dpop: bool,
    /// Whether the WebID's profile must name the provider.
    pub webid_check: WebIdCheck,
}

/// Logs session `id` in as the client: stores the client as the reference does (the session
/// listed, the client in its record), makes the grant, checks the WebID's profile, and stores
/// what a later restore needs to log the client in again. A refused check stores no token.
pub async fn log_in_session(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    id: &str,
    login: &ClientCredentialsLogin,
) -> Result<Credentials> {
    let client_id = login.client_id.as_str();
    let secret = login.client_secret.expose();
    remember_static_client(storage, id, client_id, secret).await?;
    let credentials = log_in(http, storage, caches, login).await?;
    let verified = verified_issuer(http, storage, caches, login.webid_check, &credentials).await?;
    // The client again, for a record a clear deleted meanwhile: written again whole.
    store_login(storage, id, |record| {
        record.store_static_client(client_id, secret);
        record.store_client_credentials_login(&credentials);
        record.set_web_id_verified_issuer(verified.as_deref());
    })
    .await?;
    Ok(credentials)
}

/// A restore of a session of a static client with a secret, no redirect URL and no refresh
/// token: the client logs in again. `None` for any other session. The record is written only
/// once the grant has succeeded, so a restore that fails leaves storage as it was.
///
/// A record marked as verified for its issuer whose WebID the new tokens name again needs no
/// profile request (a restore must not cost one); any other is checked as a login is, unless
/// `webid_check` is off.
#[allow(
    clippy::too_many_arguments,
    reason = "the values are what the restore has read from the record, and its option"
)]
pub async fn log_in_again(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    record: &mut SessionRecord,
    issuer: &str,
    stored_key: Option<DpopKey>,
    dpop: bool,
    webid_check: WebIdCheck,
) -> Result<Option<Credentials>> {
    let (Some("static"), Some(client_id), Some(secret), None) = (
        record.client_type()?,
        record.client_id()?,
        record.client_secret()?,
        record.redirect_url()?,
    ) else {
        return Ok(None);
    };
    let (client_id, secret) = (client_id.to_owned(), Secret::new(secret));
    let found = caches.discovery.discover(http, issuer).await?;
    let dpop_key = match (dpop, stored_key) {
        (false, _) => None,
        (true, Some(k)) => Some(k),
        (true, None) => Some(DpopKey::generate()?),
    };
    let credentials = grant(http, caches, &found.metadata, &client_id, &secret, dpop_key).await?;
    let verified_before =
        record.web_id_verified()? && record.web_id()? == Some(credentials.web_id.as_str());
    let verified = if verified_before {
        None
    } else {
        Some(verified_issuer(http, storage, caches, webid_check, &credentials).await?)
    };
    found.record_if_fetched(storage, issuer).await?;
    record.store_client_credentials_login(&credentials);
    if let Some(verified) = verified {
        record.set_web_id_verified_issuer(verified.as_deref());
    }
    record.write(storage).await?;
    Ok(Some(credentials))
}

/// Discovers the issuer, stores discovery as the reference stores it (on every login), and
/// makes the grant.
pub async fn log_in(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    login: &ClientCredentialsLogin,
) -> Result<Credentials> {
    let found = caches.discovery.discover(http, &login.issuer).await?;
    // The reference writes it on every login; so does this, from the cache when it can.
    storage
        .set(&issuer_config_key(&login.issuer), &found.record)
        .await?;
    let key = if login.dpop {
        Some(DpopKey::generate()?)
    } else {
        None
    };
    grant(
        http,
        caches,
        &found.metadata,
        &login.client_id,
        &login.client_secret,
        key,
    )
    .await
}

/// The grant itself, with `key` for a DPoP-bound token (`None`: Bearer).
pub async fn grant(
    http: &dyn Http,
    caches: &Caches,
    metadata: &IssuerMetadata,
    client_id: &str,
    client_secret: &Secret,
    key: Option<DpopKey>,
) -> Result<Credentials> {
    let tokens = token::request_for_client(
        http,
        metadata,
        client_id,
        Some(client_secret),
        &[("grant_type", "client_credentials"), ("scope", SCOPES)],
        key.as_ref(),
        &caches.token_nonces,
    )
    .await?;
    // A provider without DPoP answers with a Bearer token: the key then has nothing to bind.
    claims::credentials_from_grant(
        http,
        &caches.jwks,
        metadata,
        tokens,
        key,
        client_id.to_owned(),
    )
    .await
}
