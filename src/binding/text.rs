//! JS strings as Rust reads them. A JS string may hold unpaired UTF-16 surrogates, which a Rust
//! string cannot: napi's UTF-8 conversion turns each into U+FFFD, which would make two distinct
//! keys one. So a string with a U+FFFD in it (rare) is read again as UTF-16 to tell.

use napi::bindgen_prelude::*;
use napi::sys;

/// A JS string: its text, or its UTF-16 code units when one of them is an unpaired surrogate.
pub enum JsText {
    Text(String),
    Unpaired(Vec<u16>),
}

impl JsText {
    /// Reads the JS string `value`.
    ///
    /// # Safety
    /// `value` must be a string value of `env`, in the current native call.
    pub unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let text = unsafe { String::from_napi_value(env, value)? };
        if !text.contains('\u{fffd}') {
            return Ok(Self::Text(text));
        }
        let mut length = 0;
        check_status!(unsafe {
            sys::napi_get_value_string_utf16(env, value, std::ptr::null_mut(), 0, &raw mut length)
        })?;
        let mut units = vec![0_u16; length + 1];
        check_status!(unsafe {
            sys::napi_get_value_string_utf16(
                env,
                value,
                units.as_mut_ptr(),
                units.len(),
                &raw mut length,
            )
        })?;
        units.truncate(length);
        Ok(match String::from_utf16(&units) {
            Ok(text) => Self::Text(text),
            Err(_) => Self::Unpaired(units),
        })
    }
}

/// The index of the first unpaired surrogate among `units`, for an error message.
pub fn first_unpaired(units: &[u16]) -> usize {
    let mut at = 0;
    for decoded in char::decode_utf16(units.iter().copied()) {
        match decoded {
            Ok(c) => at += c.len_utf16(),
            Err(_) => break,
        }
    }
    at
}

/// What a value given for a JS string is, when it is not one ("a number", "null").
pub fn kind_of(env: sys::napi_env, value: sys::napi_value) -> Result<&'static str> {
    Ok(match type_of!(env, value)? {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::BigInt => "a bigint",
        ValueType::Symbol => "a symbol",
        ValueType::Function => "a function",
        _ => "an object",
    })
}

/// Any JS value, read as a string where it is one.
pub enum MaybeText {
    Text(JsText),
    /// Not a string: what it is.
    Other(&'static str),
}

impl FromNapiValue for MaybeText {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        match kind_of(env, value)? {
            "a string" => Ok(Self::Text(unsafe { JsText::read(env, value)? })),
            other => Ok(Self::Other(other)),
        }
    }
}

impl TypeName for MaybeText {
    fn type_name() -> &'static str {
        "unknown"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for MaybeText {}

#[cfg(test)]
mod tests {
    use super::first_unpaired;

    #[test]
    fn the_first_unpaired_surrogate_is_found_after_pairs() {
        // "a", a pair (U+1F600), a lone high surrogate, "b".
        assert_eq!(first_unpaired(&[0x61, 0xd83d, 0xde00, 0xd800, 0x62]), 3);
        assert_eq!(first_unpaired(&[0xdc00]), 0);
    }
}
