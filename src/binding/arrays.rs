//! Arrays handed to JS on the hot paths (a batch of calls, a restore's summary).
//!
//! Node-API fills an array one `napi_set_element` at a time, each a generic property store in V8;
//! a JS function `(...items) => items`, called with the items, makes the same array for the cost
//! of one call (measured on release builds, an array of a number, a string and a boolean:
//! 290-450 ns element by element, 160-190 ns through the function, 100-130 ns of it the string).
//! `lib/storage.js` registers that function when it loads (`setArrayMaker`), once per Node
//! environment; without it, arrays are filled element by element.

use std::cell::Cell;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

thread_local! {
    /// The registered function, held by a reference that lasts as long as its environment (one
    /// per thread: each worker has its own); null until one is registered.
    static MAKER: Cell<sys::napi_ref> = const { Cell::new(std::ptr::null_mut()) };
}

/// Registers `maker`, a function that returns its arguments as an array (`(...items) => items`),
/// which arrays for JS are then made with. Registering again replaces it.
#[napi(
    catch_unwind,
    ts_args_type = "maker: (...items: unknown[]) => unknown[]"
)]
pub fn set_array_maker(env: Env, maker: Function<'_, (), Unknown<'_>>) -> Result<()> {
    let mut reference = std::ptr::null_mut();
    check_status!(unsafe {
        sys::napi_create_reference(env.raw(), maker.raw(), 1, &raw mut reference)
    })?;
    let old = MAKER.with(|m| m.replace(reference));
    if !old.is_null() {
        check_status!(unsafe { sys::napi_delete_reference(env.raw(), old) })?;
    }
    Ok(())
}

/// A JS array of `items`, in order.
///
/// # Safety
/// `items` must be values of `env`, in the current native call, on its thread, with no JS
/// exception pending.
pub(super) unsafe fn array(
    env: sys::napi_env,
    items: &[sys::napi_value],
) -> Result<sys::napi_value> {
    let maker = MAKER.with(Cell::get);
    if !maker.is_null() {
        let mut function = std::ptr::null_mut();
        check_status!(unsafe { sys::napi_get_reference_value(env, maker, &raw mut function) })?;
        if !function.is_null() {
            let mut this = std::ptr::null_mut();
            check_status!(unsafe { sys::napi_get_undefined(env, &raw mut this) })?;
            let mut made = std::ptr::null_mut();
            check_status!(unsafe {
                sys::napi_call_function(
                    env,
                    this,
                    function,
                    items.len(),
                    items.as_ptr(),
                    &raw mut made,
                )
            })?;
            return Ok(made);
        }
    }
    let mut made = std::ptr::null_mut();
    check_status!(unsafe { sys::napi_create_array_with_length(env, items.len(), &raw mut made) })?;
    for (index, item) in (0..).zip(items) {
        check_status!(unsafe { sys::napi_set_element(env, made, index, *item) })?;
    }
    Ok(made)
}
