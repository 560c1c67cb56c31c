//! The WebID check that ends every grant's login, made on the credentials the grant received
//! and before anything of them is stored (`protocol::webid_profile` holds the check itself).

use crate::error::Result;
use crate::http::Http;
use crate::protocol::caches::Caches;
use crate::protocol::credentials::Credentials;
use crate::protocol::webid_profile::{check_login, WebIdCheck};
use crate::storage::Storage;

/// The issuer to mark the session record with as verified for `credentials`' WebID; `None`
/// when the check is off (the record then carries no mark).
pub(super) async fn verified_issuer(
    http: &dyn Http,
    storage: &dyn Storage,
    caches: &Caches,
    check: WebIdCheck,
    credentials: &Credentials,
) -> Result<Option<String>> {
    let now_ms = storage.now_ms();
    let (webid, issuer) = (&credentials.web_id, &credentials.issuer);
    Ok(check_login(&caches.webid, http, now_ms, check, webid, issuer).await?)
}
