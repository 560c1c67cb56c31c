//! The option objects an app passes (`login`, `Session.fromAuthorizationRequestState`), read
//! property by property by their JS type. A property of the wrong type is reported in our words,
//! or ignored where the reference ignores it; never with napi's conversion error, which quotes
//! the value (and the value may be a secret).

use napi::bindgen_prelude::*;

/// An option's value; `undefined` is no option at all (`Option::None` around this).
pub enum Property {
    Text(String),
    Bool(bool),
    /// Anything else, `null` included.
    Other,
}

impl FromNapiValue for Property {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let mut kind = 0;
        check_status!(unsafe { sys::napi_typeof(env, value, &raw mut kind) })?;
        Ok(match kind {
            sys::ValueType::napi_string => {
                Self::Text(unsafe { String::from_napi_value(env, value)? })
            }
            sys::ValueType::napi_boolean => {
                Self::Bool(unsafe { bool::from_napi_value(env, value)? })
            }
            _ => Self::Other,
        })
    }
}

impl TypeName for Property {
    fn type_name() -> &'static str {
        "unknown"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

/// The strings of an array option (`customScopes`); nothing when it is not an array.
pub struct Strings(pub Vec<String>);

impl FromNapiValue for Strings {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let mut is_array = false;
        check_status!(unsafe { sys::napi_is_array(env, value, &raw mut is_array) })?;
        let mut strings = Vec::new();
        if is_array {
            let mut length = 0;
            check_status!(unsafe { sys::napi_get_array_length(env, value, &raw mut length) })?;
            for index in 0..length {
                let mut element = std::ptr::null_mut();
                check_status!(unsafe {
                    sys::napi_get_element(env, value, index, &raw mut element)
                })?;
                if let Property::Text(text) = unsafe { Property::from_napi_value(env, element)? } {
                    strings.push(text);
                }
            }
        }
        Ok(Self(strings))
    }
}

impl TypeName for Strings {
    fn type_name() -> &'static str {
        "unknown"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

/// The option's text; `None` when it is absent or not a string.
pub fn text(option: Option<Property>) -> Option<String> {
    match option {
        Some(Property::Text(text)) => Some(text),
        _ => None,
    }
}

/// The option's text, which must be there and not empty; else the `TypeError` saying `message`.
pub fn required_text(env: Env, option: Option<Property>, message: &str) -> Result<String> {
    match option {
        Some(Property::Text(text)) if !text.is_empty() => Ok(text),
        _ => Err(invalid_argument(env, message)),
    }
}

/// The WebID check an app's `verifyWebIdIssuer` option asks for: only `false` turns it off (the
/// reference has no such option, and the check is on by default).
pub fn webid_check(option: Option<Property>) -> crate::protocol::webid_profile::WebIdCheck {
    crate::protocol::webid_profile::WebIdCheck::from_option(match option {
        Some(Property::Bool(verify)) => Some(verify),
        _ => None,
    })
}

/// The option's text when it is there; the `TypeError` saying `message` when it is not a string.
pub fn optional_text(env: Env, option: Option<Property>, message: &str) -> Result<Option<String>> {
    match option {
        None => Ok(None),
        Some(Property::Text(text)) => Ok(Some(text)),
        Some(_) => Err(invalid_argument(env, message)),
    }
}

/// Throws the `TypeError` (`ERR_INVALID_ARG_TYPE`) for an option of the wrong type, and returns the
/// napi error that tells the caller an exception is already pending.
pub fn invalid_argument(env: Env, message: &str) -> Error {
    match env.throw_type_error(message, Some("ERR_INVALID_ARG_TYPE")) {
        Ok(()) => Error::new(Status::PendingException, String::new()),
        Err(e) => e,
    }
}
