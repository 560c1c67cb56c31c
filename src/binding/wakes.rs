//! Wakes of operations that wait for a key lock or for a restore they joined: which were woken, and the JS callbacks that
//! resume them. Per thread, as the operations are; the operation table and the stores both call
//! `notify_woken` before they return to JS.

use std::cell::RefCell;
use std::collections::HashMap;

use napi::bindgen_prelude::*;

thread_local! {
    /// Operations whose wake signal fired since the last JS call returned.
    static READY: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    /// The JS callbacks of operations that wait for a wake.
    static WAITING: RefCell<HashMap<u32, FunctionRef<(), ()>>> = RefCell::new(HashMap::new());
}

/// Operation `id`'s wake signal fired (from a lock release, on this thread).
pub(super) fn woken(id: u32) {
    READY.with(|r| r.borrow_mut().push(id));
}

/// Operation `id` waits for a wake; `callback` resumes it.
pub(super) fn wait(id: u32, callback: FunctionRef<(), ()>) {
    WAITING.with(|w| w.borrow_mut().insert(id, callback));
}

/// Operation `id` no longer waits (it ended, or is resumed otherwise).
pub(super) fn stop_waiting(id: u32) {
    WAITING.with(|w| w.borrow_mut().remove(&id));
}

/// Calls the JS callbacks of waiting operations that were woken. Wakes come from lock releases
/// inside some operation's poll or drop, so every entry point calls this before returning to JS.
/// Best effort: a callback that cannot be called leaves its operation to its lock-wait timer,
/// which resumes it all the same.
pub(super) fn notify_woken(env: Env) {
    let ready = READY.with(|r| std::mem::take(&mut *r.borrow_mut()));
    for id in ready {
        if let Some(callback) = WAITING.with(|w| w.borrow_mut().remove(&id)) {
            let _ = callback.borrow_back(&env).and_then(|f| f.call(()));
        }
    }
}
