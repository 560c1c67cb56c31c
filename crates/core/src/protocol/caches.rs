//! What an operation keeps between calls, per Node environment (one per thread, so workers are
//! apart): discovered provider metadata, providers' key sets, the DPoP nonces token endpoints
//! sent, and the (WebID, issuer) pairs WebID profiles were found to name. Every grant, the restore and logout take it; it is its own module so that none
//! of them has to import another for it.

use std::rc::Rc;

use crate::protocol::discovery::DiscoveryCache;
use crate::protocol::jwks::JwksCache;
use crate::protocol::token::NonceCache;
use crate::protocol::webid_profile::WebIdCache;

/// The per-environment caches an operation uses; cloning shares them.
#[derive(Clone, Default)]
pub struct Caches {
    pub discovery: Rc<DiscoveryCache>,
    pub jwks: Rc<JwksCache>,
    pub token_nonces: Rc<NonceCache>,
    pub webid: Rc<WebIdCache>,
}
