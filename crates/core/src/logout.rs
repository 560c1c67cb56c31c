//! Logging a session out: its records go, and its refresh token is revoked at the provider
//! (RFC 7009) when the provider has a revocation endpoint. The reference never revokes: a
//! refresh token it "logged out" stays usable until it expires. An IdP logout also gets the URL
//! of the provider's end-session endpoint to send the user to (RP-initiated logout).

use crate::error::Result;
use crate::http::{Http, HttpRequest};
use crate::protocol::caches::Caches;
use crate::protocol::end_session::{end_session_url, EndSession};
use crate::protocol::token::ClientAuth;
use crate::secret::Secret;
use crate::session::SessionRecord;
use crate::storage::multi_session::forget_session;
use crate::storage::Storage;

/// What a logout did.
#[derive(Debug, Default)]
pub struct LoggedOut {
    /// Where to send the user for an IdP logout: the provider's end-session endpoint with its
    /// parameters; `None` when it was not asked for or the provider has no such endpoint.
    pub end_session_url: Option<Secret>,
    /// Whether the provider took the refresh token back.
    pub revoked: bool,
}

/// Forgets session `id` in storage, then revokes its refresh token. Revocation is best effort:
/// a provider that cannot be reached or refuses does not make the logout fail (the session is
/// gone from storage either way). The provider is asked for nothing unless there is a refresh
/// token to revoke or `end_session` (an IdP logout) is asked for.
pub async fn log_out(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    id: &str,
    fallback_issuer: Option<&str>,
    end_session: Option<&EndSession>,
) -> Result<LoggedOut> {
    // A corrupted record is deleted all the same; there is just nothing to revoke.
    let record = forget_session(storage, id).await?;
    let field = |read: fn(&SessionRecord) -> Result<Option<&str>>| {
        record
            .as_ref()
            .and_then(|r| read(r).ok().flatten().map(str::to_owned))
    };
    if field(SessionRecord::refresh_token).is_none() && end_session.is_none() {
        return Ok(LoggedOut::default());
    }
    let Some(issuer) = field(SessionRecord::issuer).or_else(|| fallback_issuer.map(str::to_owned))
    else {
        return Ok(LoggedOut::default());
    };
    let Ok(found) = caches.discovery.discover(http, &issuer).await else {
        return Ok(LoggedOut::default());
    };
    let metadata = &found.metadata;
    let mut outcome = LoggedOut {
        end_session_url: match (&metadata.end_session_endpoint, end_session) {
            (Some(endpoint), Some(end_session)) => Some(end_session_url(endpoint, end_session)?),
            _ => None,
        },
        revoked: false,
    };
    let (Some(endpoint), Some(token), Some(client_id)) = (
        &metadata.revocation_endpoint,
        field(SessionRecord::refresh_token).map(Secret::new),
        field(SessionRecord::client_id),
    ) else {
        return Ok(outcome);
    };
    let secret = field(SessionRecord::client_secret).map(Secret::new);
    let auth = ClientAuth::for_provider(
        &metadata.token_endpoint_auth_methods_supported,
        &client_id,
        secret.as_ref(),
    );
    let mut form: Vec<(&str, &str)> = vec![
        ("token", token.expose()),
        ("token_type_hint", "refresh_token"),
    ];
    let request_auth = auth.apply(&mut form);
    let mut request = HttpRequest::post_form(endpoint, &form);
    if let Some(value) = request_auth {
        request = request.header("authorization", value);
    }
    outcome.revoked = matches!(http.send(request).await, Ok(r) if r.status == 200);
    Ok(outcome)
}
