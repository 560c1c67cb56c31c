//! A stored session: the record kept under `solidClientAuthenticationUser:<id>` in the
//! reference's layout, read and written through named accessors (every field name this package
//! knows is in `field`, and nowhere else), what a login or a restore hands back, and when a
//! logged-in session's background timer refreshes or expires it (`timer`).
//!
//! Fields the package does not know are carried through every update in their places: the
//! reference does the same with ours, which is what lets an app switch packages and back.

use crate::clock::expiry_from_now;
use crate::error::{Error, Result};
use crate::protocol::credentials::Credentials;
use crate::protocol::dpop::DpopKey;
use crate::secret::Secret;
use crate::session::record::Record;
use crate::storage::{KeyGuard, Storage};

pub mod field;
pub mod record;
pub mod stored;
pub mod timer;

/// One session record.
#[derive(Debug)]
pub struct SessionRecord {
    record: Record,
}

/// A getter and a setter per text field. Like the reference, an empty string reads as absent;
/// a value that is not a string is corrupted data.
macro_rules! text_fields {
    ($($get:ident, $set:ident => $name:expr;)*) => {
        impl SessionRecord {
            $(
                pub fn $get(&self) -> Result<Option<&str>> {
                    self.record.string($name)
                }

                pub fn $set(&mut self, value: impl Into<String>) {
                    self.record.set($name, value);
                }
            )*
        }
    };
}

text_fields! {
    issuer, set_issuer => field::ISSUER;
    client_id, set_client_id => field::CLIENT_ID;
    client_secret, set_client_secret => field::CLIENT_SECRET;
    client_name, set_client_name => field::CLIENT_NAME;
    client_type, set_client_type => field::CLIENT_TYPE;
    redirect_url, set_redirect_url => field::REDIRECT_URL;
    client_app_id, set_client_app_id => field::CLIENT_APP_ID;
    web_id, set_web_id => field::WEB_ID;
    refresh_token, set_refresh_token => field::REFRESH_TOKEN;
    code_verifier, set_code_verifier => field::CODE_VERIFIER;
    access_token, set_access_token => field::ACCESS_TOKEN;
    access_token_type, set_access_token_type => field::ACCESS_TOKEN_TYPE;
    access_token_expires_at, set_access_token_expires_at => field::ACCESS_TOKEN_EXPIRES_AT;
    access_token_issued_at, set_access_token_issued_at => field::ACCESS_TOKEN_ISSUED_AT;
    id_token, set_id_token => field::ID_TOKEN;
}

fn flag_text(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

impl SessionRecord {
    /// Parses the text stored under `key`.
    pub fn parse(key: &str, raw: &str) -> Result<Self> {
        Record::parse(key, raw).map(|record| Self { record })
    }

    /// A record with no fields, for a session storage does not hold yet.
    pub fn empty(key: &str) -> Self {
        Self {
            record: Record::empty(key),
        }
    }

    /// The record stored under `key`; `None` when there is none (an empty string is none, as
    /// the reference reads it).
    pub async fn read(storage: &dyn Storage, key: &str) -> Result<Option<Self>> {
        match storage.get(key).await? {
            Some(raw) if !raw.is_empty() => Self::parse(key, &raw).map(Some),
            _ => Ok(None),
        }
    }

    pub async fn write(&self, storage: &dyn Storage) -> Result<()> {
        storage.set(self.key(), &self.to_json()).await
    }

    pub fn key(&self) -> &str {
        self.record.key()
    }

    pub fn to_json(&self) -> String {
        self.record.to_json()
    }

    /// Whether the session asks for DPoP-bound tokens (the reference: only the string "true").
    pub fn dpop(&self) -> Result<bool> {
        self.record.flag(field::DPOP)
    }

    pub fn set_dpop(&mut self, dpop: bool) {
        self.record.set(field::DPOP, flag_text(dpop));
    }

    /// Whether the session refreshes itself in the background; a restore reads only "true" as
    /// yes (the reference's rule).
    pub fn keep_alive(&self) -> Result<bool> {
        self.record.flag(field::KEEP_ALIVE)
    }

    /// The same flag as a login that is being finished reads it: anything but "false" is yes
    /// (a login started without the field asked for the default, which is on).
    pub fn keep_alive_unless_off(&self) -> Result<bool> {
        Ok(self.record.string(field::KEEP_ALIVE)? != Some("false"))
    }

    pub fn set_keep_alive(&mut self, keep_alive: bool) {
        self.record.set(field::KEEP_ALIVE, flag_text(keep_alive));
    }

    pub fn remove_code_verifier(&mut self) {
        self.record.remove(field::CODE_VERIFIER);
    }

    /// Sets any of the fields named in `field`: for lists of fields built elsewhere (a
    /// registered client's).
    pub fn set_field(&mut self, name: &'static str, value: impl Into<String>) {
        self.record.set(name, value);
    }

    /// The DPoP key stored with the session, if both halves are there.
    pub fn dpop_key(&self) -> Result<Option<DpopKey>> {
        match (
            self.record.string(field::PUBLIC_KEY)?,
            self.record.string(field::PRIVATE_KEY)?,
        ) {
            (Some(public), Some(private)) => DpopKey::from_stored(public, private)
                .map(Some)
                .map_err(|e| Error::corrupted(self.key(), e.to_string())),
            _ => Ok(None),
        }
    }

    /// Drops the stored DPoP key from the keys the process keeps loaded: the session is gone.
    pub fn forget_dpop_key(&self) {
        if let (Ok(Some(public)), Ok(Some(private))) = (
            self.record.string(field::PUBLIC_KEY),
            self.record.string(field::PRIVATE_KEY),
        ) {
            DpopKey::forget_stored(public, private);
        }
    }

    /// Stores a DPoP key given as its stored halves (`publicKey`, `privateKey`).
    pub fn set_stored_key(&mut self, public: &str, private: &str) {
        self.record.set(field::PUBLIC_KEY, public);
        self.record.set(field::PRIVATE_KEY, private);
    }

    /// What the reference stores for a client with a static id and secret (§6.5).
    pub fn store_static_client(&mut self, client_id: &str, client_secret: &str) {
        self.record.set(field::CLIENT_ID, client_id);
        self.record.set(field::CLIENT_TYPE, "static");
        self.record.set(field::CLIENT_SECRET, client_secret);
        self.record.set(field::CLIENT_NAME, client_id);
    }

    /// Writes what a login or refresh gave: the reference's fields, and the access-token fields
    /// of our own. `new_key` is a DPoP key to store (one the record lacks).
    pub fn store_credentials(&mut self, c: &Credentials, new_key: Option<&DpopKey>) {
        let record = &mut self.record;
        // A mark of a verified WebID is about that WebID: tokens naming another drop it.
        if record.string(field::WEB_ID).ok().flatten() != Some(c.web_id.as_str()) {
            record.remove(field::WEB_ID_VERIFIED_ISSUER);
        }
        if let Some(token) = &c.refresh_token {
            record.set(field::REFRESH_TOKEN, token.expose());
        }
        record.set(field::WEB_ID, c.web_id.as_str());
        record.set(field::CLIENT_ID, c.client_id.as_str());
        record.set(field::IS_LOGGED_IN, "true");
        if let Some(key) = new_key {
            record.set(field::PUBLIC_KEY, key.public_jwk_json());
            record.set(field::PRIVATE_KEY, key.private_jwk_json().expose());
        }
        record.set(field::ACCESS_TOKEN, c.access_token.expose());
        record.set(field::ACCESS_TOKEN_TYPE, c.token_type().as_str());
        // A response without one leaves the last: an expired ID token is still a good hint.
        if let Some(id_token) = &c.id_token {
            record.set(field::ID_TOKEN, id_token.expose());
        }
        if let Some(ms) = c.expires_at_ms {
            record.set(field::ACCESS_TOKEN_EXPIRES_AT, ms.to_string());
            let issued_at = c.issued_at_ms.unwrap_or_else(|| expiry_from_now(0));
            record.set(field::ACCESS_TOKEN_ISSUED_AT, issued_at.to_string());
        } else {
            // Without a lifetime it cannot be reused safely.
            record.remove(field::ACCESS_TOKEN_EXPIRES_AT);
            record.remove(field::ACCESS_TOKEN_ISSUED_AT);
        }
    }

    /// What a client-credentials login stores so that a restore can log the client in again
    /// (the reference stores no issuer for such sessions, so it can never restore them). The
    /// reference reads the result as a session without a refresh token: it restores it logged
    /// out.
    pub fn store_client_credentials_login(&mut self, c: &Credentials) {
        self.set_issuer(c.issuer.as_str());
        self.set_dpop(c.dpop_key.is_some());
        self.store_credentials(c, c.dpop_key.as_ref());
    }

    /// Whether this package's login found the profile of the record's WebID to name the record's
    /// issuer (`solid:oidcIssuer`): the record is marked so, for that issuer (trailing slashes
    /// aside). A restore of a record that is not checks the profile once, then marks it.
    pub fn web_id_verified(&self) -> Result<bool> {
        let marked = self.record.string(field::WEB_ID_VERIFIED_ISSUER)?;
        let issuer = self.issuer()?;
        Ok(match (marked, issuer) {
            (Some(marked), Some(issuer)) => {
                crate::protocol::webid_profile::same_issuer(marked, issuer)
            }
            _ => false,
        })
    }

    /// Marks the record's WebID as verified for `issuer`; `None` (a login with the check off)
    /// removes the mark.
    pub fn set_web_id_verified_issuer(&mut self, issuer: Option<&str>) {
        match issuer {
            Some(issuer) => self.record.set(field::WEB_ID_VERIFIED_ISSUER, issuer),
            None => self.record.remove(field::WEB_ID_VERIFIED_ISSUER),
        }
    }

    /// The OAuth `state` values of logins in flight (an unreadable list reads as none).
    pub fn authorization_states(&self) -> Vec<String> {
        self.record
            .string(field::AUTHORIZATION_STATES)
            .ok()
            .flatten()
            .and_then(|raw| serde_json::from_str(raw).ok())
            .unwrap_or_default()
    }

    pub fn set_authorization_states(&mut self, states: Vec<String>) {
        if states.is_empty() {
            self.record.remove(field::AUTHORIZATION_STATES);
        } else {
            self.record.set(
                field::AUTHORIZATION_STATES,
                serde_json::Value::from(states).to_string(),
            );
        }
    }
}

/// Opens session record `key` for a change that must not run twice at once in this process (a
/// refresh): its key lock, held until the guard goes, and the record, after writing the
/// refreshed record an earlier write failed to store, which holds the only good refresh token.
pub async fn open_locked<'a>(
    storage: &'a dyn Storage,
    key: &'a str,
) -> Result<(KeyGuard<'a>, Option<SessionRecord>)> {
    let guard = storage.locks().lock(key).await?;
    if let Some(unsaved) = storage.unsaved() {
        if let Some(json) = unsaved.get(key) {
            storage.set(key, &json).await?;
            unsaved.forget(key);
        }
    }
    Ok((guard, SessionRecord::read(storage, key).await?))
}

/// Stores `record` after a provider answered: its old refresh token may be spent, so a failed
/// write must not lose the new one. It is kept in memory, written by the next operation on the
/// session, and the failure is handed back as a value (the tokens are good) rather than as
/// the operation's error; a store that cannot keep it fails the operation.
pub async fn store_answered(
    storage: &dyn Storage,
    record: &SessionRecord,
) -> Result<Option<Error>> {
    let json = record.to_json();
    match storage.set(record.key(), &json).await {
        Ok(()) => Ok(None),
        Err(e) => match storage.unsaved() {
            Some(unsaved) => {
                unsaved.keep(record.key(), json);
                Ok(Some(e))
            }
            None => Err(e),
        },
    }
}

/// The text of a `state` mapping record: the session the state was issued for.
pub fn state_record(session_id: &str) -> String {
    serde_json::json!({ field::SESSION_ID: session_id }).to_string()
}

/// A session logged in by a login or a restore.
#[derive(Clone, Debug)]
pub struct Restored {
    pub credentials: Credentials,
    /// The refresh token the provider returned, when this login or restore got one (for the
    /// `newRefreshToken` event; the reference fires it even when the token did not change).
    pub new_refresh_token: Option<Secret>,
    pub keep_alive: bool,
    pub client_app_id: Option<String>,
    /// Why the refreshed record could not be stored. The credentials are good (the provider may
    /// have rotated the refresh token, so they are the only good ones); the record waits in the
    /// store's unsaved records, written first thing by the next operation on the session.
    pub not_stored: Option<Error>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_keep_their_places_through_an_update() {
        let mut record =
            SessionRecord::parse("k", r#"{"theirs":"x","issuer":"a","more":{"n":1}}"#).unwrap();
        record.set_issuer("b");
        record.set_dpop(true);
        assert_eq!(
            record.to_json(),
            r#"{"theirs":"x","issuer":"b","more":{"n":1},"dpop":"true"}"#
        );
    }

    #[test]
    fn authorization_states_round_trip_and_an_empty_list_removes_the_field() {
        let mut record = SessionRecord::empty("k");
        assert!(record.authorization_states().is_empty());
        record.set_authorization_states(vec!["s1".to_owned(), "s2".to_owned()]);
        assert_eq!(record.authorization_states(), ["s1", "s2"]);
        record.set_authorization_states(Vec::new());
        assert_eq!(record.to_json(), "{}");
    }

    #[test]
    fn the_webid_mark_holds_for_the_records_issuer_and_webid_only() {
        let mut record = SessionRecord::parse(
            "k",
            r#"{"issuer":"https://idp.example","webId":"https://a.example/#me"}"#,
        )
        .unwrap();
        assert!(!record.web_id_verified().unwrap());
        record.set_web_id_verified_issuer(Some("https://idp.example/"));
        assert!(record.web_id_verified().unwrap());
        record.set_issuer("https://other.example/");
        assert!(!record.web_id_verified().unwrap());
        record.set_issuer("https://idp.example");

        // New tokens naming the same WebID keep the mark; naming another, they drop it.
        let credentials = |web_id: &str| Credentials {
            access_token: Secret::new("at"),
            dpop_key: None,
            expires_at_ms: None,
            issued_at_ms: None,
            refresh_token: None,
            id_token: None,
            web_id: web_id.to_owned(),
            issuer: "https://idp.example".to_owned(),
            client_id: "c".to_owned(),
            ath: std::cell::OnceCell::new(),
        };
        record.store_credentials(&credentials("https://a.example/#me"), None);
        assert!(record.web_id_verified().unwrap());
        record.store_credentials(&credentials("https://b.example/#me"), None);
        assert!(!record.web_id_verified().unwrap());
        assert!(!record.to_json().contains(field::WEB_ID_VERIFIED_ISSUER));

        record.set_web_id_verified_issuer(Some("https://idp.example"));
        record.set_web_id_verified_issuer(None);
        assert!(!record.to_json().contains(field::WEB_ID_VERIFIED_ISSUER));
    }

    #[test]
    fn keep_alive_reads_differ_for_a_missing_field() {
        let record = SessionRecord::empty("k");
        assert!(!record.keep_alive().unwrap());
        assert!(record.keep_alive_unless_off().unwrap());
    }
}
