//! Operations on a `RedisStorage` go on without JS between batches.
//!
//! JS awaits the Promise of a batch the binding made itself (a Redis pipeline, an HTTP request)
//! and then calls `resumeOperation`: one crossing per batch. On a `RedisStorage` every call an
//! operation makes is made natively, so when a batch's answers arrive (on the JS thread, in the
//! Promise's callback) the operation is run on right there; if its next batch is made natively
//! too, it is sent, and the Promise JS awaits resolves with the next one's, which JS follows
//! without knowing. Only what needs JS ends the chain (the operation finished, waits for a lock,
//! or issued calls that go out as several Promises): that step is parked in the operation, and
//! the `resumeOperation` JS makes when the chain settles hands it out. A refreshing restore is
//! then two calls into the binding, however many round trips it takes.

use napi::bindgen_prelude::*;
use napi::sys;

use super::operation::{advance, put_back, take_operation, BatchEntry, Outcome};
use super::wakes;
use crate::host::drive::Step;
use crate::host::HostCall;

/// What a native batch's Promise resolves with: the debug-log line(s), or the next batch's
/// Promise, which JS then follows.
pub(super) enum Link {
    Line(Option<String>),
    Next(sys::napi_value),
}

impl ToNapiValue for Link {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val {
            Link::Line(line) => unsafe { Option::<String>::to_napi_value(env, line) },
            Link::Next(promise) => Ok(promise),
        }
    }
}

/// Whether a step's calls go out as exactly one Promise: storage calls only (one pipeline), or
/// a single HTTP request.
fn one_promise(calls: &[(crate::host::Ticket, HostCall)]) -> bool {
    let http = calls
        .iter()
        .filter(|(_, c)| matches!(c, HostCall::Http(_)))
        .count();
    let storage = calls.len() - http;
    (http == 0 && storage > 0) || (http == 1 && storage == 0)
}

/// Called when a native batch of operation `id` has been answered: runs the operation on, when
/// it can go on without JS, and returns what the batch's Promise resolves with.
pub(super) fn next_link(env: &Env, id: u32, line: Option<String>) -> Result<Link> {
    let ready = take_operation(id).ok().map(|op| {
        let ready = op.is_native() && op.all_answered();
        (op, ready)
    });
    let Some((mut op, ready)) = ready else {
        // Cancelled meanwhile: nothing goes on.
        return Ok(Link::Line(line));
    };
    if !ready {
        put_back(id, op);
        return Ok(Link::Line(line));
    }
    let step = op.go_on();
    // Locks the operation released (or its end) may let others go on.
    wakes::notify_woken(*env);
    let chained = matches!(&step, Step::Calls(calls) if one_promise(calls));
    if !chained {
        op.park(step);
        let mut lines = std::mem::take(op.lines());
        put_back(id, op);
        lines.extend(line);
        return Ok(Link::Line((!lines.is_empty()).then(|| lines.join("\n"))));
    }
    op.lines().extend(line);
    // The operation is back in the table (or dropped, when its calls could not be sent).
    match advance(env, id, op, step)? {
        Ok(Outcome::Pending(pending)) => match pending.calls.into_iter().next() {
            Some(BatchEntry::Response(promise)) => Ok(Link::Next(promise)),
            _ => Ok(Link::Line(None)),
        },
        _ => Ok(Link::Line(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StorageMethod;
    use crate::host::StorageCall;
    use crate::http::HttpRequest;

    fn storage() -> HostCall {
        HostCall::Storage(StorageCall {
            method: StorageMethod::Get,
            key: "k".into(),
            key_is_json: false,
            value: None,
            ttl_ms: None,
        })
    }

    fn http() -> HostCall {
        HostCall::Http(HttpRequest::get(
            "https://idp.example/.well-known/openid-configuration",
        ))
    }

    #[test]
    fn only_a_batch_that_is_one_promise_is_chained() {
        assert!(one_promise(&[(1, storage())]));
        assert!(one_promise(&[(1, storage()), (2, storage())]));
        assert!(one_promise(&[(1, http())]));
        assert!(!one_promise(&[]));
        assert!(!one_promise(&[(1, http()), (2, http())]));
        assert!(!one_promise(&[(1, storage()), (2, http())]));
    }
}
