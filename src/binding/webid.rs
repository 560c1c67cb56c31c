//! WebID profiles for the app: the identity providers a WebID names, for a picker
//! (`getWebIdIssuers`).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::caches::caches;
use super::host_values::Outcome;
use super::operation::start;
use super::storage::NativeStorage;

/// The identity providers the profile of `webId` names (`solid:oidcIssuer`), in the profile's
/// order; an empty list when it names none. The profile is read as a login reads it (through
/// this environment's WebID cache, so that a login with one of them that follows asks again for
/// nothing).
#[napi(catch_unwind, ts_return_type = "string[] | PendingOperation")]
pub fn web_id_issuers(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    web_id: String,
) -> Result<Outcome> {
    let caches = caches();
    start(env, storage, parent, move |s, http| async move {
        let listed = caches.webid.issuers(&*http, s.now_ms(), &web_id).await?;
        Ok(listed.to_vec())
    })
}
