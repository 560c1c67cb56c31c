//! The Promises of `RedisStorage` calls: the work runs on the Redis thread
//! (`crate::redis::spawn`), and its result comes back to the JS thread through one threadsafe
//! function per Node environment, which settles a plain Promise.
//!
//! Why not napi's `spawn_future_with_callback`, as HTTP requests use: it makes a threadsafe
//! function, an error object (for the rejection's stack) and a cleanup hook for every Promise,
//! and runs the work on napi's multi-threaded runtime, where the work and the connection's own
//! task may wake each other across threads. A restore pays that on every request; here a batch
//! costs a Promise, one wake of the Redis thread and one of the JS thread.
//!
//! The threadsafe function keeps the event loop alive only while a call is in flight (it is
//! referenced when the first starts and unreferenced when the last ends), so a forgotten
//! `RedisStorage` never keeps a script alive, and a call in flight is bounded by its timeout.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, RwLock};

use napi::bindgen_prelude::*;
use napi::sys;

type Finish = Box<dyn FnOnce(Env) -> Result<sys::napi_value> + Send>;

/// A finished call on its way to the JS thread.
struct Done {
    deferred: Crossing<sys::napi_deferred>,
    finish: Finish,
}

/// A pointer that crosses to the Redis thread and back untouched.
struct Crossing<T>(T);

// SAFETY: the deferred inside a `Done` is only used in `call_js`, on the JS thread of the
// environment that made it; napi lets any thread call a threadsafe function, and `Shared`
// makes sure none is called once Node has finalized it.
unsafe impl Send for Crossing<sys::napi_deferred> {}
unsafe impl Send for Crossing<sys::napi_threadsafe_function> {}
unsafe impl Sync for Crossing<sys::napi_threadsafe_function> {}

/// An environment's threadsafe function, until Node finalizes it (a worker that ends, the
/// process exiting): calls after that would reach freed memory, so they are not made.
struct Shared(RwLock<Option<Crossing<sys::napi_threadsafe_function>>>);

impl Shared {
    fn get(&self) -> Option<sys::napi_threadsafe_function> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|c| c.0)
    }
}

thread_local! {
    /// This environment's threadsafe function (one JS thread per environment).
    static TSFN: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
    /// Calls in flight, which keep the event loop alive.
    static IN_FLIGHT: Cell<u32> = const { Cell::new(0) };
}

unsafe extern "C" fn finalized(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    let shared = unsafe { Arc::from_raw(data.cast::<Shared>().cast_const()) };
    *shared
        .0
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

fn tsfn(env: &Env) -> Result<Arc<Shared>> {
    if let Some(shared) = TSFN.with(|t| t.borrow().clone()) {
        return Ok(shared);
    }
    let name = unsafe { <&str as ToNapiValue>::to_napi_value(env.raw(), "RedisStorage")? };
    let shared = Arc::new(Shared(RwLock::new(None)));
    let finalize_data = Arc::into_raw(shared.clone()).cast_mut();
    let mut tsfn = ptr::null_mut();
    let created = check_status!(unsafe {
        sys::napi_create_threadsafe_function(
            env.raw(),
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            finalize_data.cast(),
            Some(finalized),
            ptr::null_mut(),
            Some(call_js),
            &raw mut tsfn,
        )
    });
    if let Err(error) = created {
        drop(unsafe { Arc::from_raw(finalize_data.cast_const()) });
        return Err(error);
    }
    *shared
        .0
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Crossing(tsfn));
    check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn) })?;
    TSFN.with(|t| *t.borrow_mut() = Some(shared.clone()));
    Ok(shared)
}

fn begin(env: &Env, shared: &Shared) -> Result<()> {
    let n = IN_FLIGHT.with(Cell::get);
    if n == 0 {
        if let Some(tsfn) = shared.get() {
            check_status!(unsafe { sys::napi_ref_threadsafe_function(env.raw(), tsfn) })?;
        }
    }
    IN_FLIGHT.with(|c| c.set(n + 1));
    Ok(())
}

fn end(env: &Env) {
    let n = IN_FLIGHT.with(Cell::get).saturating_sub(1);
    IN_FLIGHT.with(|c| c.set(n));
    if n == 0 {
        if let Some(tsfn) = TSFN.with(|t| t.borrow().as_ref().and_then(|s| s.get())) {
            unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn) };
        }
    }
}

/// Runs `work` on the Redis thread; the Promise it returns settles with what `finish` makes of
/// the output, on the JS thread.
pub(super) fn promise<T: Send + 'static>(
    env: &Env,
    work: impl Future<Output = T> + Send + 'static,
    finish: impl FnOnce(Env, T) -> Result<sys::napi_value> + Send + 'static,
) -> Result<sys::napi_value> {
    let shared = tsfn(env)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check_status!(unsafe {
        sys::napi_create_promise(env.raw(), &raw mut deferred, &raw mut promise)
    })?;
    begin(env, &shared)?;
    let deferred = Crossing(deferred);
    let spawned = crate::redis::spawn(async move {
        let output = work.await;
        let done = Box::into_raw(Box::new(Done {
            deferred,
            finish: Box::new(move |env| finish(env, output)),
        }));
        // Held while calling, so that Node cannot finalize the function meanwhile.
        let guard = shared
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let status = match guard.as_ref() {
            Some(tsfn) => unsafe {
                sys::napi_call_threadsafe_function(
                    tsfn.0,
                    done.cast(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            },
            None => sys::Status::napi_closing,
        };
        drop(guard);
        // Closing: the environment is going away, and the Promise with it.
        if status != sys::Status::napi_ok {
            drop(unsafe { Box::from_raw(done) });
        }
    });
    if !spawned {
        end(env);
        return Err(Error::from_reason("the Redis thread could not be started"));
    }
    Ok(promise)
}

unsafe extern "C" fn call_js(
    env: sys::napi_env,
    _callback: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    let done = unsafe { Box::from_raw(data.cast::<Done>()) };
    // No environment: it is being torn down, and its Promises with it.
    if env.is_null() {
        return;
    }
    let env = Env::from_raw(env);
    let Done {
        deferred: Crossing(deferred),
        finish,
    } = *done;
    // A panic is a bug; it must not unwind into Node.
    let settled = catch_unwind(AssertUnwindSafe(|| finish(env))).unwrap_or_else(|payload| {
        let error = crate::panics::caught(payload);
        Err(Error::from_reason(error.to_string()))
    });
    unsafe {
        match settled {
            Ok(value) => sys::napi_resolve_deferred(env.raw(), deferred, value),
            Err(error) => match env.create_error(error) {
                Ok(object) => sys::napi_reject_deferred(env.raw(), deferred, object.raw()),
                Err(_) => sys::napi_resolve_deferred(env.raw(), deferred, ptr::null_mut()),
            },
        };
    }
    end(&env);
}
