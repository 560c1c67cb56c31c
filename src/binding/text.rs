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
        let text = unsafe { utf8(env, value)? };
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

/// Above this many UTF-16 units, a string is read the way napi-rs reads it (measured, then written).
const LONG_TEXT_UNITS: usize = 4 << 20;

/// The JS string `value` as UTF-8 (unpaired surrogates made U+FFFD), in one pass over it.
///
/// napi-rs asks V8 for the UTF-8 length first, which walks the whole string, then writes it.
/// The UTF-16 length is known without a walk, and no unit takes more than three bytes, so the
/// buffer is sized from it and the string written once. Records and session lists are read on
/// every restore and list call.
///
/// # Safety
/// `value` must be a string value of `env`, in the current native call.
unsafe fn utf8(env: sys::napi_env, value: sys::napi_value) -> Result<String> {
    let mut units = 0;
    check_status!(unsafe {
        sys::napi_get_value_string_utf16(env, value, std::ptr::null_mut(), 0, &raw mut units)
    })?;
    // A very long string is measured first instead, lest the buffer be three times it.
    if units > LONG_TEXT_UNITS {
        return unsafe { String::from_napi_value(env, value) };
    }
    // Room for the terminating NUL napi writes too.
    let capacity = units
        .checked_mul(3)
        .and_then(|bytes| bytes.checked_add(1))
        .ok_or_else(|| Error::new(Status::InvalidArg, "a string too long to read".to_owned()))?;
    let mut bytes: Vec<u8> = Vec::with_capacity(capacity);
    let mut written = 0;
    check_status!(unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            bytes.as_mut_ptr().cast(),
            capacity,
            &raw mut written,
        )
    })?;
    // SAFETY: napi wrote `written` bytes (at most `capacity - 1`) into the buffer.
    unsafe { bytes.set_len(written.min(capacity - 1)) };
    // Mostly ASCII: the buffer is up to three times the text; what is kept is the text's size.
    bytes.shrink_to_fit();
    String::from_utf8(bytes).map_err(|_| {
        Error::new(
            Status::InvalidArg,
            "a string napi did not write as UTF-8".to_owned(),
        )
    })
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
