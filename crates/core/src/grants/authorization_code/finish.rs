//! The end of an authorization-code login: the redirect back from the provider read (a state
//! nobody issued, or one used already, refused with nothing changed), the code exchanged for
//! tokens, the WebID's profile checked to name the provider, and the session logged in.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::grants::webid_check::verified_issuer;
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::claims;
use crate::protocol::credentials::Credentials;
use crate::protocol::discovery::IssuerMetadata;
use crate::protocol::dpop::DpopKey;
use crate::protocol::registration;
use crate::protocol::token;
use crate::protocol::webid_profile::WebIdCheck;
use crate::secret::Secret;
use crate::session::{field, Restored, SessionRecord};
use crate::storage::{record_key, Storage};

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
pub(crate) struct Callback {
    url: url::Url,
    pub(crate) state: String,
}

impl Callback {
    pub(crate) fn parse(callback: &str) -> Result<Self> {
        let url = url::Url::parse(callback)
            .map_err(|e| invalid_redirect(format!("it is not a URL ({e})")))?;
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| invalid_redirect("it has no state"))?;
        Ok(Self { url, state })
    }

    pub(crate) fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The redirect URI the code was issued for: this URL without what the provider added.
    pub(crate) fn redirect_uri(&self) -> String {
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
        Ok(Value::Object(fields)) => match fields.get(field::SESSION_ID) {
            Some(Value::String(id)) => Ok(id.clone()),
            _ => Err(Error::corrupted(&state_key, "it has no sessionId")),
        },
        _ => Err(Error::corrupted(&state_key, "it is not a JSON object")),
    }
}

/// Removes `state` from the record's list of states in flight.
fn forget_state(record: &mut SessionRecord, state: &str) {
    let mut states = record.authorization_states();
    states.retain(|s| s != state);
    record.set_authorization_states(states);
}

/// Finishes a login from the URL the provider redirected the user to. A state nobody issued,
/// or one used already, is refused and changes nothing; so is a login whose WebID's profile does
/// not name the provider (with `webid_check` on), once its code is spent.
pub async fn finish(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    callback: &str,
    require_iss: bool,
    webid_check: WebIdCheck,
) -> Result<Finished> {
    let callback = Callback::parse(callback)?;
    let session_id = session_for_state(storage, &callback.state).await?;
    let key = record_key(&session_id);
    let guard = storage.locks().lock(&key).await?;
    let Some(mut record) = SessionRecord::read(storage, &key).await? else {
        return Err(invalid_redirect(
            "the session it is for is not in storage any more",
        ));
    };
    let verifier = record
        .code_verifier()?
        .map(Secret::new)
        .ok_or_else(|| invalid_redirect("the login it answers has been finished already"))?;
    let issuer = record
        .issuer()?
        .map(str::to_owned)
        .ok_or_else(|| Error::corrupted(&key, "it has no issuer"))?;
    if let Some(error) = callback.param("error") {
        return Err(Error::oauth(
            &issuer,
            &error,
            callback.param("error_description").as_deref(),
        ));
    }
    let code = callback
        .param("code")
        .ok_or_else(|| invalid_redirect("it has no code"))?;
    match callback.param("iss") {
        Some(iss) if iss != issuer => {
            return Err(invalid_redirect(format!(
                "its iss parameter is {iss}, not the issuer {issuer} (RFC 9207)"
            )));
        }
        None if require_iss => {
            return Err(invalid_redirect(format!(
                "it has no iss parameter, which this login requires of the issuer {issuer} (RFC 9207)"
            )));
        }
        _ => {}
    }
    let keep_alive = record.keep_alive_unless_off()?;
    let found = caches.discovery.discover(http, &issuer).await?;
    let exchanged = exchange(
        http,
        caches,
        &found.metadata,
        &record,
        &code,
        &verifier,
        &callback.redirect_uri(),
    )
    .await;
    let (credentials, key_pair) = match exchanged {
        Ok(exchanged) => exchanged,
        Err(e) => {
            registration::forget_if_refused(storage, &record, &e).await;
            return Err(e);
        }
    };

    let verified_issuer = verified_issuer(http, storage, caches, webid_check, &credentials).await?;

    // Stored before anyone hears of the tokens; the verifier and the state are used up.
    record.store_credentials(&credentials, key_pair.as_ref());
    record.set_web_id_verified_issuer(verified_issuer.as_deref());
    record.remove_code_verifier();
    forget_state(&mut record, &callback.state);
    found.record_if_fetched(storage, &issuer).await?;
    record.write(storage).await?;
    storage.delete(&record_key(&callback.state)).await?;
    // A clear that ran meanwhile must not leave the record outside the list (taken after the
    // record's lock is let go: a clear holds the list's lock while it waits for the record's).
    drop(guard);
    crate::storage::registry::confirm_registered(storage, &session_id).await?;
    Ok(Finished {
        session_id,
        restored: Restored {
            new_refresh_token: credentials.refresh_token.clone(),
            credentials,
            keep_alive,
            client_app_id: None,
            not_stored: None,
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
    record: &SessionRecord,
    code: &str,
    verifier: &Secret,
    redirect_uri: &str,
) -> Result<(Credentials, Option<DpopKey>)> {
    let client_id = record
        .client_id()?
        .map(str::to_owned)
        .ok_or_else(|| Error::corrupted(record.key(), "it has no clientId"))?;
    let client_secret = record.client_secret()?.map(Secret::new);
    let key_pair = if record.dpop()? {
        Some(DpopKey::generate()?)
    } else {
        None
    };
    let tokens = token::request_for_client(
        http,
        metadata,
        &client_id,
        client_secret.as_ref(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ],
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
    let credentials = claims::credentials_from_grant(
        http,
        &caches.jwks,
        metadata,
        tokens,
        key_pair.clone(),
        client_id,
    )
    .await?;
    Ok((credentials, key_pair))
}
