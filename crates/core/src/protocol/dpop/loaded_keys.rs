//! The keys loaded from session records lately, so that a session restored once per request
//! does not pay for loading its key each time.
//!
//! Loading a stored key checks that its point is the one of its scalar, a scalar multiplication:
//! about 12 µs of a restore's ~28 µs on this machine (bench/README.md). A server restores the
//! same sessions over and over, so the process keeps the last keys it loaded, by a digest of the
//! two stored texts: the same texts give the same key, and a text that changed by one character
//! is loaded and checked afresh. Only keys that loaded are kept; a refused key is refused again
//! every time.
//!
//! Two generations of at most `GENERATION` keys each: a key found in the older is moved to the
//! newer, and when the newer is full the older is dropped and the newer becomes the older. So the
//! keys in use stay, at most `2 × GENERATION` are held, and every step is a hash-map operation.
//! A session's logout drops its key (`forget`). A dropped key's scalar is zeroed (`DpopKey`'s `d` is `Zeroizing`, and ring's key pair goes when
//! its last session does).

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use super::DpopKey;

/// Keys per generation: with two, up to 8,192 sessions' keys (about 300 bytes each).
const GENERATION: usize = 4_096;

/// A digest of a stored key's two texts.
type Digest = [u8; 32];

struct Generations {
    newer: HashMap<Digest, DpopKey>,
    older: HashMap<Digest, DpopKey>,
}

static LOADED: Mutex<Option<Generations>> = Mutex::new(None);

/// The digest of the two stored texts, each with its length first, so that no two pairs of
/// texts run together into the same input.
fn digest_of(public_key_json: &str, private_key_json: &str) -> Digest {
    let mut hasher = Sha256::new();
    for text in [public_key_json, private_key_json] {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.finalize().into()
}

/// The key these texts loaded to before, or the one `load` makes of them now (kept when it
/// loads).
pub(super) fn loaded_or<E>(
    public_key_json: &str,
    private_key_json: &str,
    load: impl FnOnce() -> Result<DpopKey, E>,
) -> Result<DpopKey, E> {
    let digest = digest_of(public_key_json, private_key_json);
    if let Some(key) = with_generations(|kept| kept.find(&digest)) {
        return Ok(key);
    }
    // Loaded outside the lock: other threads' restores need not wait for this one's check.
    let key = load()?;
    with_generations(|kept| kept.keep(digest, key.clone()));
    Ok(key)
}

/// Drops the key of these texts, if it is kept: its session logged out, so its scalar need not
/// stay in memory until it would have aged out.
pub(super) fn forget(public_key_json: &str, private_key_json: &str) {
    with_generations(|kept| {
        // A clear deletes every session: in a process that restored none, nothing to digest.
        if kept.newer.is_empty() && kept.older.is_empty() {
            return;
        }
        let digest = digest_of(public_key_json, private_key_json);
        kept.newer.remove(&digest);
        kept.older.remove(&digest);
    });
}

/// Whether the key of these texts is kept (for tests of the code that forgets keys).
#[cfg(test)]
pub(crate) fn is_kept(public_key_json: &str, private_key_json: &str) -> bool {
    let digest = digest_of(public_key_json, private_key_json);
    with_generations(|kept| kept.newer.contains_key(&digest) || kept.older.contains_key(&digest))
}

fn with_generations<T>(work: impl FnOnce(&mut Generations) -> T) -> T {
    // A panic while the lock was held left at worst a key kept or not: the maps stay whole.
    let mut guard = LOADED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let kept = guard.get_or_insert_with(|| Generations {
        newer: HashMap::new(),
        older: HashMap::new(),
    });
    work(kept)
}

impl Generations {
    fn find(&mut self, digest: &Digest) -> Option<DpopKey> {
        if let Some(key) = self.newer.get(digest) {
            return Some(key.clone());
        }
        let key = self.older.remove(digest)?;
        self.keep(*digest, key.clone());
        Some(key)
    }

    fn keep(&mut self, digest: Digest, key: DpopKey) {
        if self.newer.len() >= GENERATION {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(digest, key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (String, String, DpopKey) {
        let key = DpopKey::generate().unwrap();
        (
            key.public_jwk_json(),
            key.private_jwk_json().expose().to_owned(),
            key,
        )
    }

    /// `loaded_or` for these texts, counting in `loads` the times it had to load the key.
    fn load_counting(
        public: &str,
        private: &str,
        loads: &mut u32,
    ) -> Result<DpopKey, super::super::DpopError> {
        loaded_or(public, private, || {
            *loads += 1;
            DpopKey::from_stored_unkept(public, private)
        })
    }

    #[test]
    fn the_same_texts_load_once() {
        let (public, private, key) = fresh();
        let mut loads = 0;
        for _ in 0..3 {
            let loaded = load_counting(&public, &private, &mut loads).unwrap();
            assert_eq!(loaded.thumbprint(), key.thumbprint());
        }
        assert_eq!(loads, 1);
    }

    #[test]
    fn a_forgotten_key_is_loaded_again() {
        let (public, private, _) = fresh();
        let mut loads = 0;
        load_counting(&public, &private, &mut loads).unwrap();
        load_counting(&public, &private, &mut loads).unwrap();
        forget(&public, &private);
        load_counting(&public, &private, &mut loads).unwrap();
        assert_eq!(loads, 2);
    }

    #[test]
    fn a_refused_key_is_not_kept() {
        let (public, _, _) = fresh();
        let (_, other_private, _) = fresh();
        let mut loads = 0;
        for _ in 0..2 {
            assert!(load_counting(&public, &other_private, &mut loads).is_err());
        }
        assert_eq!(loads, 2);
    }

    #[test]
    fn texts_that_differ_are_loaded_apart() {
        let (public, private, key) = fresh();
        // The same key written with another member order: other texts, loaded again, same key.
        let reordered = private.replacen(
            r#""kty":"EC","crv":"P-256""#,
            r#""crv":"P-256","kty":"EC""#,
            1,
        );
        assert_ne!(reordered, private);
        let mut loads = 0;
        for private in [&private, &reordered] {
            let loaded = load_counting(&public, private, &mut loads).unwrap();
            assert_eq!(loaded.thumbprint(), key.thumbprint());
        }
        assert_eq!(loads, 2);
        // Lengths go into the digest: moving text from one to the other changes it.
        assert_ne!(digest_of("ab", "c"), digest_of("a", "bc"));
    }

    #[test]
    fn generations_bound_what_is_kept_and_keep_what_is_used() {
        let key = DpopKey::generate().unwrap();
        let mut kept = Generations {
            newer: HashMap::new(),
            older: HashMap::new(),
        };
        let digest = |i: usize| digest_of(&i.to_string(), "");
        kept.keep(digest(0), key.clone());
        for i in 1..3 * GENERATION {
            kept.keep(digest(i), key.clone());
            // Key 0 is used all along, so it is never dropped.
            if i % 1000 == 0 {
                assert!(kept.find(&digest(0)).is_some());
            }
            assert!(kept.len() <= 2 * GENERATION);
        }
        assert!(kept.find(&digest(0)).is_some());
        assert!(kept.find(&digest(1)).is_none());
    }
}
