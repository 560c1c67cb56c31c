//! Two ways to drive one storage read of a restore from a JS store, with the same inputs and
//! outputs as the addon's (a pending operation with its calls; an outcome object):
//! - `start` + `resume`: the native side hands JS the calls and takes the answers back, as the
//!   addon does (lib/driver.js makes the calls);
//! - `run`: the native side calls `storage.get` itself and resolves once its Promise does.

use napi::bindgen_prelude::*;
use napi_derive::napi;

#[napi(object)]
pub struct Call {
    pub method: String,
    pub key: String,
}

#[napi(object)]
pub struct Pending {
    pub operation_id: u32,
    pub calls: Vec<Call>,
}

#[napi(object)]
pub struct Outcome {
    pub web_id: String,
    pub expires_at: f64,
    pub keep_alive: bool,
}

fn record_key(session_id: &str) -> String {
    format!("solidClientAuthenticationUser:{session_id}")
}

#[allow(clippy::cast_precision_loss)]
fn outcome(record: Option<&String>) -> Outcome {
    Outcome {
        web_id: "https://alice.example/card#me".to_owned(),
        expires_at: record.map_or(0, String::len) as f64,
        keep_alive: true,
    }
}

#[napi]
pub fn start(session_id: String) -> Pending {
    Pending {
        operation_id: 7,
        calls: vec![Call {
            method: "get".to_owned(),
            key: record_key(&session_id),
        }],
    }
}

#[napi]
pub fn resume(_operation_id: u32, values: Vec<Option<String>>) -> Outcome {
    outcome(values.first().and_then(Option::as_ref))
}

#[napi(ts_return_type = "Promise<Outcome>")]
pub fn run<'env>(
    env: &'env Env,
    storage: Object<'env>,
    session_id: String,
) -> Result<PromiseRaw<'env, Outcome>> {
    let get: Function<String, Unknown> = storage.get_named_property("get")?;
    let answer = get.apply(storage, record_key(&session_id))?;
    // An async store's `get` answers with a native Promise; this measurement needs no other case.
    let promise: PromiseRaw<Option<String>> =
        unsafe { PromiseRaw::from_napi_value(env.raw(), answer.raw())? };
    promise.then(|ctx| Ok(outcome(ctx.value.as_ref())))
}
