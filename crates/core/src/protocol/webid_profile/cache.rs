//! Verified (WebID, issuer) pairs, kept for a while, and profile lookups shared while in flight.
//!
//! Every login ends with a check of its WebID's profile, and a server restarting under load
//! logs many users of one provider in at once. A pair the profile listed is kept for
//! [`VERIFIED_LIFETIME_MS`] by the clock the caller passes (the store's, `Storage::now_ms`, so
//! that tests move it), at most [`MAX_VERIFIED`] pairs; concurrent lookups of one WebID's profile
//! share one request and its outcome, a failure included. A mismatch or an unreadable profile is
//! not kept: the next check fetches again, so a profile its owner has just fixed counts at once,
//! and every such check is a login the provider already answered.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::{issuers_of, verify_issuer, WebIdError};
use crate::http::Http;
use crate::single_flight::SingleFlight;

/// How long a verified pair is used before the profile is read again, in milliseconds: a WebID's
/// owner who removes a provider from the profile shuts it out within this time.
pub const VERIFIED_LIFETIME_MS: u64 = 10 * 60 * 1000;
/// How many verified pairs are kept; past it the one closest to expiring goes first.
pub const MAX_VERIFIED: usize = 1024;

/// The verified pairs and lookups in flight of one Node environment.
#[derive(Default)]
pub struct WebIdCache {
    /// When each verified (WebID, issuer without its trailing slashes) pair expires, in ms.
    verified: RefCell<HashMap<(String, String), u64>>,
    in_flight: SingleFlight<Result<Rc<[String]>, WebIdError>>,
}

fn pair(webid: &str, issuer: &str) -> (String, String) {
    (webid.to_owned(), issuer.trim_end_matches('/').to_owned())
}

impl WebIdCache {
    /// Whether the profile of `webid` names `issuer` (trailing slashes aside): from a pair
    /// verified within [`VERIFIED_LIFETIME_MS`] before `now_ms`, or else from the profile.
    pub async fn verify(
        &self,
        http: &dyn Http,
        now_ms: u64,
        webid: &str,
        issuer: &str,
    ) -> Result<(), WebIdError> {
        if self.is_verified(now_ms, webid, issuer) {
            return Ok(());
        }
        let listed = self.issuers(http, now_ms, webid).await?;
        verify_issuer(webid, issuer, &listed)
    }

    /// The identity providers the profile of `webid` names, read from it now (a login by WebID
    /// asks before it starts, and an app's picker shows them). Each is kept as verified, so the
    /// check at the end of the login that follows needs no second request.
    pub async fn issuers(
        &self,
        http: &dyn Http,
        now_ms: u64,
        webid: &str,
    ) -> Result<Rc<[String]>, WebIdError> {
        let shared = self
            .in_flight
            .run(webid, || async {
                Ok(issuers_of(http, webid).await.map(Rc::from))
            })
            .await;
        let listed = match shared {
            Ok(outcome) => outcome?,
            // The lookup never fails as a flight (its failures are its outcome); worded anyway.
            Err(e) => return Err(WebIdError::profile(webid, e.to_string())),
        };
        for issuer in listed.iter() {
            self.remember(now_ms, webid, issuer);
        }
        Ok(listed)
    }

    fn is_verified(&self, now_ms: u64, webid: &str, issuer: &str) -> bool {
        let verified = self.verified.borrow();
        verified
            .get(&pair(webid, issuer))
            .is_some_and(|&expires| fresh(now_ms, expires))
    }

    fn remember(&self, now_ms: u64, webid: &str, issuer: &str) {
        let mut verified = self.verified.borrow_mut();
        let key = pair(webid, issuer);
        if verified.len() >= MAX_VERIFIED && !verified.contains_key(&key) {
            verified.retain(|_, &mut expires| fresh(now_ms, expires));
            if verified.len() >= MAX_VERIFIED {
                let soonest = verified
                    .iter()
                    .min_by_key(|(_, &expires)| expires)
                    .map(|(key, _)| key.clone());
                if let Some(soonest) = soonest {
                    verified.remove(&soonest);
                }
            }
        }
        verified.insert(key, now_ms.saturating_add(VERIFIED_LIFETIME_MS));
    }

    /// How many verified pairs are kept (for tests of the bound).
    #[cfg(test)]
    pub fn verified_count(&self) -> usize {
        self.verified.borrow().len()
    }
}

/// Whether a pair expiring at `expires` is still good at `now_ms`. One that expires further off
/// than a whole lifetime was kept by a clock since set back: not trusted.
fn fresh(now_ms: u64, expires: u64) -> bool {
    now_ms < expires && expires - now_ms <= VERIFIED_LIFETIME_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verified_pairs_are_bounded_and_the_soonest_to_expire_goes_first() {
        let cache = WebIdCache::default();
        let webid = "https://alice.example/card#me";
        for n in 0..MAX_VERIFIED {
            cache.remember(
                1_000 + n as u64,
                webid,
                &format!("https://idp-{n}.example/"),
            );
        }
        assert_eq!(cache.verified_count(), MAX_VERIFIED);
        let now = 1_000 + MAX_VERIFIED as u64;
        cache.remember(now, webid, "https://newest.example/");
        assert_eq!(cache.verified_count(), MAX_VERIFIED);
        assert!(!cache.is_verified(now, webid, "https://idp-0.example/"));
        assert!(cache.is_verified(now, webid, "https://idp-1.example"));
        assert!(cache.is_verified(now, webid, "https://newest.example"));
        // Remembering a pair already kept makes no room.
        cache.remember(now, webid, "https://idp-1.example/");
        assert!(cache.is_verified(now, webid, "https://idp-2.example/"));

        // Past their lifetime, all go at the next insertion that needs room.
        let later = now + VERIFIED_LIFETIME_MS;
        cache.remember(later, webid, "https://idp-0.example/");
        assert_eq!(cache.verified_count(), 1);
        assert!(cache.is_verified(later, webid, "https://idp-0.example/"));
    }

    #[test]
    fn a_pair_is_another_webids_or_issuers_pair_only_by_trailing_slashes() {
        let cache = WebIdCache::default();
        cache.remember(0, "https://alice.example/card#me", "https://idp.example//");
        assert!(cache.is_verified(1, "https://alice.example/card#me", "https://idp.example"));
        assert!(!cache.is_verified(1, "https://alice.example/card#you", "https://idp.example"));
        assert!(!cache.is_verified(1, "https://alice.example/card#me", "https://idp.example/a"));
        assert!(!cache.is_verified(
            VERIFIED_LIFETIME_MS,
            "https://alice.example/card#me",
            "https://idp.example"
        ));
        assert!(fresh(u64::MAX - 1, u64::MAX));
        assert!(!fresh(u64::MAX, u64::MAX));
    }
}
