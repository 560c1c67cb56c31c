//! The authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636), as Solid-OIDC uses it: the
//! client is classified (a Solid-OIDC Client ID document, a static client, or one registered
//! dynamically), the user is sent to the provider (the request pushed to it first where it takes
//! pushed requests, RFC 9126: `pushed`), and the redirect back is exchanged for tokens, which
//! log the session in once the WebID's profile is found to name the provider (unless the login
//! turned the check off). A login by WebID finds the provider in that profile.
//!
//! Storage follows the reference: a `<state>` record mapping the OAuth state to the session, and
//! the session record holding the client, the PKCE verifier and the login's settings. The state
//! is also listed in the session record (`authorizationStates`), so that logout and clear find
//! the mapping in stores that cannot list their keys; it is deleted once used.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::discovery::IssuerMetadata;
use crate::protocol::registration::{self, ClientFields};
use crate::protocol::webid_profile::{choose_issuer, WebIdCheck};
use crate::quote;
use crate::random::url_safe_token;
use crate::secret::Secret;
use crate::session::{field, state_record};
use crate::storage::multi_session::update_record;
use crate::storage::{issuer_config_key, record_key, Storage};

/// What the state of a login with a dynamically registered client starts with: `.` is not in
/// the alphabet of random states, so no other state starts so. It lets a process that finishes
/// the login from the `authorizationRequest` event's payload, which carries no client type and
/// no secret, say at once that it cannot (`resume`).
const DYNAMIC_CLIENT_STATE_PREFIX: &str = "dyn.";

/// The scopes every login asks for.
const DEFAULT_SCOPES: [&str; 3] = ["openid", "offline_access", "webid"];

/// What `login({ oidcIssuer, webId, redirectUrl, ... })` gives.
pub struct AuthorizationLogin {
    /// The provider to log in with; without it, the one the profile of `web_id` names.
    pub issuer: Option<String>,
    /// A login by WebID: the user's WebID, whose profile names the provider.
    pub web_id: Option<String>,
    /// Whether a given issuer must be one the profile of `web_id` names. (The check at the end
    /// of the login is `finish`'s, which takes its own.)
    pub webid_check: WebIdCheck,
    pub redirect_url: String,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_name: Option<String>,
    pub custom_scopes: Vec<String>,
    pub prompt: Option<String>,
    pub dpop: bool,
    pub keep_alive: bool,
}

/// The request the user is sent to the provider with.
#[derive(Debug)]
pub struct AuthorizationRequest {
    pub url: String,
    pub state: String,
    pub code_verifier: Secret,
    pub issuer: String,
    pub client_id: String,
}

fn is_url(text: &str) -> bool {
    url::Url::parse(text).is_ok()
}

/// The scopes: the defaults, then the caller's (one word each), without repeats.
fn scopes(custom: &[String]) -> String {
    let mut all: Vec<&str> = DEFAULT_SCOPES.to_vec();
    for scope in custom {
        if !scope.is_empty() && !scope.contains(' ') && !all.contains(&scope.as_str()) {
            all.push(scope);
        }
    }
    all.join(" ")
}

/// The client fields the session record gets, as the reference classifies clients (§4.2).
async fn client_fields(
    http: &dyn Http,
    storage: &dyn Storage,
    metadata: &IssuerMetadata,
    login: &AuthorizationLogin,
    max_age_ms: Option<u64>,
) -> Result<ClientFields> {
    let solid_oidc = metadata.scopes_supported.iter().any(|s| s == "webid");
    match &login.client_id {
        Some(id) if solid_oidc && is_url(id) => {
            let mut fields = vec![
                (field::CLIENT_ID, id.clone()),
                (field::CLIENT_TYPE, "solid-oidc".to_owned()),
            ];
            fields.push((
                field::CLIENT_NAME,
                login.client_name.clone().unwrap_or_else(|| id.clone()),
            ));
            Ok(fields)
        }
        Some(id) if !is_url(id) => {
            let mut fields = vec![
                (field::CLIENT_ID, id.clone()),
                (field::CLIENT_TYPE, "static".to_owned()),
            ];
            if let Some(secret) = &login.client_secret {
                fields.push((field::CLIENT_SECRET, secret.expose().to_owned()));
            }
            fields.push((
                field::CLIENT_NAME,
                login.client_name.clone().unwrap_or_else(|| id.clone()),
            ));
            Ok(fields)
        }
        _ => {
            registration::client_for(
                http,
                storage,
                metadata,
                &login.redirect_url,
                login.client_name.as_deref(),
                max_age_ms,
            )
            .await
        }
    }
}

/// The S256 challenge of a PKCE verifier (RFC 7636 §4.2).
fn pkce_challenge(code_verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.expose().as_bytes()))
}

/// Starts a login: classifies (or registers) the client, stores what the redirect will need,
/// and returns the URL to send the user to. Where the provider takes pushed authorization
/// requests (RFC 9126) the request is pushed, and the URL only names it; a dynamically
/// registered client the provider refuses there is forgotten and registered again, once.
pub async fn start(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    session_id: &str,
    login: &AuthorizationLogin,
) -> Result<AuthorizationRequest> {
    let issuer = issuer_of(http, storage, caches, login).await?;
    crate::storage::registry::register(storage, session_id).await?;
    let found = caches.discovery.discover(http, &issuer).await?;
    storage
        .set(&issuer_config_key(&issuer), &found.record)
        .await?;
    let metadata = &found.metadata;
    let Some(authorization_endpoint) = &metadata.authorization_endpoint else {
        return Err(Error::Configuration {
            reason: format!(
                "the issuer {} has no authorization endpoint",
                metadata.issuer
            ),
        });
    };
    let pushed_endpoint = metadata.pushed_authorization_request_endpoint.as_deref();
    // Without a push to hear that the provider forgot a kept client, its use is bounded in time.
    let max_age_ms = match pushed_endpoint {
        Some(_) => None,
        None => Some(registration::UNCHECKED_CLIENT_MAX_AGE_MS),
    };
    let client = client_fields(http, storage, metadata, login, max_age_ms).await?;
    let dynamic = field_of(&client, field::CLIENT_TYPE) == Some("dynamic");

    let state = if dynamic {
        format!("{DYNAMIC_CLIENT_STATE_PREFIX}{}", url_safe_token::<32>()?)
    } else {
        url_safe_token::<32>()?
    };
    let code_verifier = Secret::new(url_safe_token::<32>()?);
    let challenge = pkce_challenge(&code_verifier);
    let scope = scopes(&login.custom_scopes);
    let prompt = login.prompt.as_deref().unwrap_or("consent");
    let request = RequestParameters {
        scope: &scope,
        redirect_uri: &login.redirect_url,
        code_challenge: &challenge,
        state: &state,
        prompt,
    };
    let (client, query) = match pushed_endpoint {
        None => {
            let query = request.with_client(client_id_of(&client));
            let query = query.map(|(name, value)| (name, value.to_owned())).to_vec();
            (client, query)
        }
        Some(endpoint) => push(http, storage, metadata, login, endpoint, &request, client).await?,
    };
    let url = url_with_query(authorization_endpoint, &query)?;
    let client_id = client_id_of(&client).to_owned();

    storage
        .set(&record_key(&state), &state_record(session_id))
        .await?;
    update_record(storage, session_id, |record| {
        for (name, value) in &client {
            record.set_field(name, value.as_str());
        }
        record.set_code_verifier(code_verifier.expose());
        record.set_issuer(metadata.issuer.as_str());
        record.set_redirect_url(login.redirect_url.as_str());
        record.set_dpop(login.dpop);
        record.set_keep_alive(login.keep_alive);
        let mut states = record.authorization_states();
        states.push(state.clone());
        record.set_authorization_states(states);
    })
    .await?;
    Ok(AuthorizationRequest {
        url,
        state,
        code_verifier,
        issuer: metadata.issuer.clone(),
        client_id,
    })
}

/// The provider a login goes to: the one it names, which must be one the profile of its WebID
/// names when it gives one (unless its check is off); else, for a login by WebID, the one
/// provider the profile names. Asked before anything is stored.
async fn issuer_of(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    login: &AuthorizationLogin,
) -> Result<String> {
    match (&login.issuer, &login.web_id) {
        (Some(issuer), None) => Ok(issuer.clone()),
        (Some(issuer), Some(_)) if login.webid_check == WebIdCheck::Skip => Ok(issuer.clone()),
        (Some(issuer), Some(web_id)) => {
            caches
                .webid
                .verify(http, storage.now_ms(), web_id, issuer)
                .await?;
            Ok(issuer.clone())
        }
        (None, Some(web_id)) => {
            let listed = caches
                .webid
                .issuers(http, storage.now_ms(), web_id)
                .await?;
            Ok(choose_issuer(web_id, &listed)?)
        }
        (None, None) => Err(Error::Configuration {
            reason: "a login needs an identity provider (oidcIssuer) or a WebID (webId) whose profile names one".to_owned(),
        }),
    }
}

/// Pushes the request (RFC 9126) for `client`: the client it was pushed for and the query of the
/// user's URL. A dynamically registered client the provider refuses (it restarted and forgot its
/// clients, say) is forgotten, and the request pushed again for a new one.
async fn push(
    http: &dyn Http,
    storage: &dyn Storage,
    metadata: &IssuerMetadata,
    login: &AuthorizationLogin,
    endpoint: &str,
    request: &RequestParameters<'_>,
    client: ClientFields,
) -> Result<(ClientFields, Vec<(&'static str, String)>)> {
    let push_for = |client: &ClientFields| {
        let client_id = client_id_of(client).to_owned();
        let secret = field_of(client, field::CLIENT_SECRET).map(Secret::new);
        async move {
            let request_uri = pushed::push(
                http,
                endpoint,
                metadata,
                &request.with_client(&client_id),
                &client_id,
                secret.as_ref(),
            )
            .await?;
            Ok::<_, Error>(vec![("client_id", client_id), ("request_uri", request_uri)])
        }
    };
    match push_for(&client).await {
        Ok(query) => Ok((client, query)),
        Err(error)
            if field_of(&client, field::CLIENT_TYPE) == Some("dynamic")
                && registration::is_unknown_client(&error) =>
        {
            let refused = client_id_of(&client);
            registration::forget(storage, &metadata.issuer, &login.redirect_url, refused).await?;
            let client = client_fields(http, storage, metadata, login, None).await?;
            let query = push_for(&client).await?;
            Ok((client, query))
        }
        Err(error) => Err(error),
    }
}

/// An authorization request's parameters but the client's.
struct RequestParameters<'a> {
    scope: &'a str,
    redirect_uri: &'a str,
    code_challenge: &'a str,
    state: &'a str,
    prompt: &'a str,
}

impl<'a> RequestParameters<'a> {
    /// All of them, in the reference's order, which `reference-authcode.test.mjs` compares.
    fn with_client<'b>(&self, client_id: &'b str) -> [(&'static str, &'b str); 8]
    where
        'a: 'b,
    {
        [
            ("client_id", client_id),
            ("scope", self.scope),
            ("response_type", "code"),
            ("redirect_uri", self.redirect_uri),
            ("code_challenge", self.code_challenge),
            ("state", self.state),
            ("code_challenge_method", "S256"),
            ("prompt", self.prompt),
        ]
    }
}

/// A field of a client's description.
fn field_of<'a>(client: &'a ClientFields, name: &str) -> Option<&'a str> {
    client
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

fn client_id_of(client: &ClientFields) -> &str {
    field_of(client, field::CLIENT_ID).unwrap_or_default()
}

/// `endpoint` with `query` appended, spaces as %20 (not +) as the reference writes them.
fn url_with_query(endpoint: &str, query: &[(&str, String)]) -> Result<String> {
    let mut url = url::Url::parse(endpoint).map_err(|e| {
        Error::idp_response(
            endpoint,
            format!("the authorization endpoint is not a URL: {e}"),
        )
    })?;
    url.query_pairs_mut().extend_pairs(query);
    Ok(url.to_string().replace('+', "%20"))
}

/// A login started elsewhere, as the `authorizationRequest` event described it: what it takes to
/// finish it in a process that does not share the storage it was started with.
pub struct ResumedRequest {
    pub state: String,
    pub code_verifier: Secret,
    pub issuer: String,
    pub redirect_url: String,
    pub dpop: bool,
    pub client_id: String,
    /// Not part of the event: a confidential static client's secret, which the app knows.
    pub client_secret: Option<Secret>,
}

/// Writes what `finish` needs for a login started elsewhere: the state mapping and the session
/// record. The reference takes Client ID documents only; a static client (an ID that is not a
/// URL) is taken too, as its open PR #4388 proposes.
pub async fn resume(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    session_id: &str,
    request: &ResumedRequest,
) -> Result<()> {
    if request.state.starts_with(DYNAMIC_CLIENT_STATE_PREFIX) && request.client_secret.is_none() {
        return Err(Error::Configuration {
            reason: format!(
                "the login with the client {} cannot be finished from its authorization request state: the process that started it registered that client dynamically, and the client's secret, which the token request needs, is not in the state. Finish the login in a process that shares the storage it was started with (handleIncomingRedirect on a Session with that storage), or log in with a Client ID document or a static client",
                quote::text(&request.client_id)
            ),
        });
    }
    let found = caches.discovery.discover(http, &request.issuer).await?;
    let solid_oidc = found.metadata.scopes_supported.iter().any(|s| s == "webid");
    let client_type = if !is_url(&request.client_id) {
        "static"
    } else if solid_oidc {
        "solid-oidc"
    } else {
        return Err(Error::Configuration {
            reason: format!(
                "{} does not support Solid-OIDC, which is required by Session.fromAuthorizationRequestState for a client identified by a URL.",
                request.issuer
            ),
        });
    };
    if request.state.is_empty() {
        return Err(Error::InvalidRequest {
            reason: "the authorization request state has an empty state".to_owned(),
        });
    }
    crate::storage::registry::register(storage, session_id).await?;
    storage
        .set(&record_key(&request.state), &state_record(session_id))
        .await?;
    update_record(storage, session_id, |record| {
        record.set_code_verifier(request.code_verifier.expose());
        record.set_issuer(found.metadata.issuer.as_str());
        record.set_redirect_url(request.redirect_url.as_str());
        record.set_dpop(request.dpop);
        record.set_keep_alive(false);
        record.set_client_id(request.client_id.as_str());
        record.set_client_type(client_type);
        if let Some(secret) = &request.client_secret {
            record.set_client_secret(secret.expose());
        }
        record.set_authorization_states(vec![request.state.clone()]);
    })
    .await
}

mod finish;
mod pushed;

pub use finish::{finish, Finished};

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_the_defaults_then_the_callers() {
        assert_eq!(scopes(&[]), "openid offline_access webid");
        let custom = [
            "profile".to_owned(),
            "webid".to_owned(),
            "two words".to_owned(),
            String::new(),
        ];
        assert_eq!(scopes(&custom), "openid offline_access webid profile");
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        let verifier = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
