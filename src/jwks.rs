//! The identity provider's signing keys: fetched from its `jwks_uri`, kept per URI, and fetched
//! again when a token names a key the set does not hold (the provider rotated its keys). The
//! reference fetches them again for every token it checks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::http::{Http, HttpRequest};
use crate::jwt::JwkSet;

/// How long a key set is used before it is fetched again.
const LIFETIME: Duration = Duration::from_hours(1);
/// A token naming an unknown key makes the set be fetched again, but not more often than this:
/// tokens with made-up key ids must not turn into a stream of requests to the provider.
const REFETCH_GAP: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct JwksCache {
    entries: RefCell<HashMap<String, (Rc<JwkSet>, Instant)>>,
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
        let keys =
            Rc::new(JwkSet::parse(&response.body).map_err(|e| {
                Error::idp_response(uri, format!("the key set is not usable: {e}"))
            })?);
        self.entries
            .borrow_mut()
            .insert(uri.to_owned(), (keys.clone(), Instant::now()));
        Ok(keys)
    }
}
