//! Logging a session out: its records go, and its refresh token is revoked at the provider
//! (RFC 7009) when the provider has a revocation endpoint. The reference never revokes: a
//! refresh token it "logged out" stays usable until it expires. An IdP logout also gets the URL
//! of the provider's end-session endpoint to send the user to (RP-initiated logout).

use crate::error::Result;
use crate::http::{Http, HttpRequest};
use crate::protocol::caches::Caches;
use crate::protocol::token::ClientAuth;
use crate::secret::Secret;
use crate::session::SessionRecord;
use crate::storage::multi_session::forget_session;
use crate::storage::Storage;

/// What an IdP logout sends the user to the provider with.
#[derive(Debug)]
pub struct EndSession {
    pub id_token_hint: Secret,
    /// Where the provider sends the user back to.
    pub post_logout_redirect_uri: Option<String>,
    /// Handed back with the user; only sent with `post_logout_redirect_uri` (OpenID RP-Initiated
    /// Logout 1.0 §2).
    pub state: Option<String>,
}

/// What a logout did.
#[derive(Debug, Default)]
pub struct LoggedOut {
    /// Where to send the user for an IdP logout: the provider's end-session endpoint with its
    /// parameters; `None` when it was not asked for or the provider has no such endpoint.
    pub end_session_url: Option<String>,
    /// Whether the provider took the refresh token back.
    pub revoked: bool,
}

/// The provider's end-session endpoint with the logout's parameters, each set as
/// `URLSearchParams.set` sets it (replacing one the endpoint already has), as the reference does.
pub fn end_session_url(endpoint: &str, end_session: &EndSession) -> Result<String> {
    let mut url = url::Url::parse(endpoint).map_err(|e| {
        crate::error::Error::idp_response(
            endpoint,
            format!("the end-session endpoint is not a URL: {e}"),
        )
    })?;
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let mut set = |name: &str, value: &str| match pairs.iter().position(|(n, _)| n == name) {
        Some(first) => {
            value.clone_into(&mut pairs[first].1);
            let mut index = 0;
            pairs.retain(|(n, _)| {
                index += 1;
                index - 1 == first || n != name
            });
        }
        None => pairs.push((name.to_owned(), value.to_owned())),
    };
    set("id_token_hint", end_session.id_token_hint.expose());
    if let Some(uri) = &end_session.post_logout_redirect_uri {
        set("post_logout_redirect_uri", uri);
        if let Some(state) = &end_session.state {
            set("state", state);
        }
    }
    url.query_pairs_mut().clear().extend_pairs(pairs);
    Ok(url.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn end_session(post_logout: Option<&str>, state: Option<&str>) -> EndSession {
        EndSession {
            id_token_hint: Secret::new("id.token.sig"),
            post_logout_redirect_uri: post_logout.map(str::to_owned),
            state: state.map(str::to_owned),
        }
    }

    #[test]
    fn the_end_session_url_carries_the_hint_and_the_way_back() {
        let url = end_session_url(
            "https://idp.example/logout",
            &end_session(Some("https://app.example/bye?x=1 2"), Some("s t")),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://idp.example/logout?id_token_hint=id.token.sig&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye%3Fx%3D1+2&state=s+t"
        );
    }

    #[test]
    fn a_state_without_a_way_back_is_not_sent_and_existing_parameters_are_replaced_in_place() {
        let url = end_session_url(
            "https://idp.example/logout?a=1&id_token_hint=old&b=2&id_token_hint=older",
            &end_session(None, Some("s")),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://idp.example/logout?a=1&id_token_hint=id.token.sig&b=2"
        );
    }
}
