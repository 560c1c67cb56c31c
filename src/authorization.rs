//! The authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636), as Solid-OIDC uses it: the
//! client is classified (a Solid-OIDC Client ID document, a static client, or one registered
//! dynamically), the user is sent to the provider, and the redirect back is exchanged for tokens.
//!
//! Storage follows the reference: a `<state>` record mapping the OAuth state to the session, and
//! the session record holding the client, the PKCE verifier and the login's settings. The state
//! is also listed in the session record (`authorizationStates`), so that logout and clear find
//! the mapping in stores that cannot list their keys; it is deleted once used.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::claims;
use crate::client_credentials::Caches;
use crate::credentials::{expiry_from_now, Credentials};
use crate::discovery::IssuerMetadata;
use crate::dpop::DpopKey;
use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest};
use crate::multi_session::{update_record, AUTHORIZATION_STATES_FIELD};
use crate::record::Record;
use crate::refresh::{store_credentials, Restored};
use crate::secret::Secret;
use crate::storage::{issuer_config_key, record_key, Storage};
use crate::token::{self, ClientAuth};

/// The scopes every login asks for.
const DEFAULT_SCOPES: [&str; 3] = ["openid", "offline_access", "webid"];
/// The ID-token algorithms a dynamically registered client asks for, in order of preference.
const PREFERRED_ALGS: [&str; 2] = ["ES256", "RS256"];

/// What `login({ oidcIssuer, redirectUrl, ... })` gives.
pub struct AuthorizationLogin {
    pub issuer: String,
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

fn random_token() -> Result<String> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::InvalidRequest {
        reason: format!("the system random number generator failed: {e}"),
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn is_url(text: &str) -> bool {
    reqwest::Url::parse(text).is_ok()
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
    metadata: &IssuerMetadata,
    login: &AuthorizationLogin,
    stored: &Record,
) -> Result<Vec<(&'static str, String)>> {
    let solid_oidc = metadata.scopes_supported.iter().any(|s| s == "webid");
    match &login.client_id {
        Some(id) if solid_oidc && is_url(id) => {
            let mut fields = vec![
                ("clientId", id.clone()),
                ("clientType", "solid-oidc".to_owned()),
            ];
            fields.push((
                "clientName",
                login.client_name.clone().unwrap_or_else(|| id.clone()),
            ));
            Ok(fields)
        }
        Some(id) if !is_url(id) => {
            let mut fields = vec![
                ("clientId", id.clone()),
                ("clientType", "static".to_owned()),
            ];
            if let Some(secret) = &login.client_secret {
                fields.push(("clientSecret", secret.expose().to_owned()));
            }
            fields.push((
                "clientName",
                login.client_name.clone().unwrap_or_else(|| id.clone()),
            ));
            Ok(fields)
        }
        _ => {
            if let Some(reused) = stored_dynamic_client(stored)? {
                return Ok(reused);
            }
            register(http, metadata, login).await
        }
    }
}

/// A dynamically registered client the record holds and that has not expired.
fn stored_dynamic_client(stored: &Record) -> Result<Option<Vec<(&'static str, String)>>> {
    let (Some("dynamic"), Some(id)) = (stored.string("clientType")?, stored.string("clientId")?)
    else {
        return Ok(None);
    };
    let expires_at: i64 = stored
        .string("expiresAt")?
        .and_then(|e| e.parse().ok())
        .unwrap_or(-1);
    let secret = stored.string("clientSecret")?;
    let expired = secret.is_some()
        && expires_at != 0
        && i64::try_from(claims::now_seconds()).unwrap_or(i64::MAX) > expires_at;
    if expired {
        return Ok(None);
    }
    let mut fields = vec![("clientId", id.to_owned())];
    if let Some(secret) = secret {
        fields.push(("clientSecret", secret.to_owned()));
    }
    Ok(Some(fields))
}

/// Registers a client (RFC 7591) for this login's redirect URL.
async fn register(
    http: &dyn Http,
    metadata: &IssuerMetadata,
    login: &AuthorizationLogin,
) -> Result<Vec<(&'static str, String)>> {
    let Some(endpoint) = &metadata.registration_endpoint else {
        return Err(Error::Configuration {
            reason: format!(
                "Dynamic client registration cannot be performed, because issuer {} does not have a registration endpoint",
                metadata.issuer
            ),
        });
    };
    let supported = &metadata.id_token_signing_alg_values_supported;
    let alg = PREFERRED_ALGS
        .iter()
        .find(|a| supported.iter().any(|s| s == *a))
        .ok_or_else(|| Error::Configuration {
            reason: format!(
                "No signature algorithm match between {supported:?} supported by the Identity Provider and {PREFERRED_ALGS:?} preferred by the client."
            ),
        })?;
    let mut body = json!({
        "redirect_uris": [login.redirect_url],
        "id_token_signed_response_alg": alg,
        "grant_types": ["authorization_code", "refresh_token"],
    });
    if let (Some(name), Value::Object(map)) = (&login.client_name, &mut body) {
        map.insert("client_name".to_owned(), Value::from(name.as_str()));
    }
    let request = HttpRequest {
        method: "POST",
        url: endpoint.clone(),
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "application/json".to_owned()),
        ],
        body: Some(body.to_string()),
    };
    let response = http
        .send(request)
        .await
        .map_err(|failure| Error::from_http_failure(endpoint, failure))?;
    if response.status != 201 && response.status != 200 {
        return Err(Error::idp_response(
            endpoint,
            format!(
                "registration answered HTTP {}, expected 201",
                response.status
            ),
        ));
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&response.body) else {
        return Err(Error::idp_response(
            endpoint,
            "the registration response is not a JSON object",
        ));
    };
    let Some(Value::String(client_id)) = fields.get("client_id") else {
        return Err(Error::idp_response(
            endpoint,
            "the registration response has no client_id",
        ));
    };
    let mut stored = vec![
        ("clientId", client_id.clone()),
        (
            "idTokenSignedResponseAlg",
            match fields.get("id_token_signed_response_alg") {
                Some(Value::String(a)) => a.clone(),
                _ => (*alg).to_owned(),
            },
        ),
        ("clientType", "dynamic".to_owned()),
    ];
    if let Some(Value::String(secret)) = fields.get("client_secret") {
        stored.push(("clientSecret", secret.clone()));
        let expires_at = match fields.get("client_secret_expires_at") {
            Some(Value::Number(n)) => n.to_string(),
            _ => "0".to_owned(),
        };
        stored.push(("expiresAt", expires_at));
    }
    Ok(stored)
}

/// Starts a login: classifies (or registers) the client, stores what the redirect will need,
/// and returns the URL to send the user to.
pub async fn start(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    session_id: &str,
    login: &AuthorizationLogin,
) -> Result<AuthorizationRequest> {
    crate::registry::register(storage, session_id).await?;
    let found = caches.discovery.discover(http, &login.issuer).await?;
    storage
        .set(&issuer_config_key(&login.issuer), &found.record)
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
    let key = record_key(session_id);
    let stored = match storage.get(&key).await? {
        Some(raw) if !raw.is_empty() => Record::parse(&key, &raw)?,
        _ => Record::parse(&key, "{}")?,
    };
    let client = client_fields(http, metadata, login, &stored).await?;
    let client_id = client
        .iter()
        .find(|(k, _)| *k == "clientId")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();

    let state = random_token()?;
    let code_verifier = Secret::new(random_token()?);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.expose().as_bytes()));
    let mut url = reqwest::Url::parse(authorization_endpoint).map_err(|e| {
        Error::idp_response(
            authorization_endpoint,
            format!("the authorization endpoint is not a URL: {e}"),
        )
    })?;
    url.query_pairs_mut()
        .append_pair("client_id", &client_id)
        .append_pair("scope", &scopes(&login.custom_scopes))
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &login.redirect_url)
        .append_pair("code_challenge", &challenge)
        .append_pair("state", &state)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", login.prompt.as_deref().unwrap_or("consent"));
    // As the reference: spaces as %20, not +.
    let url = url.to_string().replace('+', "%20");

    storage
        .set(
            &record_key(&state),
            &json!({ "sessionId": session_id }).to_string(),
        )
        .await?;
    update_record(storage, session_id, |record| {
        for (field, value) in &client {
            record.set(field, value.as_str());
        }
        record.set("codeVerifier", code_verifier.expose());
        record.set("issuer", metadata.issuer.as_str());
        record.set("redirectUrl", login.redirect_url.as_str());
        record.set("dpop", if login.dpop { "true" } else { "false" });
        record.set("keepAlive", if login.keep_alive { "true" } else { "false" });
        let mut states: Vec<String> = record
            .string(AUTHORIZATION_STATES_FIELD)
            .ok()
            .flatten()
            .and_then(|raw| serde_json::from_str(raw).ok())
            .unwrap_or_default();
        states.push(state.clone());
        record.set(AUTHORIZATION_STATES_FIELD, Value::from(states).to_string());
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

fn invalid_redirect(reason: impl Into<String>) -> Error {
    Error::InvalidRedirect {
        reason: reason.into(),
    }
}

/// What finishing a login gave: the session it was for, and its credentials.
pub struct Finished {
    pub session_id: String,
    pub restored: Restored,
}

/// The parameters of a redirect back from the provider.
struct Callback {
    url: reqwest::Url,
    state: String,
}

impl Callback {
    fn parse(callback: &str) -> Result<Self> {
        let url = reqwest::Url::parse(callback)
            .map_err(|e| invalid_redirect(format!("it is not a URL ({e})")))?;
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| invalid_redirect("it has no state"))?;
        Ok(Self { url, state })
    }

    fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The redirect URI the code was issued for: this URL without what the provider added.
    fn redirect_uri(&self) -> String {
        let mut uri = self.url.clone();
        let kept: Vec<(String, String)> = self
            .url
            .query_pairs()
            .filter(|(k, _)| {
                !["state", "code", "error", "error_description", "iss"].contains(&k.as_ref())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        uri.set_query(None);
        if !kept.is_empty() {
            uri.query_pairs_mut().extend_pairs(kept);
        }
        uri.to_string()
    }
}

/// The session a state was issued for, from its mapping record.
async fn session_for_state(storage: &dyn Storage, state: &str) -> Result<String> {
    let state_key = record_key(state);
    let Some(raw) = storage.get(&state_key).await? else {
        return Err(invalid_redirect(
            "no stored session is associated with its state",
        ));
    };
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(fields)) => match fields.get("sessionId") {
            Some(Value::String(id)) => Ok(id.clone()),
            _ => Err(Error::corrupted(&state_key, "it has no sessionId")),
        },
        _ => Err(Error::corrupted(&state_key, "it is not a JSON object")),
    }
}

/// Removes `state` from the record's list of states in flight.
fn forget_state(record: &mut Record, state: &str) -> Result<()> {
    let remaining: Vec<String> = record
        .string(AUTHORIZATION_STATES_FIELD)?
        .and_then(|raw| serde_json::from_str::<Vec<String>>(raw).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s != state)
        .collect();
    if remaining.is_empty() {
        record.remove(AUTHORIZATION_STATES_FIELD);
    } else {
        record.set(
            AUTHORIZATION_STATES_FIELD,
            Value::from(remaining).to_string(),
        );
    }
    Ok(())
}

/// Finishes a login from the URL the provider redirected the user to. A state nobody issued,
/// or one used already, is refused and changes nothing.
pub async fn finish(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    callback: &str,
) -> Result<Finished> {
    let callback = Callback::parse(callback)?;
    let session_id = session_for_state(storage, &callback.state).await?;
    let key = record_key(&session_id);
    let _guard = storage.locks().lock(&key).await?;
    let mut record = match storage.get(&key).await? {
        Some(raw) if !raw.is_empty() => Record::parse(&key, &raw)?,
        _ => {
            return Err(invalid_redirect(
                "the session it is for is not in storage any more",
            ))
        }
    };
    let verifier = record
        .string("codeVerifier")?
        .map(Secret::new)
        .ok_or_else(|| invalid_redirect("the login it answers has been finished already"))?;
    let issuer = record
        .string("issuer")?
        .map(str::to_owned)
        .ok_or_else(|| Error::corrupted(&key, "it has no issuer"))?;
    if let Some(error) = callback.param("error") {
        return Err(Error::OAuth {
            url: callback.redirect_uri(),
            error,
            description: callback.param("error_description"),
        });
    }
    let code = callback
        .param("code")
        .ok_or_else(|| invalid_redirect("it has no code"))?;
    if let Some(iss) = callback.param("iss") {
        if iss != issuer {
            return Err(invalid_redirect(format!(
                "its iss parameter is {iss}, not the issuer {issuer} (RFC 9207)"
            )));
        }
    }
    let keep_alive = record.string("keepAlive")? != Some("false");
    let found = caches.discovery.discover(http, &issuer).await?;
    let (credentials, key_pair) = exchange(
        http,
        caches,
        &found.metadata,
        &key,
        &record,
        &code,
        &verifier,
        &callback.redirect_uri(),
    )
    .await?;

    // Stored before anyone hears of the tokens; the verifier and the state are used up.
    store_credentials(&mut record, &credentials, key_pair.as_ref());
    record.remove("codeVerifier");
    forget_state(&mut record, &callback.state)?;
    if found.fetched {
        storage
            .set(&issuer_config_key(&issuer), &found.record)
            .await?;
    }
    storage.set(&key, &record.to_json()).await?;
    storage.delete(&record_key(&callback.state)).await?;
    Ok(Finished {
        session_id,
        restored: Restored {
            new_refresh_token: credentials.refresh_token.clone(),
            credentials,
            keep_alive,
            client_app_id: None,
        },
    })
}

/// The code for tokens (with a new DPoP key when the login asked for DPoP), and the ID token
/// checked for the WebID.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the values are what finish has read and checked"
)]
async fn exchange(
    http: &dyn Http,
    caches: &Caches,
    metadata: &IssuerMetadata,
    key: &str,
    record: &Record,
    code: &str,
    verifier: &Secret,
    redirect_uri: &str,
) -> Result<(Credentials, Option<DpopKey>)> {
    let client_id = record
        .string("clientId")?
        .map(str::to_owned)
        .ok_or_else(|| Error::corrupted(key, "it has no clientId"))?;
    let client_secret = record.string("clientSecret")?.map(Secret::new);
    let key_pair = if record.flag("dpop")? {
        Some(DpopKey::generate()?)
    } else {
        None
    };
    let auth = ClientAuth::for_provider(
        &metadata.token_endpoint_auth_methods_supported,
        &client_id,
        client_secret.as_ref(),
    );
    let tokens = token::request_with_key(
        http,
        &metadata.token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ],
        &auth,
        key_pair.as_ref(),
        &caches.token_nonces,
    )
    .await?;
    if tokens.id_token.is_none() {
        return Err(Error::idp_response(
            &metadata.token_endpoint,
            "the token response has no id_token",
        ));
    }
    let bound_key = match tokens.token_type {
        crate::stored_session::TokenType::DPoP => key_pair.clone(),
        crate::stored_session::TokenType::Bearer => None,
    };
    let web_id =
        claims::web_id_from_grant(http, &caches.jwks, metadata, &tokens, &client_id).await?;
    Ok((
        Credentials {
            expires_at_ms: tokens.expires_in.map(expiry_from_now),
            refresh_token: tokens.refresh_token,
            access_token: tokens.access_token,
            dpop_key: bound_key,
            id_token: tokens.id_token,
            web_id,
            issuer: metadata.issuer.clone(),
            client_id,
            ath: std::cell::OnceCell::new(),
        },
        key_pair,
    ))
}

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
    fn a_stored_dynamic_client_is_reused_until_its_secret_expires() {
        let record = |json: &str| Record::parse("k", json).unwrap();
        let reused = stored_dynamic_client(&record(
            r#"{"clientId":"dyn","clientType":"dynamic","clientSecret":"s","expiresAt":"0"}"#,
        ))
        .unwrap();
        assert!(reused.is_some());
        let expired = stored_dynamic_client(&record(
            r#"{"clientId":"dyn","clientType":"dynamic","clientSecret":"s","expiresAt":"1"}"#,
        ))
        .unwrap();
        assert!(expired.is_none());
        let static_client =
            stored_dynamic_client(&record(r#"{"clientId":"app","clientType":"static"}"#)).unwrap();
        assert!(static_client.is_none());
    }
}
