//! Leases: one refresh of a session, and one change of the session list, at a time across every
//! process sharing a storage. The list lease (`hold`) is taken only with `setIfAbsent`; what
//! follows is about refresh leases.
//!
//! Two processes that refresh one session at once both present its refresh token. A provider
//! that rotates refresh tokens and detects reuse takes the second for a stolen token and revokes
//! the whole grant. So before refreshing, a process takes the session's lease, a record under
//! `solidClientAuthn:refreshLease:<session id>` naming its owner and when it lapses; a process
//! that finds it taken waits for the tokens the holder stores instead of refreshing.
//!
//! With a storage that has the optional `setIfAbsent(key, value, ttlMs)` (Redis: `SET NX PX`),
//! taking the lease is one atomic call: exactly one process gets it. A plain `IStorage` has no
//! atomic operation: the lease is written, then read back after a pause, and kept only if it is
//! still ours. Two processes then both refresh only if one read the lease as free and wrote its
//! own more than the pause after the other wrote; storage calls faster than the pause rule that
//! out. Either way a lease lapses by itself, so a process that dies holding one delays the
//! others by at most its lifetime.

use serde_json::{json, Value};

use crate::credentials::expiry_from_now;
use crate::error::{Error, Result};
use crate::random::url_safe_token;
use crate::storage::Storage;

/// The prefix of lease keys.
pub const LEASE_PREFIX: &str = "solidClientAuthn:refreshLease:";
/// How long a lease lasts: longer than a refresh takes (discovery, keys and the token request,
/// each bounded by the identity provider timeout).
pub const LEASE_TTL_MS: u64 = 15_000;
/// The pause between writing a lease and reading it back, on a storage without `setIfAbsent`.
pub const SETTLE_MS: u64 = 250;
/// How often a process waiting on another's lease looks for the tokens it stores.
pub const POLL_MS: u64 = 50;
/// The lease around changes to the session list (a read, then a write of one key).
pub const LIST_LEASE_KEY: &str = "solidClientAuthn:registeredSessionsLease";
/// How long a list lease lasts: far longer than a read and a write of one key take, and short
/// enough that one left by a process that died delays logins elsewhere only briefly.
pub const LIST_LEASE_TTL_MS: u64 = 5_000;

pub fn lease_key(session_id: &str) -> String {
    format!("{LEASE_PREFIX}{session_id}")
}

/// A lease this process holds.
#[derive(Debug)]
pub struct Lease {
    key: String,
    owner: String,
}

/// What trying to take the lease gave.
#[derive(Debug)]
pub enum Attempt {
    Taken(Lease),
    /// Another process holds it.
    HeldElsewhere,
}

fn new_owner() -> Result<String> {
    url_safe_token::<16>()
}

/// The owner of a stored lease that has not lapsed; `None` for no lease, a lapsed one, or one
/// that cannot be read (which is taken over rather than trusted).
fn live_owner(raw: Option<&str>, now_ms: u64) -> Option<String> {
    let Value::Object(lease) = serde_json::from_str::<Value>(raw?).ok()? else {
        return None;
    };
    let until = lease.get("until").and_then(Value::as_u64)?;
    let owner = lease.get("owner").and_then(Value::as_str)?;
    (until > now_ms).then(|| owner.to_owned())
}

/// Tries to take the refresh lease of `session_id`.
pub async fn try_take(storage: &dyn Storage, session_id: &str) -> Result<Attempt> {
    let key = lease_key(session_id);
    let owner = new_owner()?;
    let now = expiry_from_now(0);
    let value = json!({ "owner": owner, "until": now.saturating_add(LEASE_TTL_MS) }).to_string();
    match storage.set_if_absent(&key, &value, LEASE_TTL_MS).await? {
        Some(true) => return Ok(Attempt::Taken(Lease { key, owner })),
        Some(false) => return Ok(Attempt::HeldElsewhere),
        None => {}
    }
    if live_owner(storage.get(&key).await?.as_deref(), now).is_some() {
        return Ok(Attempt::HeldElsewhere);
    }
    storage.set(&key, &value).await?;
    storage.pause(SETTLE_MS).await?;
    let read_back = storage.get(&key).await?;
    if live_owner(read_back.as_deref(), expiry_from_now(0)).as_deref() == Some(owner.as_str()) {
        Ok(Attempt::Taken(Lease { key, owner }))
    } else {
        Ok(Attempt::HeldElsewhere)
    }
}

/// Takes the lease `key` with the storage's atomic `setIfAbsent`, waiting while another process
/// holds it; `None` when the storage has no atomic operation. (Unlike a refresh, a change to the
/// session list is too frequent and too short to pay for a written and read-back lease.)
pub async fn hold(storage: &dyn Storage, key: &str, ttl_ms: u64) -> Result<Option<Lease>> {
    let owner = new_owner()?;
    let started = expiry_from_now(0);
    let mut delay_ms = 2;
    loop {
        let until = expiry_from_now(0).saturating_add(ttl_ms);
        let value = json!({ "owner": owner, "until": until }).to_string();
        match storage.set_if_absent(key, &value, ttl_ms).await? {
            None => return Ok(None),
            Some(true) => {
                return Ok(Some(Lease {
                    key: key.to_owned(),
                    owner,
                }))
            }
            Some(false) => {}
        }
        // The lease lapses by itself after ttl_ms: still there after twice that, it was written
        // without an expiry, and nobody will ever get it.
        let waited = expiry_from_now(0).saturating_sub(started);
        if waited > 2 * ttl_ms {
            return Err(Error::LeaseTimeout {
                key: key.to_owned(),
                millis: waited,
            });
        }
        storage.pause(delay_ms).await?;
        delay_ms = (delay_ms * 2).min(POLL_MS);
    }
}

/// Whether the lease of `session_id` is still held by someone (not lapsed).
pub async fn is_held(storage: &dyn Storage, session_id: &str) -> Result<bool> {
    let raw = storage.get(&lease_key(session_id)).await?;
    Ok(live_owner(raw.as_deref(), expiry_from_now(0)).is_some())
}

/// Gives the lease back, if it is still ours (it may have lapsed and been taken meanwhile).
pub async fn release(storage: &dyn Storage, lease: Lease) -> Result<()> {
    let raw = storage.get(&lease.key).await?;
    if live_owner(raw.as_deref(), expiry_from_now(0)).as_deref() == Some(lease.owner.as_str()) {
        storage.delete(&lease.key).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use crate::testing::block_on;

    #[test]
    fn a_live_lease_names_its_owner_and_a_lapsed_or_unreadable_one_does_not() {
        let now = 1_000;
        assert_eq!(
            live_owner(Some(r#"{"owner":"a","until":2000}"#), now).as_deref(),
            Some("a")
        );
        assert_eq!(live_owner(Some(r#"{"owner":"a","until":999}"#), now), None);
        assert_eq!(live_owner(Some("not json"), now), None);
        assert_eq!(live_owner(Some(r#"{"owner":1,"until":2000}"#), now), None);
        assert_eq!(live_owner(None, now), None);
    }

    #[test]
    fn on_a_plain_storage_the_first_takes_the_lease_and_the_second_waits() {
        let storage = MemoryStorage::new();
        let first = block_on(try_take(&storage, "s")).unwrap();
        assert!(matches!(first, Attempt::Taken(_)));
        assert!(block_on(is_held(&storage, "s")).unwrap());
        assert!(matches!(
            block_on(try_take(&storage, "s")).unwrap(),
            Attempt::HeldElsewhere
        ));
        let Attempt::Taken(lease) = first else {
            unreachable!()
        };
        block_on(release(&storage, lease)).unwrap();
        assert!(!block_on(is_held(&storage, "s")).unwrap());
        assert!(matches!(
            block_on(try_take(&storage, "s")).unwrap(),
            Attempt::Taken(_)
        ));
    }

    #[test]
    fn a_lease_taken_over_after_it_lapsed_is_not_released_by_its_first_owner() {
        let storage = MemoryStorage::new();
        let Attempt::Taken(old) = block_on(try_take(&storage, "s")).unwrap() else {
            panic!("taken")
        };
        storage.set_now(
            &lease_key("s"),
            r#"{"owner":"other","until":99999999999999}"#,
        );
        block_on(release(&storage, old)).unwrap();
        assert!(block_on(is_held(&storage, "s")).unwrap());
    }
}
