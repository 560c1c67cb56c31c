//! Restoring a stored session: with the access token it stored until it is due for renewal
//! (`credentials::renewal_due_at_ms`, the one refresh-timing rule), else with the grant that can log it in again:
//! the refresh-token grant, or for a static client without a refresh token the
//! client-credentials grant. Concurrent restores of one session on one store in this process
//! are one restore (`RestoresInFlight`: the later ones join the first and end with its outcome);
//! restores of different kinds share one refresh through the record's key lock, and across
//! processes through the refresh lease.
//!
//! Nothing is written unless the provider answered: one that is down or refuses the token leaves
//! the record byte for byte as it was, refresh token included.

use crate::error::{Error, Result};
use crate::grants::{client_credentials, refresh_token};
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::credentials::{renewal_due_at_ms, Credentials};
use crate::protocol::dpop::DpopKey;
use crate::protocol::token;
use crate::protocol::webid_profile::WebIdCheck;
use crate::secret::Secret;
use crate::session::{self, Restored, SessionRecord};
use crate::single_flight::SingleFlight;
use crate::storage::lease::{self, Attempt, Lease};
use crate::storage::{record_key, Storage};

/// What a restore found: a session it logged in, or one storage holds but that cannot be logged
/// in again (no refresh token, not a client-credentials client, no good access token).
#[derive(Clone, Debug)]
pub enum Restore {
    Restored(Box<Restored>),
    LoggedOut {
        web_id: Option<String>,
        client_app_id: Option<String>,
        keep_alive: bool,
    },
}

/// Whether a restore may hand back the access token stored in the session record.
#[derive(Clone, Debug)]
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
    /// What restores of one kind have in common, for joining: a restore from storage, a forced
    /// refresh (`refreshSession`), a session timer's renewal.
    fn kind(&self) -> &'static str {
        match self {
            Renewal::IfDue => "restore",
            Renewal::Always => "force",
            Renewal::Replacing(_) => "renew",
        }
    }

    /// Whether the stored access token `stored` may be handed back (if it has life enough).
    fn may_hand_back(&self, stored: Option<&str>) -> bool {
        match self {
            Renewal::IfDue => true,
            Renewal::Always => false,
            Renewal::Replacing(held) => stored != Some(held.expose()),
        }
    }
}

/// When the stored access token is due for renewal (the rule: `renewal_due_at_ms`), and when it
/// was issued, if the record says.
fn stored_due_at_ms(record: &SessionRecord, expires_at_ms: u64) -> (u64, Option<u64>) {
    let issued_at = record
        .access_token_issued_at()
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    (renewal_due_at_ms(issued_at, expires_at_ms), issued_at)
}

/// The credentials the record holds, if its access token has long enough to live.
fn reusable(
    record: &SessionRecord,
    issuer: &str,
    dpop_key: Option<&DpopKey>,
    now_ms: u64,
) -> Result<Option<Credentials>> {
    let (Some(token), Some(expires_at), Some(web_id)) = (
        record.access_token()?,
        record.access_token_expires_at()?,
        record.web_id()?,
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
    let (due_at_ms, issued_at_ms) = stored_due_at_ms(record, expires_at_ms);
    if due_at_ms < now_ms {
        return Ok(None);
    }
    let dpop_key = match record.access_token_type()? {
        Some("DPoP") => match dpop_key {
            Some(k) => Some(k.clone()),
            // A DPoP token without its key cannot be presented.
            None => return Ok(None),
        },
        Some("Bearer") => None,
        _ => {
            return Err(Error::corrupted(
                record.key(),
                format!(
                    "field \"{}\" is neither DPoP nor Bearer",
                    session::field::ACCESS_TOKEN_TYPE
                ),
            ))
        }
    };
    Ok(Some(Credentials {
        access_token: Secret::new(token),
        dpop_key,
        expires_at_ms: Some(expires_at_ms),
        issued_at_ms,
        refresh_token: record.refresh_token()?.map(Secret::new),
        id_token: record.id_token()?.map(Secret::new),
        web_id: web_id.to_owned(),
        issuer: issuer.to_owned(),
        client_id: record.client_id()?.unwrap_or_default().to_owned(),
        ath: std::cell::OnceCell::new(),
    }))
}

/// The restores under way on one store in this process (the binding keeps one per store
/// handle). A restore that finds one of the same kind of the same session under way joins it
/// and ends with its outcome, the same credentials or the same error, without reading storage:
/// concurrent restores of a session (a server's requests that each restore it) make one, and a
/// provider that rotates refresh tokens and detects reuse never sees a second refresh.
#[derive(Default)]
pub struct RestoresInFlight(SingleFlight<Option<Restore>>);

impl RestoresInFlight {
    /// `restore`, joined to one of the same kind of session `id` under way on this store. A
    /// joiner waits as long as the restore it joined (whose storage calls and requests have
    /// timeouts of their own); if that one is dropped before it ends, a joiner restores itself.
    pub async fn restore(
        &self,
        http: &dyn Http,
        storage: &dyn Storage,
        caches: &Caches,
        id: &str,
        renewal: Renewal,
        check: WebIdCheck,
    ) -> Result<Option<Restore>> {
        // A restore that checks the WebID never joins one that does not.
        let key = format!("{}:{check:?}:{id}", renewal.kind());
        self.0
            .run(&key, || {
                restore(http, storage, caches, id, renewal.clone(), check)
            })
            .await
    }
}

/// Restores session `id`, reading its record once: `None` when storage holds no session under
/// it (or one without an issuer, as the reference has it).
///
/// With `check` on, a record not marked as verified for its issuer (one the reference wrote, or
/// one logged in with the check off) has its WebID checked against its profile first; a refresh
/// then stores the mark with the new tokens. A stored access token used as is writes nothing:
/// a write outside the refresh lease could put back a refresh token another process has just
/// rotated, and the WebID cache keeps the checks until then cheap.
pub async fn restore(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    id: &str,
    renewal: Renewal,
    check: WebIdCheck,
) -> Result<Option<Restore>> {
    let key = record_key(id);
    // Held until the new tokens are stored: concurrent restores of this session in this
    // process wait, and then find a good access token instead of refreshing again.
    let (_guard, record) = session::open_locked(storage, &key).await?;
    let Some(mut record) = record else {
        return Ok(None);
    };
    let Some(issuer) = record.issuer()?.map(str::to_owned) else {
        return Ok(None);
    };
    // Checked before credentials are handed out, not for a record that logs nobody in.
    let unmarked_web_id = match check {
        WebIdCheck::Verify if !record.web_id_verified()? => record.web_id()?.map(str::to_owned),
        _ => None,
    };
    let check_unmarked =
        || verify_unmarked(http, storage, caches, unmarked_web_id.as_deref(), &issuer);
    let keep_alive = record.keep_alive()?;
    let client_app_id = record.client_app_id()?.map(str::to_owned);
    let dpop = record.dpop()?;
    let dpop_key = record.dpop_key()?;
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
    if renewal.may_hand_back(record.access_token()?) {
        if let Some(credentials) = reusable(&record, &issuer, dpop_key.as_ref(), storage.now_ms())?
        {
            check_unmarked().await?;
            return Ok(Some(without_refresh_token(credentials)));
        }
    }

    if record.refresh_token()?.is_none() {
        let web_id = record.web_id()?.map(str::to_owned);
        if let Some(credentials) = client_credentials::log_in_again(
            http,
            storage,
            caches,
            &mut record,
            &issuer,
            dpop_key,
            dpop,
            check,
        )
        .await?
        {
            return Ok(Some(without_refresh_token(credentials)));
        }
        return Ok(Some(Restore::LoggedOut {
            web_id,
            client_app_id,
            keep_alive,
        }));
    }
    // Before the refresh token is spent: a refused WebID leaves the record as it is.
    check_unmarked().await?;
    // Across processes: one refresh of this session at a time (see `crate::storage::lease`).
    let mut taken_lease = None;
    let mut dpop_key = dpop_key;
    if storage.is_shared() {
        let seen = record.access_token()?.map(str::to_owned);
        match take_turn(storage, id, &record, &issuer, seen.as_deref()).await? {
            Turn::Refresh(taken, latest) => {
                dpop_key = match latest.dpop_key() {
                    Ok(found) => found,
                    Err(e) => {
                        lease::release(storage, taken).await;
                        return Err(e);
                    }
                };
                record = latest;
                taken_lease = Some(taken);
            }
            Turn::Stored(credentials) => return Ok(Some(without_refresh_token(credentials))),
            Turn::Gone => return Ok(None),
        }
    }
    if unmarked_web_id.is_some() && record.web_id()? == unmarked_web_id.as_deref() {
        record.set_web_id_verified_issuer(Some(&issuer));
    }
    let outcome = refresh_token::refresh_and_store(
        http, storage, caches, record, &issuer, dpop_key, dpop, None,
    )
    .await;
    if let Some(taken) = taken_lease {
        lease::release(storage, taken).await;
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

/// The WebID check of a record not marked as verified: `web_id` is its WebID then, else `None`
/// (marked, the check off, or no WebID), and nothing is asked.
async fn verify_unmarked(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    web_id: Option<&str>,
    issuer: &str,
) -> Result<()> {
    match web_id {
        Some(web_id) => caches
            .webid
            .verify(http, storage.now_ms(), web_id, issuer)
            .await
            .map_err(Error::WebId),
        None => Ok(()),
    }
}

/// What waiting for the refresh lease gave.
enum Turn {
    /// This process refreshes: the lease, and the record as it is now.
    Refresh(Lease, SessionRecord),
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
    id: &str,
    first: &SessionRecord,
    issuer: &str,
    seen: Option<&str>,
) -> Result<Turn> {
    let started = storage.now_ms();
    let key = first.key();
    let stored_by_another = |record: &SessionRecord| -> Result<Option<Credentials>> {
        if record.access_token()? == seen {
            return Ok(None);
        }
        reusable(
            record,
            issuer,
            record.dpop_key()?.as_ref(),
            storage.now_ms(),
        )
    };
    loop {
        if let Attempt::Taken(taken) = lease::try_take(storage, id).await? {
            // Someone may have refreshed between this restore's first read and now.
            let turn = match SessionRecord::read(storage, key).await {
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
            let waited = storage.now_ms().saturating_sub(started);
            if waited > 2 * lease::LEASE_TTL_MS {
                return Err(Error::RefreshLeaseTimeout {
                    key: lease::lease_key(id),
                    millis: waited,
                });
            }
            storage.pause(lease::POLL_MS).await?;
            let Some(record) = SessionRecord::read(storage, key).await? else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::credentials::RENEWAL_MARGIN_MS;

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
            SessionRecord::parse("k", &format!(r#"{{"accessTokenIssuedAt":"{issued}"}}"#)).unwrap()
        };
        assert_eq!(stored_due_at_ms(&record("0"), 10_000), (8_000, Some(0)));
        assert_eq!(
            stored_due_at_ms(&record("0"), 3_600_000).0,
            3_600_000 - RENEWAL_MARGIN_MS
        );
        assert_eq!(
            stored_due_at_ms(&SessionRecord::empty("k"), 100_000),
            (100_000 - RENEWAL_MARGIN_MS, None)
        );
    }
}
