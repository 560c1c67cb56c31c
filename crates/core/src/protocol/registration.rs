//! Dynamic client registration (RFC 7591), and the registered clients kept for reuse.
//!
//! The reference registers a new client for every session that logs in, and reuses it only when
//! the same session logs in again. Providers keep every one of those clients. Here the client is
//! kept in the storage per issuer and redirect URL, under its own key
//! (`solidClientAuthn:dynamicClient:<JSON [issuer, redirect URL]>`), so that every session of
//! every process sharing the storage uses it while it is valid; a login asking for another client
//! name registers a new one, which replaces it. When the provider says it no
//! longer knows the client (`invalid_client`), the kept client is forgotten and the next login
//! registers a new one.
//!
//! A provider can forget a client without saying so until a user is sent to it (a development
//! server restarted with its memory backend, say), and a user sent there with an unknown client
//! never comes back to tell us. Where the provider takes pushed authorization requests, the push
//! hears the `invalid_client` before the user is sent (`grants::authorization_code`). Elsewhere a
//! kept client is used for at most [`UNCHECKED_CLIENT_MAX_AGE_MS`] after its registration, then
//! registered again, so a forgotten client strands users for a day at most.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest};
use crate::protocol::discovery::IssuerMetadata;
use crate::session::field;
use crate::storage::Storage;

/// The ID-token algorithms a dynamically registered client asks for, in order of preference.
const PREFERRED_ALGS: [&str; 2] = ["ES256", "RS256"];

/// The prefix of the keys under which registered clients are kept.
pub const DYNAMIC_CLIENT_PREFIX: &str = "solidClientAuthn:dynamicClient:";

/// How long a kept client is used where no pushed authorization request can tell us that the
/// provider forgot it: a day.
pub const UNCHECKED_CLIENT_MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;

/// The member of a kept record that says when the client was registered (ms since the epoch, by
/// the store's clock). Kept records are ours alone: the reference never reads them.
const REGISTERED_AT: &str = "registeredAt";

/// The session-record fields that describe a client, as the reference stores a registered one.
pub type ClientFields = Vec<(&'static str, String)>;

/// The key of the client registered at `issuer` for `redirect_url`.
pub fn kept_client_key(issuer: &str, redirect_url: &str) -> String {
    format!(
        "{DYNAMIC_CLIENT_PREFIX}{}",
        Value::from(vec![issuer, redirect_url])
    )
}

/// A client registered for this issuer and redirect URL: the kept one while it is valid, was
/// registered under the same name and, when `max_age_ms` is given, less than that long ago; or a
/// new one (which is then kept).
pub async fn client_for(
    http: &dyn Http,
    storage: &dyn Storage,
    metadata: &IssuerMetadata,
    redirect_url: &str,
    client_name: Option<&str>,
    max_age_ms: Option<u64>,
) -> Result<ClientFields> {
    let key = kept_client_key(&metadata.issuer, redirect_url);
    // Concurrent logins in this process wait for one registration instead of each making one.
    let _guard = storage.locks().lock(&key).await?;
    let now_ms = storage.now_ms();
    let young_enough = |raw: &str| match max_age_ms {
        None => true,
        // A record without a registration time (written before it was kept) has an unknown age;
        // one far in the future (another process's clock, or an edit) is as suspect as an old one.
        Some(limit) => registered_at(raw).is_some_and(|at| now_ms.abs_diff(at) < limit),
    };
    // A kept record that cannot be read is a cache entry gone bad: registering again replaces it.
    if let Some(kept) = storage
        .get(&key)
        .await?
        .filter(|raw| young_enough(raw))
        .and_then(|raw| reusable(&raw, client_name))
    {
        return Ok(kept);
    }
    let registered = register(http, metadata, redirect_url, client_name).await?;
    storage
        .set(&key, &kept_record(&registered, client_name, now_ms))
        .await?;
    Ok(registered)
}

/// When the client of a kept record was registered, if the record says.
fn registered_at(raw: &str) -> Option<u64> {
    let record = serde_json::from_str::<Value>(raw).ok()?;
    record.get(REGISTERED_AT)?.as_str()?.parse().ok()
}

/// Forgets the kept client for this issuer and redirect URL, if it is `client_id`: the provider
/// refused it. A client registered since by someone else is left alone.
pub async fn forget(
    storage: &dyn Storage,
    issuer: &str,
    redirect_url: &str,
    client_id: &str,
) -> Result<()> {
    let key = kept_client_key(issuer, redirect_url);
    let Some(raw) = storage.get(&key).await? else {
        return Ok(());
    };
    let kept_id = serde_json::from_str::<Value>(&raw).ok().and_then(|v| {
        v.get(field::CLIENT_ID)
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if kept_id.is_none_or(|id| id == client_id) {
        storage.delete(&key).await?;
    }
    Ok(())
}

/// Whether an error from the provider means it does not know the client (any more).
pub fn is_unknown_client(error: &Error) -> bool {
    matches!(error, Error::OAuth { error, .. } if error == "invalid_client")
}

/// When the provider refused the session's registered client as unknown, forgets the kept
/// client so that the next login registers a new one. Best effort: the refusal is what the
/// caller hears.
pub async fn forget_if_refused(
    storage: &dyn Storage,
    record: &crate::session::SessionRecord,
    error: &Error,
) {
    if !is_unknown_client(error) {
        return;
    }
    let (Ok(Some("dynamic")), Ok(Some(issuer)), Ok(Some(redirect_url)), Ok(Some(client_id))) = (
        record.client_type(),
        record.issuer(),
        record.redirect_url(),
        record.client_id(),
    ) else {
        return;
    };
    let _ = forget(storage, issuer, redirect_url, client_id).await;
}

fn kept_record(fields: &ClientFields, client_name: Option<&str>, registered_at_ms: u64) -> String {
    let mut record: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
        .collect();
    if let Some(name) = client_name {
        record.insert(field::CLIENT_NAME.to_owned(), Value::from(name));
    }
    // A string, as every other member is.
    record.insert(
        REGISTERED_AT.to_owned(),
        Value::from(registered_at_ms.to_string()),
    );
    Value::Object(record).to_string()
}

/// The client in a kept record, unless its secret has expired or it was registered under
/// another name.
fn reusable(raw: &str, client_name: Option<&str>) -> Option<ClientFields> {
    let Ok(Value::Object(record)) = serde_json::from_str::<Value>(raw) else {
        return None;
    };
    let text = |field: &str| record.get(field).and_then(Value::as_str);
    let client_id = text(field::CLIENT_ID).filter(|id| !id.is_empty())?;
    if text(field::CLIENT_NAME) != client_name {
        return None;
    }
    let secret = text(field::CLIENT_SECRET);
    if secret.is_some() {
        // `0` (or nothing) means the secret never expires (RFC 7591 §3.2.1).
        let expires_at: i64 =
            text(field::CLIENT_SECRET_EXPIRES_AT).map_or(Some(0), |e| e.parse().ok())?;
        let now = i64::try_from(crate::clock::now_seconds()).unwrap_or(i64::MAX);
        if expires_at != 0 && now >= expires_at {
            return None;
        }
    }
    let mut fields = vec![(field::CLIENT_ID, client_id.to_owned())];
    if let Some(alg) = text(field::ID_TOKEN_SIGNED_RESPONSE_ALG) {
        fields.push((field::ID_TOKEN_SIGNED_RESPONSE_ALG, alg.to_owned()));
    }
    fields.push((field::CLIENT_TYPE, "dynamic".to_owned()));
    if let Some(secret) = secret {
        fields.push((field::CLIENT_SECRET, secret.to_owned()));
        fields.push((
            field::CLIENT_SECRET_EXPIRES_AT,
            text(field::CLIENT_SECRET_EXPIRES_AT)
                .unwrap_or("0")
                .to_owned(),
        ));
    }
    Some(fields)
}

/// Registers a client for `redirect_url`.
async fn register(
    http: &dyn Http,
    metadata: &IssuerMetadata,
    redirect_url: &str,
    client_name: Option<&str>,
) -> Result<ClientFields> {
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
        "redirect_uris": [redirect_url],
        "id_token_signed_response_alg": alg,
        "grant_types": ["authorization_code", "refresh_token"],
    });
    if let (Some(name), Value::Object(map)) = (client_name, &mut body) {
        map.insert("client_name".to_owned(), Value::from(name));
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
        (field::CLIENT_ID, client_id.clone()),
        (
            field::ID_TOKEN_SIGNED_RESPONSE_ALG,
            match fields.get("id_token_signed_response_alg") {
                Some(Value::String(a)) => a.clone(),
                _ => (*alg).to_owned(),
            },
        ),
        (field::CLIENT_TYPE, "dynamic".to_owned()),
    ];
    if let Some(Value::String(secret)) = fields.get("client_secret") {
        stored.push((field::CLIENT_SECRET, secret.clone()));
        let expires_at = match fields.get("client_secret_expires_at") {
            Some(Value::Number(n)) => n.to_string(),
            _ => "0".to_owned(),
        };
        stored.push((field::CLIENT_SECRET_EXPIRES_AT, expires_at));
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::http::{HttpFailure, HttpResponse};
    use crate::storage::MemoryStorage;
    use crate::tests::support::block_on;

    /// A registration endpoint that hands out `client-1`, `client-2`, ... with a secret.
    #[derive(Default)]
    struct Registrar {
        bodies: RefCell<Vec<String>>,
    }

    #[async_trait::async_trait(?Send)]
    impl Http for Registrar {
        async fn send(
            &self,
            request: HttpRequest,
        ) -> std::result::Result<HttpResponse, HttpFailure> {
            let mut bodies = self.bodies.borrow_mut();
            bodies.push(request.body.unwrap_or_default());
            let body = json!({
                "client_id": format!("client-{}", bodies.len()),
                "client_secret": "SECRET",
                "client_secret_expires_at": 0,
            });
            Ok(HttpResponse {
                status: 201,
                headers: vec![],
                body: body.to_string().into_bytes(),
            })
        }
    }

    fn metadata() -> IssuerMetadata {
        serde_json::from_value(json!({
            "issuer": "https://idp.example/",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "registration_endpoint": "https://idp.example/reg",
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }))
        .unwrap()
    }

    fn id_of(fields: &ClientFields) -> &str {
        &fields.iter().find(|(k, _)| *k == "clientId").unwrap().1
    }

    #[test]
    fn one_client_per_issuer_redirect_url_and_name() {
        let (http, storage, metadata) = (Registrar::default(), MemoryStorage::new(), metadata());
        let first = block_on(client_for(
            &http,
            &storage,
            &metadata,
            "https://app/cb",
            None,
            None,
        ))
        .unwrap();
        let again = block_on(client_for(
            &http,
            &storage,
            &metadata,
            "https://app/cb",
            None,
            None,
        ))
        .unwrap();
        assert_eq!(first, again);
        assert_eq!(http.bodies.borrow().len(), 1);
        assert!(http.bodies.borrow()[0].contains(r#""id_token_signed_response_alg":"ES256""#));

        let other_url = block_on(client_for(
            &http,
            &storage,
            &metadata,
            "https://app/cb2",
            None,
            None,
        ))
        .unwrap();
        let named = block_on(client_for(
            &http,
            &storage,
            &metadata,
            "https://app/cb",
            Some("My app"),
            None,
        ))
        .unwrap();
        assert_eq!(id_of(&other_url), "client-2");
        assert_eq!(id_of(&named), "client-3");
        assert!(http.bodies.borrow()[2].contains(r#""client_name":"My app""#));
    }

    #[test]
    fn a_forgotten_or_expired_or_unreadable_client_is_registered_again() {
        let (http, storage, metadata) = (Registrar::default(), MemoryStorage::new(), metadata());
        let key = kept_client_key("https://idp.example/", "https://app/cb");
        let get = || {
            block_on(client_for(
                &http,
                &storage,
                &metadata,
                "https://app/cb",
                None,
                None,
            ))
        };
        assert_eq!(id_of(&get().unwrap()), "client-1");

        // Someone else's newer client is not forgotten on our client's behalf.
        block_on(forget(
            &storage,
            "https://idp.example/",
            "https://app/cb",
            "client-0",
        ))
        .unwrap();
        assert_eq!(id_of(&get().unwrap()), "client-1");
        block_on(forget(
            &storage,
            "https://idp.example/",
            "https://app/cb",
            "client-1",
        ))
        .unwrap();
        assert_eq!(id_of(&get().unwrap()), "client-2");

        storage.set_now(
            &key,
            r#"{"clientId":"old","clientSecret":"s","expiresAt":"1","clientType":"dynamic"}"#,
        );
        assert_eq!(id_of(&get().unwrap()), "client-3");
        storage.set_now(&key, "not json");
        assert_eq!(id_of(&get().unwrap()), "client-4");
        assert!(storage.get_now(&key).unwrap().contains("client-4"));
    }

    #[test]
    fn a_kept_client_never_expiring_is_reused() {
        let fields = reusable(
            r#"{"clientId":"dyn","clientType":"dynamic","clientSecret":"s","expiresAt":"0","idTokenSignedResponseAlg":"ES256"}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            fields,
            vec![
                ("clientId", "dyn".to_owned()),
                ("idTokenSignedResponseAlg", "ES256".to_owned()),
                ("clientType", "dynamic".to_owned()),
                ("clientSecret", "s".to_owned()),
                ("expiresAt", "0".to_owned()),
            ]
        );
        assert!(reusable(r#"{"clientId":""}"#, None).is_none());
        assert!(reusable(r#"{"clientId":"dyn","clientName":"a"}"#, Some("b")).is_none());
    }

    #[test]
    fn only_invalid_client_means_the_provider_forgot_the_client() {
        let oauth = |error: &str| Error::OAuth {
            url: "https://idp/token".into(),
            error: error.into(),
            description: None,
        };
        assert!(is_unknown_client(&oauth("invalid_client")));
        assert!(!is_unknown_client(&oauth("invalid_grant")));
    }
}
