//! The identity provider's signing keys: fetched from its `jwks_uri`, kept per URI, and fetched
//! again when a token names a key the set does not hold (the provider rotated its keys). The
//! reference fetches them again for every token it checks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest};
use crate::protocol::jwt::JwkSet;
use crate::single_flight::SingleFlight;

/// How long a key set is used before it is fetched again.
const LIFETIME: Duration = Duration::from_hours(1);
/// A token naming an unknown key makes the set be fetched again, but not more often than this:
/// tokens with made-up key ids must not turn into a stream of requests to the provider.
const REFETCH_GAP: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct JwksCache {
    entries: RefCell<HashMap<String, (Rc<JwkSet>, Instant)>>,
    in_flight: SingleFlight<Rc<JwkSet>>,
}

impl JwksCache {
    /// The key set at `uri`, holding `kid` if the provider has such a key.
    pub async fn keys(&self, http: &dyn Http, uri: &str, kid: Option<&str>) -> Result<Rc<JwkSet>> {
        if let Some((keys, at)) = self.entries.borrow().get(uri) {
            let age = at.elapsed();
            let holds_it = kid.is_none_or(|k| keys.has_kid(k));
            if age < LIFETIME && (holds_it || age < REFETCH_GAP) {
                return Ok(keys.clone());
            }
        }
        self.in_flight.run(uri, || self.fetch(http, uri)).await
    }

    async fn fetch(&self, http: &dyn Http, uri: &str) -> Result<Rc<JwkSet>> {
        let response = http
            .send(HttpRequest::get(uri).header("accept", "application/json"))
            .await
            .map_err(|failure| Error::from_http_failure(uri, failure))?;
        if response.status != 200 {
            return Err(Error::idp_response(
                uri,
                format!(
                    "the key set answered HTTP {}, expected 200",
                    response.status
                ),
            ));
        }
        let keys = Rc::new(
            JwkSet::parse(&response.body).map_err(|e| Error::idp_response(uri, e.to_string()))?,
        );
        self.entries
            .borrow_mut()
            .insert(uri.to_owned(), (keys.clone(), Instant::now()));
        Ok(keys)
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpFailure, HttpResponse};
    use crate::tests::support::block_on;
    use std::cell::Cell;

    /// Serves a key set holding the key ids in `kids`, counting the fetches.
    struct KeySet {
        kids: std::cell::RefCell<Vec<&'static str>>,
        fetches: Cell<u32>,
    }

    // A P-256 public point (any valid one will do: these tests never verify a signature).
    const X: &str = "A9utpiRHis_lN1062ORnQ1WZYmvbVRzMPOoPIy8HnIY";
    const Y: &str = "epIwI9_5rY3-vTLiFtNVo6ESpnZgcSXGLhCBTkDqQkE";

    #[async_trait::async_trait(?Send)]
    impl Http for KeySet {
        async fn send(&self, _: HttpRequest) -> std::result::Result<HttpResponse, HttpFailure> {
            self.fetches.set(self.fetches.get() + 1);
            let keys: Vec<String> = self
                .kids
                .borrow()
                .iter()
                .map(|kid| {
                    format!(r#"{{"kty":"EC","crv":"P-256","x":"{X}","y":"{Y}","kid":"{kid}","alg":"ES256"}}"#)
                })
                .collect();
            Ok(HttpResponse {
                status: 200,
                headers: Vec::new(),
                body: format!(r#"{{"keys":[{}]}}"#, keys.join(",")).into_bytes(),
            })
        }
    }

    #[test]
    fn fetched_once_and_again_for_an_unknown_key_but_not_too_often() {
        let cache = JwksCache::default();
        let http = KeySet {
            kids: std::cell::RefCell::new(vec!["k1"]),
            fetches: Cell::new(0),
        };
        let keys = block_on(cache.keys(&http, "https://idp/jwks", Some("k1"))).unwrap();
        assert!(keys.has_kid("k1"));
        block_on(cache.keys(&http, "https://idp/jwks", Some("k1"))).unwrap();
        block_on(cache.keys(&http, "https://idp/jwks", None)).unwrap();
        assert_eq!(http.fetches.get(), 1);

        // The provider rotated its keys; a token names the new one. Within the refetch gap the
        // cached set is used as it is (a made-up kid must not turn into a stream of requests).
        http.kids.borrow_mut().push("k2");
        let keys = block_on(cache.keys(&http, "https://idp/jwks", Some("k2"))).unwrap();
        assert!(!keys.has_kid("k2"));
        assert_eq!(http.fetches.get(), 1);

        // Past the gap, an unknown kid makes it fetch the set again.
        if let Some((_, at)) = cache.entries.borrow_mut().get_mut("https://idp/jwks") {
            *at = at.checked_sub(REFETCH_GAP).unwrap_or(*at);
        }
        let keys = block_on(cache.keys(&http, "https://idp/jwks", Some("k2"))).unwrap();
        assert!(keys.has_kid("k2"));
        assert_eq!(http.fetches.get(), 2);
    }

    #[test]
    fn a_set_of_thousands_of_copies_of_a_key_is_refused_typed() {
        let http = KeySet {
            kids: std::cell::RefCell::new(vec!["k"; 12_000]),
            fetches: Cell::new(0),
        };
        let cache = JwksCache::default();
        let e = block_on(cache.keys(&http, "https://idp/jwks", Some("k"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the identity provider's answer from https://idp/jwks is not usable: the JSON Web Key Set is not usable: it holds more than 100 keys"
        );
        // Under the bound, the set is read once and kept; the token's check then refuses it.
        http.kids.borrow_mut().truncate(3);
        let keys = block_on(cache.keys(&http, "https://idp/jwks", Some("k"))).unwrap();
        block_on(cache.keys(&http, "https://idp/jwks", Some("k"))).unwrap();
        assert_eq!(http.fetches.get(), 2);
        assert!(keys.has_kid("k"));
    }

    #[test]
    fn a_key_set_that_is_not_one_is_a_typed_error() {
        struct Broken;
        #[async_trait::async_trait(?Send)]
        impl Http for Broken {
            async fn send(&self, _: HttpRequest) -> std::result::Result<HttpResponse, HttpFailure> {
                Ok(HttpResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: b"SECRET-BODY".to_vec(),
                })
            }
        }
        let e = block_on(JwksCache::default().keys(&Broken, "https://idp/jwks", None)).unwrap_err();
        assert!(matches!(e, Error::IdpResponse { .. }));
        assert!(!e.to_string().contains("SECRET"));
    }
}
