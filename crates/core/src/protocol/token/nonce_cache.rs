//! The `DPoP-Nonce` each origin last sent (RFC 9449 §8 and §9), bounded in what it keeps.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::http::HttpResponse;

/// The latest `DPoP-Nonce` each origin sent, for one Node environment.
///
/// Any server `session.fetch` reaches can send one, so what is kept is bounded: one entry per
/// origin as the URL standard spells it (`http://A:0080` and `http://a` are one), at most
/// `MAX_ORIGINS` of them (the one set longest ago goes first), and no nonce longer than
/// `MAX_NONCE_BYTES`.
#[derive(Default, Debug)]
pub struct NonceCache {
    entries: RefCell<NonceEntries>,
}

#[derive(Default, Debug)]
struct NonceEntries {
    /// Per origin: its nonce, and when it was set (a count, the key of `by_age`).
    by_origin: HashMap<String, (String, u64)>,
    /// The origins by when their nonce was set, oldest first.
    by_age: BTreeMap<u64, String>,
    sets: u64,
}

/// How many origins' nonces are kept: far more than the servers one process talks to at a time.
pub const MAX_ORIGINS: usize = 4096;
/// A longer nonce is not kept (RFC 9449 nonces are short opaque strings, tens of characters).
pub const MAX_NONCE_BYTES: usize = 512;
/// An origin longer than this (a host name beyond what DNS allows) keeps no nonce.
const MAX_ORIGIN_BYTES: usize = 300;

/// The origin of a URL as the URL standard serialises it: scheme, lower-cased host and port,
/// the scheme's default port left out (`https://idp.example:8443`). `None` for a URL that does
/// not parse or has no such origin (`data:`, `file:`).
pub fn origin_of(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

impl NonceCache {
    pub fn get(&self, url: &str) -> Option<String> {
        let origin = origin_of(url)?;
        let entries = self.entries.borrow();
        entries
            .by_origin
            .get(&origin)
            .map(|(nonce, _)| nonce.clone())
    }

    /// Keeps `nonce` as the latest for the origin of `url`. One that is too long to keep still
    /// replaces what was kept: the origin's earlier nonce is stale now.
    pub fn set(&self, url: &str, nonce: &str) {
        let Some(origin) = origin_of(url).filter(|o| o.len() <= MAX_ORIGIN_BYTES) else {
            return;
        };
        let mut entries = self.entries.borrow_mut();
        let entries = &mut *entries;
        if let Some((_, set_at)) = entries.by_origin.remove(&origin) {
            entries.by_age.remove(&set_at);
        }
        if nonce.len() > MAX_NONCE_BYTES {
            return;
        }
        while entries.by_origin.len() >= MAX_ORIGINS {
            let Some((_, oldest)) = entries.by_age.pop_first() else {
                break;
            };
            entries.by_origin.remove(&oldest);
        }
        entries.sets += 1;
        let set_at = entries.sets;
        entries.by_age.insert(set_at, origin.clone());
        entries.by_origin.insert(origin, (nonce.to_owned(), set_at));
    }

    pub fn remember(&self, url: &str, response: &HttpResponse) {
        if let Some(nonce) = response.header("dpop-nonce") {
            self.set(url, nonce);
        }
    }

    /// How many origins have a nonce kept.
    pub fn len(&self) -> usize {
        self.entries.borrow().by_origin.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        let cases = [
            (
                "https://idp.example:8443/a/b?c#d",
                "https://idp.example:8443",
            ),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://LocalHost:0003000/x", "http://localhost:3000"),
            ("https://IDP.example:443/", "https://idp.example"),
            ("HTTP://idp.example:80", "http://idp.example"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            ("http://127.000.000.001:8080/", "http://127.0.0.1:8080"),
        ];
        for (url, origin) in cases {
            assert_eq!(origin_of(url).as_deref(), Some(origin), "{url}");
        }
        assert_eq!(origin_of("data:text/plain,x"), None);
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn a_nonce_is_kept_once_per_origin_however_it_is_spelled() {
        let nonces = NonceCache::default();
        for zeros in 0..3000 {
            let port = format!("{}3000", "0".repeat(zeros));
            nonces.set(&format!("http://LOCALHOST:{port}/r{zeros}"), "n");
        }
        assert_eq!(nonces.len(), 1);
        assert_eq!(nonces.get("http://localhost:3000/").as_deref(), Some("n"));
        nonces.set("http://localhost:3000/x", "m");
        assert_eq!(nonces.get("http://localhost:03000/y").as_deref(), Some("m"));
        // No origin, no nonce.
        nonces.set("data:text/plain,x", "n");
        assert_eq!(nonces.len(), 1);
    }

    #[test]
    fn nonces_are_bounded_in_number_and_length() {
        let nonces = NonceCache::default();
        for port in 1..=MAX_ORIGINS + 100 {
            nonces.set(&format!("http://rs.example:{port}/"), "n");
        }
        assert_eq!(nonces.len(), MAX_ORIGINS);
        // The earliest set went first; the latest are kept.
        assert_eq!(nonces.get("http://rs.example:1/"), None);
        assert_eq!(nonces.get("http://rs.example:100/"), None);
        let last = format!("http://rs.example:{}/", MAX_ORIGINS + 100);
        assert_eq!(nonces.get(&last).as_deref(), Some("n"));
        // Setting again makes an origin the newest.
        let early = "http://rs.example:101/";
        nonces.set(early, "again");
        nonces.set("http://another.example/", "n");
        assert_eq!(nonces.get(early).as_deref(), Some("again"));
        assert_eq!(nonces.get("http://rs.example:102/"), None);
        assert_eq!(nonces.len(), MAX_ORIGINS);

        // Too long to keep: the origin's earlier nonce goes too.
        nonces.set(&last, &"x".repeat(MAX_NONCE_BYTES + 1));
        assert_eq!(nonces.get(&last), None);
        nonces.set(&last, &"x".repeat(MAX_NONCE_BYTES));
        assert_eq!(nonces.get(&last).map(|n| n.len()), Some(MAX_NONCE_BYTES));
        let long_host = format!("http://{}.example/", "a".repeat(400));
        nonces.set(&long_host, "n");
        assert_eq!(nonces.get(&long_host), None);
    }
}
