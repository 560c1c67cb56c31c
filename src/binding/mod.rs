//! The napi edge: converts between JS values and the core's types. No protocol logic lives here.

#![allow(
    clippy::needless_pass_by_value,
    reason = "napi entry points receive owned values converted from JS"
)]

mod arrays;
mod caches;
mod credentials;
mod errors;
mod host_values;
mod operation;
mod options;
mod redis;
mod redis_promise;
mod session;
mod storage;
mod text;
mod wakes;
mod webid;

pub use arrays::set_array_maker;
pub use credentials::SessionCredentials;
pub use operation::{
    cancel_operation, log_http_requests, resume_operation, running_operations, wait_for_operation,
};
pub use redis::set_native_storage_timeout;
pub use session::{
    check_id_token, finish_authorization, log_in_with_client_credentials,
    log_in_with_refresh_token, log_out, restore_session, resume_authorization, start_authorization,
};
pub use storage::NativeStorage;
pub use webid::web_id_issuers;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::session::stored::StoredSession;
use crate::storage::multi_session;
use crate::storage::registry::ListAnswer;
use host_values::Outcome;
use operation::start;

/// Panics print nothing and become typed errors (see `crate::panics`). Not in this crate's own
/// tests, whose failures need the default hook's messages.
#[cfg(not(test))]
#[napi_derive::module_init]
fn quiet_panics() {
    crate::panics::install_quiet_hook();
}

/// A changed session list: its text, for JSON.parse, and its generation.
#[napi(object, object_from_js = false)]
pub struct SessionListText {
    pub generation: u32,
    pub json: String,
}

/// What changed in the session list since the generation JS holds: `remove` IDs from index `at`
/// replaced by those of `json` (a JSON array), which is then `generation`'s list.
#[napi(object, object_from_js = false)]
pub struct SessionListPatch {
    pub generation: u32,
    pub at: u32,
    pub remove: u32,
    pub json: String,
}

/// The session list's answer as JS receives it.
struct ListReply(ListAnswer);

impl ToNapiValue for ListReply {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val.0 {
            // The list JS holds is still the stored one.
            ListAnswer::Unchanged => unsafe { bool::to_napi_value(env, true) },
            ListAnswer::Changed { generation, json } => unsafe {
                SessionListText::to_napi_value(env, SessionListText { generation, json })
            },
            ListAnswer::Patched {
                generation,
                at,
                remove,
                json,
            } => unsafe {
                SessionListPatch::to_napi_value(
                    env,
                    SessionListPatch {
                        generation,
                        at,
                        remove,
                        json,
                    },
                )
            },
        }
    }
}

/// What `getSessionFromStorage` needs from a stored session record, and no more: the refresh
/// token stays in Rust. JS gets `[webId, clientAppId, keepAlive]`: an array costs V8 less to make
/// from native code than an object's named properties (each name interned, each property a map
/// transition), and less still made by `arrays::array`; a restore is the hot path.
pub struct StoredSessionSummary {
    pub web_id: Option<String>,
    pub client_app_id: Option<String>,
    pub keep_alive: bool,
}

impl ToNapiValue for StoredSessionSummary {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        unsafe {
            arrays::array(
                env,
                &[
                    Option::<String>::to_napi_value(env, val.web_id)?,
                    Option::<String>::to_napi_value(env, val.client_app_id)?,
                    bool::to_napi_value(env, val.keep_alive)?,
                ],
            )
        }
    }
}

impl From<&StoredSession> for StoredSessionSummary {
    fn from(s: &StoredSession) -> Self {
        Self {
            web_id: s.web_id.clone(),
            client_app_id: s.client_app_id.clone(),
            keep_alive: s.keep_alive,
        }
    }
}

/// Reads one session record: the summary, `null` for an unknown session, or the operation under
/// way (`PendingOperation`) when the store is implemented in JS.
///
/// Every starting function takes `parent`: the operation whose storage call JS is making right
/// now, if any (see `operation::start`).
#[napi(
    catch_unwind,
    ts_return_type = "[webId: string | null, clientAppId: string | null, keepAlive: boolean] | null | PendingOperation"
)]
pub fn load_session(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    session_id: String,
) -> Result<Outcome> {
    start(env, storage, parent, move |s, _| async move {
        let found = multi_session::load_session(&*s, &session_id).await?;
        Ok(found.as_deref().map(StoredSessionSummary::from))
    })
}

/// The registered session IDs, as checked JSON text with its generation; when JS holds
/// `knownGeneration`, `true` if the list has not changed (JS then reuses its array), or what
/// changed in it.
#[napi(
    catch_unwind,
    ts_return_type = "true | SessionListText | SessionListPatch | PendingOperation"
)]
pub fn list_session_ids(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    known_generation: Option<u32>,
) -> Result<Outcome> {
    let memo = storage.list_memo();
    start(env, storage, parent, move |s, _| async move {
        memo.read(&*s, known_generation).await.map(ListReply)
    })
}

/// Removes every registered session and empties the list.
#[napi(catch_unwind, ts_return_type = "undefined | PendingOperation")]
pub fn clear_all_sessions(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
) -> Result<Outcome> {
    start(env, storage, parent, |s, _| async move {
        multi_session::clear_all_sessions(&*s).await
    })
}

/// What discovery tells JS about an issuer: nothing secret, and only what JS needs.
#[napi(object, object_from_js = false)]
pub struct IssuerSummary {
    pub issuer: String,
    pub token_endpoint: String,
    pub scopes_supported: Vec<String>,
}

/// Discovers `issuer` (from the cache when it can) and, when the document was fetched, stores
/// the reference's `issuerConfig:<issuer>` record.
#[napi(catch_unwind, ts_return_type = "IssuerSummary | PendingOperation")]
pub fn discover_issuer(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    issuer: String,
) -> Result<Outcome> {
    let cache = caches::caches().discovery;
    start(env, storage, parent, move |s, http| async move {
        let found = cache.discover_and_record(&*http, &*s, &issuer).await?;
        let metadata = &found.metadata;
        Ok(IssuerSummary {
            issuer: metadata.issuer.clone(),
            token_endpoint: metadata.token_endpoint.clone(),
            scopes_supported: metadata.scopes_supported.clone(),
        })
    })
}

/// How long a request to an identity provider may take, from connecting to the last byte.
#[napi(catch_unwind)]
pub fn set_idp_timeout(millis: u32) {
    crate::http_engine::set_timeout_ms(u64::from(millis));
}

/// Whether requests to identity providers on private, loopback, link-local and other non-public
/// addresses are refused (process-wide; off by default).
#[napi(catch_unwind)]
pub fn set_block_private_networks(block: bool) {
    crate::http_engine::set_block_private_networks(block);
}

/// `text` as a message or a log line may quote outside text: bounded, control characters
/// escaped, the user information of URLs replaced (the rule of every native message).
#[napi(catch_unwind)]
pub fn quote(text: String) -> String {
    crate::quote::text(&text)
}

/// A storage key as messages name it: quoted, or by its kind when it holds a session ID or a
/// login's state (for the debug log's storage lines).
#[napi(catch_unwind)]
pub fn storage_key_name(key: String) -> String {
    crate::keys::KeyName(&key).to_string()
}

/// The message of the typed error for the last panic on this thread that a napi entry point
/// caught (napi makes an error of the panic's own message, which may quote a value), or nothing
/// when no panic happened since the last call.
#[napi(catch_unwind)]
pub fn take_panic_error() -> Option<String> {
    crate::panics::take_place().map(|place| crate::panics::internal(Some(place)).to_string())
}

/// Panics, for the tests of what a panic in an entry point becomes; debug builds only.
///
/// # Panics
///
/// Always, with `message`. A test hook: only in builds with the `test-hooks` feature (the debug
/// build the tests run against), never in a release.
#[cfg(feature = "test-hooks")]
#[napi(catch_unwind)]
pub fn panic_for_testing(message: String) {
    panic!("{message}");
}

/// How many requests to identity providers this process has started (for tests and benchmarks).
#[napi(catch_unwind)]
#[allow(
    clippy::cast_precision_loss,
    reason = "a request count stays far below 2^53"
)]
pub fn http_requests_sent() -> f64 {
    crate::http_engine::requests_sent() as f64
}

/// Removes one session's records and its entry in the list, as logging out does.
#[napi(catch_unwind, ts_return_type = "undefined | PendingOperation")]
pub fn forget_session(
    env: Env,
    storage: &NativeStorage,
    parent: Option<u32>,
    session_id: String,
) -> Result<Outcome> {
    start(env, storage, parent, move |s, _| async move {
        multi_session::forget_session(&*s, &session_id)
            .await
            .map(drop)
    })
}
