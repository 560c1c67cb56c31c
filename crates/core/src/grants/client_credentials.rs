//! The client-credentials grant (RFC 6749 §4.4), as Solid servers use it: a confidential client
//! logs itself in as the WebID its credentials belong to.

use crate::error::Result;
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::claims;
use crate::protocol::credentials::Credentials;
use crate::protocol::discovery::IssuerMetadata;
use crate::protocol::dpop::DpopKey;
use crate::protocol::token::{self, ClientAuth};
use crate::secret::Secret;
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
}

/// Logs the client in. Discovery is stored as the reference stores it, on every login; what a
/// later restore needs to log the client in again is stored by the caller
/// (`refresh::store_client_credentials_login`).
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
    let auth = ClientAuth::for_provider(
        &metadata.token_endpoint_auth_methods_supported,
        client_id,
        Some(client_secret),
    );
    let endpoint = metadata.token_endpoint.as_str();
    let tokens = token::request_with_key(
        http,
        endpoint,
        &[("grant_type", "client_credentials"), ("scope", SCOPES)],
        &auth,
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
