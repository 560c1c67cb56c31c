//! Restoring a stored session: with the access token it stored while that is still good, or
//! else through the refresh-token grant (RFC 6749 §6), persisting what the provider returned
//! before anyone learns of it.
//!
//! Nothing is written unless the provider answered: one that is down or refuses the token
//! leaves the record byte for byte as it was, refresh token included. An answer that holds a new
//! refresh token has that token stored even when the rest of it is refused (the old one may be
//! spent).

use crate::error::{Error, Result};
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::claims;
use crate::protocol::credentials::{expiry_from_now, Credentials};
use crate::protocol::dpop::DpopKey;
use crate::protocol::token::{self, ClientAuth};
use crate::record::Record;
use crate::secret::Secret;
use crate::storage::{issuer_config_key, record_key, Storage};

/// Record fields of our own, beside the reference's (which carries unknown fields through its
/// merges): the latest access token, its type, and when it expires (milliseconds since the
/// epoch). With them, a restore within the token's lifetime sends nothing to the provider.
pub const ACCESS_TOKEN_FIELD: &str = "accessToken";
pub const ACCESS_TOKEN_TYPE_FIELD: &str = "accessTokenType";
pub const ACCESS_TOKEN_EXPIRES_AT_FIELD: &str = "accessTokenExpiresAt";
/// The latest ID token, so that a session restored with its stored access token can still
/// hand the provider an `id_token_hint` at an IdP logout.
pub const ID_TOKEN_FIELD: &str = "idToken";

/// When the access token was stored (ms since the epoch): with its expiry, its lifetime.
pub const ACCESS_TOKEN_ISSUED_AT_FIELD: &str = "accessTokenIssuedAt";

/// A stored access token is used only while it has at least this long to live, or a fifth of its
/// lifetime when that is shorter (the background refresh's rule).
pub const MIN_REMAINING_MS: u64 = 60_000;

/// What a restore found: a session it logged in, or one storage holds but that cannot be logged
/// in again (no refresh token, not a client-credentials client, no good access token).
#[derive(Debug)]
pub enum Restore {
    Restored(Box<Restored>),
    LoggedOut {
        web_id: Option<String>,
        client_app_id: Option<String>,
        keep_alive: bool,
    },
}

/// A restored session.
#[derive(Debug)]
pub struct Restored {
    pub credentials: Credentials,
    /// The refresh token the provider returned, when this restore refreshed (for the
    /// `newRefreshToken` event; the reference fires it even when the token did not change).
    pub new_refresh_token: Option<Secret>,
    pub keep_alive: bool,
    pub client_app_id: Option<String>,
    /// Why the refreshed record could not be stored. The credentials are good (the provider may
    /// have rotated the refresh token, so they are the only good ones); the record waits in the
    /// store's unsaved records, written first thing by the next operation on the session.
    pub not_stored: Option<Error>,
}

fn now_ms() -> u64 {
    expiry_from_now(0)
}

fn stored_key(key: &str, record: &Record) -> Result<Option<DpopKey>> {
    match (record.string("publicKey")?, record.string("privateKey")?) {
        (Some(public), Some(private)) => DpopKey::from_stored(public, private)
            .map(Some)
            .map_err(|e| Error::corrupted(key, e.to_string())),
        _ => Ok(None),
    }
}

/// How long a stored access token must still have to live to be used.
fn min_remaining_ms(record: &Record, expires_at_ms: u64) -> u64 {
    let issued_at = record
        .string(ACCESS_TOKEN_ISSUED_AT_FIELD)
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    match issued_at {
        Some(issued) if issued < expires_at_ms => {
            MIN_REMAINING_MS.min((expires_at_ms - issued) / 5)
        }
        _ => MIN_REMAINING_MS,
    }
}

/// The credentials the record holds, if its access token has long enough to live.
fn reusable(
    key: &str,
    record: &Record,
    issuer: &str,
    dpop_key: Option<&DpopKey>,
) -> Result<Option<Credentials>> {
    let (Some(token), Some(expires_at), Some(web_id)) = (
        record.string(ACCESS_TOKEN_FIELD)?,
        record.string(ACCESS_TOKEN_EXPIRES_AT_FIELD)?,
        record.string("webId")?,
    ) else {
        return Ok(None);
    };
    let Ok(expires_at_ms) = expires_at.parse::<u64>() else {
        return Ok(None);
    };
    // One stored by an earlier version, or another program, that no request could carry.
    if !token::is_header_safe_token(token) {
        return Ok(None);
    }
    if expires_at_ms < now_ms().saturating_add(min_remaining_ms(record, expires_at_ms)) {
        return Ok(None);
    }
    let dpop_key = match record.string(ACCESS_TOKEN_TYPE_FIELD)? {
        Some("DPoP") => match dpop_key {
            Some(k) => Some(k.clone()),
            // A DPoP token without its key cannot be presented.
            None => return Ok(None),
        },
        Some("Bearer") => None,
        _ => {
            return Err(Error::corrupted(
                key,
                format!("field \"{ACCESS_TOKEN_TYPE_FIELD}\" is neither DPoP nor Bearer"),
            ))
        }
    };
    Ok(Some(Credentials {
        access_token: Secret::new(token),
        dpop_key,
        expires_at_ms: Some(expires_at_ms),
        refresh_token: record.string("refreshToken")?.map(Secret::new),
        id_token: record.string(ID_TOKEN_FIELD)?.map(Secret::new),
        web_id: web_id.to_owned(),
        issuer: issuer.to_owned(),
        client_id: record.string("clientId")?.unwrap_or_default().to_owned(),
        ath: std::cell::OnceCell::new(),
    }))
}

/// Whether a restore may hand back the access token stored in the session record.
#[derive(Debug)]
pub enum Renewal {
    /// It may, while it has enough life left (a restore from storage).
    IfDue,
    /// It may not: new tokens, whatever is stored (`refreshSession`).
    Always,
    /// It may, if it is another token than this one (which its holder's timer says is due):
    /// one that another session or process stored meanwhile, with enough life left. The stored
    /// token being the held one means nobody renewed it, whatever the clock says.
    Replacing(Secret),
}

impl Renewal {
    /// Whether the stored access token `stored` may be handed back (if it has life enough).
    fn may_hand_back(&self, stored: Option<&str>) -> bool {
        match self {
            Renewal::IfDue => true,
            Renewal::Always => false,
            Renewal::Replacing(held) => stored != Some(held.expose()),
        }
    }
}

/// Restores session `id`, reading its record once: `None` when storage holds no session under
/// it (or one without an issuer, as the reference has it).
pub async fn restore(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    id: &str,
    renewal: Renewal,
) -> Result<Option<Restore>> {
    renew(http, storage, caches, id, &renewal, None).await
}

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
}

/// Logs session `id` in with a refresh token the caller holds. Like the reference, it first
/// registers the session and stores its issuer and client; the given refresh token is stored
/// only once the provider has accepted it, so a bad one never replaces a good stored one.
pub async fn log_in_with_refresh_token(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    id: &str,
    login: &RefreshTokenLogin,
) -> Result<Restored> {
    crate::storage::registry::register(storage, id).await?;
    crate::storage::multi_session::update_record(storage, id, |record| {
        record.set("issuer", login.issuer.as_str());
        record.set("dpop", if login.dpop { "true" } else { "false" });
        record.set("clientId", login.client_id.as_str());
        if let Some(secret) = &login.client_secret {
            record.set("clientSecret", secret.expose());
            record.set("clientName", login.client_id.as_str());
        }
        if let Some((public, private)) = &login.key {
            record.set("publicKey", public.as_str());
            record.set("privateKey", private.as_str());
        }
    })
    .await?;
    match renew(
        http,
        storage,
        caches,
        id,
        &Renewal::Always,
        Some(&login.refresh_token),
    )
    .await?
    {
        Some(Restore::Restored(restored)) => Ok(*restored),
        // With a refresh token given, a restore refreshes or fails.
        _ => Err(Error::InvalidRequest {
            reason: "the session record disappeared during the login".to_owned(),
        }),
    }
}

async fn renew(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    id: &str,
    renewal: &Renewal,
    given_refresh_token: Option<&Secret>,
) -> Result<Option<Restore>> {
    let key = record_key(id);
    // Held until the new tokens are stored: concurrent restores of this session in this
    // process wait, and then find a good access token instead of refreshing again.
    let _guard = storage.locks().lock(&key).await?;
    write_unsaved(storage, &key).await?;
    let mut record = match storage.get(&key).await? {
        Some(raw) if !raw.is_empty() => Record::parse(&key, &raw)?,
        _ => return Ok(None),
    };
    let Some(issuer) = record.string("issuer")?.map(str::to_owned) else {
        return Ok(None);
    };
    let keep_alive = record.flag("keepAlive")?;
    let client_app_id = record.string("clientAppId")?.map(str::to_owned);
    let dpop = record.flag("dpop")?;
    let dpop_key = stored_key(&key, &record)?;
    // Credentials that came with no new refresh token (the stored access token, or the
    // client-credentials grant again): nothing for `newRefreshToken`.
    let without_refresh_token = |credentials| {
        Restore::Restored(Box::new(Restored {
            credentials,
            new_refresh_token: None,
            keep_alive,
            client_app_id: client_app_id.clone(),
            not_stored: None,
        }))
    };
    if renewal.may_hand_back(record.string(ACCESS_TOKEN_FIELD)?) {
        if let Some(credentials) = reusable(&key, &record, &issuer, dpop_key.as_ref())? {
            return Ok(Some(without_refresh_token(credentials)));
        }
    }

    if given_refresh_token.is_none() && record.string("refreshToken")?.is_none() {
        let web_id = record.string("webId")?.map(str::to_owned);
        if let Some(restored) = client_credentials_again(
            http,
            storage,
            caches,
            &key,
            &mut record,
            &issuer,
            dpop_key.clone(),
            dpop,
        )
        .await?
        {
            return Ok(Some(without_refresh_token(restored)));
        }
        return Ok(Some(Restore::LoggedOut {
            web_id,
            client_app_id,
            keep_alive,
        }));
    }
    // Across processes: one refresh of this session at a time (see `crate::storage::lease`).
    let mut lease = None;
    let mut dpop_key = dpop_key;
    if given_refresh_token.is_none() && storage.is_shared() {
        let seen = record.string(ACCESS_TOKEN_FIELD)?.map(str::to_owned);
        match take_turn(storage, &key, id, &issuer, seen.as_deref()).await? {
            Turn::Refresh(taken, latest) => {
                dpop_key = match stored_key(&key, &latest) {
                    Ok(found) => found,
                    Err(e) => {
                        crate::storage::lease::release(storage, taken).await;
                        return Err(e);
                    }
                };
                record = latest;
                lease = Some(taken);
            }
            Turn::Stored(credentials) => return Ok(Some(without_refresh_token(credentials))),
            Turn::Gone => return Ok(None),
        }
    }
    let outcome = refresh_and_store(
        http,
        storage,
        caches,
        &key,
        record,
        &issuer,
        dpop_key,
        dpop,
        given_refresh_token,
    )
    .await;
    if let Some(lease) = lease {
        crate::storage::lease::release(storage, lease).await;
    }
    let (credentials, not_stored) = outcome?;
    Ok(Some(Restore::Restored(Box::new(Restored {
        new_refresh_token: credentials.refresh_token.clone(),
        credentials,
        keep_alive,
        client_app_id,
        not_stored,
    }))))
}

/// Writes the refreshed record an earlier write failed to store, if there is one: it holds the
/// only good refresh token, so nothing else is done with the session until it is written.
async fn write_unsaved(storage: &dyn Storage, key: &str) -> Result<()> {
    if let Some(unsaved) = storage.unsaved() {
        if let Some(json) = unsaved.get(key) {
            storage.set(key, &json).await?;
            unsaved.forget(key);
        }
    }
    Ok(())
}

/// What waiting for the refresh lease gave.
enum Turn {
    /// This process refreshes: the lease, and the record as it is now.
    Refresh(crate::storage::lease::Lease, Record),
    /// Another process refreshed meanwhile: the tokens it stored.
    Stored(Credentials),
    /// The session is gone from storage (logged out elsewhere).
    Gone,
}

/// Takes the session's refresh lease, or waits for the access token its holder stores. `seen`
/// is the access token the record held when this restore began: a different one that is good
/// enough to use is another process's refresh.
async fn take_turn(
    storage: &dyn Storage,
    key: &str,
    id: &str,
    issuer: &str,
    seen: Option<&str>,
) -> Result<Turn> {
    use crate::storage::lease::{self, Attempt};
    let started = now_ms();
    let read = || async {
        match storage.get(key).await? {
            Some(raw) if !raw.is_empty() => Record::parse(key, &raw).map(Some),
            _ => Ok(None),
        }
    };
    let stored_by_another = |record: &Record| -> Result<Option<Credentials>> {
        if record.string(ACCESS_TOKEN_FIELD)? == seen {
            return Ok(None);
        }
        reusable(key, record, issuer, stored_key(key, record)?.as_ref())
    };
    loop {
        if let Attempt::Taken(taken) = lease::try_take(storage, id).await? {
            // Someone may have refreshed between this restore's first read and now.
            let turn = match read().await {
                Ok(None) => Ok(Turn::Gone),
                Ok(Some(record)) => match stored_by_another(&record) {
                    Ok(Some(credentials)) => Ok(Turn::Stored(credentials)),
                    Ok(None) => return Ok(Turn::Refresh(taken, record)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            // Not refreshing after all: the lease goes back whatever happened.
            lease::release(storage, taken).await;
            return turn;
        }
        loop {
            // Checked on every round, also when the lease keeps turning out free but is not
            // taken (a read-back that cannot be read, again and again).
            let waited = now_ms().saturating_sub(started);
            if waited > 2 * lease::LEASE_TTL_MS {
                return Err(Error::RefreshLeaseTimeout {
                    key: lease::lease_key(id),
                    millis: waited,
                });
            }
            storage.pause(lease::POLL_MS).await?;
            let Some(record) = read().await? else {
                return Ok(Turn::Gone);
            };
            if let Some(credentials) = stored_by_another(&record)? {
                return Ok(Turn::Stored(credentials));
            }
            if !lease::is_held(storage, id).await? {
                break;
            }
        }
    }
}

/// The refresh-token grant for the session in `record`, stored before anyone hears of it.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the values are what renew has read"
)]
async fn refresh_and_store(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    key: &str,
    mut record: Record,
    issuer: &str,
    dpop_key: Option<DpopKey>,
    dpop: bool,
    given_refresh_token: Option<&Secret>,
) -> Result<(Credentials, Option<Error>)> {
    let refreshed = match refresh_grant(
        http,
        caches,
        key,
        &record,
        issuer,
        dpop_key,
        dpop,
        given_refresh_token,
    )
    .await
    {
        Ok(refreshed) => refreshed,
        Err(token::Refused {
            error,
            new_refresh_token,
        }) => {
            crate::protocol::registration::forget_if_refused(storage, &record, &error).await;
            if let Some(new_refresh_token) = new_refresh_token {
                keep_refresh_token(storage, key, record, &new_refresh_token).await;
            }
            return Err(error);
        }
    };
    let issuer_config = refreshed.issuer_config.clone();
    let credentials = refreshed.store_in(&mut record);
    // Stored before anyone hears of the new tokens: a rotated refresh token must not be lost.
    // The provider has answered, so the old refresh token may be spent: a failed write must not
    // lose the new one. It is kept in memory and written by the next operation on the session,
    // and the caller gets the credentials with the error.
    let json = record.to_json();
    let written = match storage.set(key, &json).await {
        Ok(()) => Ok(()),
        Err(e) => match storage.unsaved() {
            Some(unsaved) => {
                unsaved.keep(key, json);
                return Ok((credentials, Some(e)));
            }
            None => Err(e),
        },
    };
    written?;
    if let Some(config) = &issuer_config {
        // Best effort: the reference writes it but never reads it back.
        let _ = storage.set(&issuer_config_key(issuer), config).await;
    }
    Ok((credentials, None))
}

/// Stores the refresh token of an answer that was refused for something else (a bad ID token,
/// lifetime or token type): a provider that rotates refresh tokens has spent the old one, so
/// this is the only one left. Nothing else of the answer is stored. A write that fails leaves the
/// record to the next operation on the session, as a refresh whose record cannot be written
/// does; the caller gets the refusal either way, which says more than the write's failure.
async fn keep_refresh_token(
    storage: &dyn Storage,
    key: &str,
    mut record: Record,
    new_refresh_token: &Secret,
) {
    record.set("refreshToken", new_refresh_token.expose());
    let json = record.to_json();
    if storage.set(key, &json).await.is_err() {
        if let Some(unsaved) = storage.unsaved() {
            unsaved.keep(key, json);
        }
    }
}

/// A session of a static client with a secret, no redirect URL and no refresh token logs in
/// again with the client-credentials grant; `None` for any other session.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the values are what restore has already read"
)]
async fn client_credentials_again(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    key: &str,
    record: &mut Record,
    issuer: &str,
    stored_key: Option<DpopKey>,
    dpop: bool,
) -> Result<Option<Credentials>> {
    let (Some("static"), Some(client_id), Some(secret), None) = (
        record.string("clientType")?,
        record.string("clientId")?,
        record.string("clientSecret")?,
        record.string("redirectUrl")?,
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
    let credentials = crate::grants::client_credentials::grant(
        http,
        caches,
        &found.metadata,
        &client_id,
        &secret,
        dpop_key,
    )
    .await?;
    // Only now: a restore that fails leaves storage as it was.
    if found.fetched {
        storage
            .set(&issuer_config_key(issuer), &found.record)
            .await?;
    }
    store_client_credentials_login(record, &credentials);
    storage.set(key, &record.to_json()).await?;
    Ok(Some(credentials))
}

/// What a successful refresh grant gave, before it is stored.
struct Refreshed {
    credentials: Credentials,
    /// A key made for this refresh (none was stored), to store.
    new_key: Option<DpopKey>,
    /// The discovery record, when discovery was fetched for this refresh (stored only once the
    /// refresh has succeeded, so that a failed one changes nothing).
    issuer_config: Option<std::rc::Rc<str>>,
}

impl Refreshed {
    /// Writes the new tokens into the record, and hands back the credentials.
    fn store_in(self, record: &mut Record) -> Credentials {
        store_credentials(record, &self.credentials, self.new_key.as_ref());
        self.credentials
    }
}

/// Writes what a login or refresh gave into a session record: the reference's fields, and the
/// access token fields of our own. `new_key` is a DPoP key to store (one the record lacks).
pub fn store_credentials(record: &mut Record, c: &Credentials, new_key: Option<&DpopKey>) {
    if let Some(token) = &c.refresh_token {
        record.set("refreshToken", token.expose());
    }
    record.set("webId", c.web_id.as_str());
    record.set("clientId", c.client_id.as_str());
    record.set("isLoggedIn", "true");
    if let Some(key) = new_key {
        record.set("publicKey", key.public_jwk_json());
        record.set("privateKey", key.private_jwk_json().expose());
    }
    record.set(ACCESS_TOKEN_FIELD, c.access_token.expose());
    record.set(ACCESS_TOKEN_TYPE_FIELD, c.token_type().as_str());
    // A response without one leaves the last: an expired ID token is still a good hint.
    if let Some(id_token) = &c.id_token {
        record.set(ID_TOKEN_FIELD, id_token.expose());
    }
    if let Some(ms) = c.expires_at_ms {
        record.set(ACCESS_TOKEN_EXPIRES_AT_FIELD, ms.to_string());
        record.set(ACCESS_TOKEN_ISSUED_AT_FIELD, now_ms().to_string());
    } else {
        // Without a lifetime it cannot be reused safely.
        record.remove(ACCESS_TOKEN_EXPIRES_AT_FIELD);
        record.remove(ACCESS_TOKEN_ISSUED_AT_FIELD);
    }
}

/// What a client-credentials login stores so that a restore can log the client in again (the
/// reference stores no issuer for such sessions, so it can never restore them). The reference
/// reads the result as a session without a refresh token: it restores it logged out.
pub fn store_client_credentials_login(record: &mut Record, c: &Credentials) {
    record.set("issuer", c.issuer.as_str());
    record.set(
        "dpop",
        if c.dpop_key.is_some() {
            "true"
        } else {
            "false"
        },
    );
    store_credentials(record, c, c.dpop_key.as_ref());
}

/// The refresh-token grant for the session in `record`, and the checks on what it returns.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the values are what restore has already read"
)]
async fn refresh_grant(
    http: &dyn Http,
    caches: &Caches,
    key: &str,
    record: &Record,
    issuer: &str,
    stored_key: Option<DpopKey>,
    dpop: bool,
    given_refresh_token: Option<&Secret>,
) -> Result<Refreshed, token::Refused> {
    let stored_refresh_token = record.string("refreshToken")?.map(Secret::new);
    let refresh_token = given_refresh_token
        .cloned()
        .or(stored_refresh_token)
        .ok_or_else(|| Error::InvalidRequest {
            reason: "the session has no refresh token to refresh its access token with".to_owned(),
        })?;
    let client_id = record
        .string("clientId")?
        .map(str::to_owned)
        .ok_or_else(|| Error::corrupted(key, "it has a refresh token but no clientId"))?;
    let client_secret = record.string("clientSecret")?.map(Secret::new);

    let found = caches.discovery.discover(http, issuer).await?;
    let metadata = &found.metadata;
    // The reference makes a key when none is stored, and forgets it; this one is kept.
    let new_key = if dpop && stored_key.is_none() {
        Some(DpopKey::generate().map_err(Error::from)?)
    } else {
        None
    };
    let dpop_key = stored_key.or_else(|| new_key.clone()).filter(|_| dpop);
    let auth = ClientAuth::for_provider(
        &metadata.token_endpoint_auth_methods_supported,
        &client_id,
        client_secret.as_ref(),
    );
    let endpoint = metadata.token_endpoint.as_str();
    let tokens = token::request_with_key(
        http,
        endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ],
        &auth,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_hands_back_a_stored_token_only_if_it_is_not_the_one_held() {
        assert!(Renewal::IfDue.may_hand_back(Some("a")));
        assert!(!Renewal::Always.may_hand_back(Some("a")));
        let held = Renewal::Replacing(Secret::new("held-token".to_owned()));
        assert!(
            !held.may_hand_back(Some("held-token")),
            "its own token is due"
        );
        assert!(held.may_hand_back(Some("another")), "another's is new");
        assert!(held.may_hand_back(None));
        assert!(!format!("{held:?}").contains("held-token"));
    }

    #[test]
    fn a_stored_token_must_have_a_fifth_of_its_lifetime_left_at_most_a_minute() {
        let record = |issued: &str| {
            Record::parse("k", &format!(r#"{{"accessTokenIssuedAt":"{issued}"}}"#)).unwrap()
        };
        assert_eq!(min_remaining_ms(&record("0"), 10_000), 2_000);
        assert_eq!(min_remaining_ms(&record("0"), 3_600_000), MIN_REMAINING_MS);
        assert_eq!(
            min_remaining_ms(&Record::parse("k", "{}").unwrap(), 10_000),
            MIN_REMAINING_MS
        );
    }
}
