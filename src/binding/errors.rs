//! Core errors as JS errors. `kind` tells the JS layer which error class to build, `code` is
//! the error's code, and `key` names the storage key the error is about, when there is one.

use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, Status};

use crate::error::Error as CoreError;
use crate::protocol::webid_profile::WebIdError;

/// The one table of what each core error is in JS: its `code`, and the class the JS layer builds
/// for it (`None`: a plain `Error`). `lib/errors.js` knows the classes, not the codes.
pub fn js_kind(error: &CoreError) -> (&'static str, Option<&'static str>) {
    const STORAGE: Option<&str> = Some("StorageError");
    const IDP: Option<&str> = Some("IdentityProviderError");
    const OAUTH: Option<&str> = Some("OAuthError");
    const WEBID: Option<&str> = Some("WebIdError");
    match error {
        // The two that callers act on get codes of their own.
        CoreError::OAuth { error, .. } => match error.as_str() {
            "invalid_client" => ("ERR_OAUTH_INVALID_CLIENT", OAUTH),
            "invalid_grant" => ("ERR_OAUTH_INVALID_GRANT", OAUTH),
            _ => ("ERR_OAUTH", OAUTH),
        },
        CoreError::StorageCall { .. } => ("ERR_STORAGE_FAILED", STORAGE),
        CoreError::StorageTimeout { .. } => ("ERR_STORAGE_TIMEOUT", STORAGE),
        CoreError::LockWaitTimeout { .. }
        | CoreError::RefreshLeaseTimeout { .. }
        | CoreError::LeaseTimeout { .. } => ("ERR_STORAGE_LOCK_TIMEOUT", STORAGE),
        CoreError::CorruptedData { .. } => ("ERR_STORAGE_CORRUPTED", Some("StorageCorruptedError")),
        CoreError::IdpUnreachable { .. } => ("ERR_IDP_UNREACHABLE", IDP),
        CoreError::IdpBlockedAddress { .. } => ("ERR_IDP_BLOCKED_ADDRESS", IDP),
        CoreError::IdpTimeout { .. } => ("ERR_IDP_TIMEOUT", IDP),
        CoreError::IdpResponse { .. } => ("ERR_IDP_RESPONSE", IDP),
        CoreError::InvalidToken { .. } => ("ERR_INVALID_TOKEN", IDP),
        CoreError::InvalidRequest { .. } => ("ERR_INVALID_REQUEST", Some("TypeError")),
        CoreError::InvalidRedirect { .. } => ("ERR_INVALID_REDIRECT", Some("RedirectError")),
        CoreError::Configuration { .. } => ("ERR_CONFIGURATION", Some("ConfigurationError")),
        CoreError::Internal { .. } => ("ERR_INTERNAL", None),
        CoreError::WebId(e) => match e {
            WebIdError::Profile { .. } => ("ERR_WEBID_PROFILE", WEBID),
            WebIdError::IssuerMismatch { .. } => ("ERR_WEBID_ISSUER_MISMATCH", WEBID),
            WebIdError::NoIssuer { .. } => ("ERR_WEBID_NO_ISSUER", WEBID),
            WebIdError::IssuerChoice { .. } => ("ERR_WEBID_ISSUER_CHOICE", WEBID),
        },
    }
}

fn build(env: Env, error: &CoreError) -> napi::Result<()> {
    let mut js_error =
        env.create_error(napi::Error::new(Status::GenericFailure, error.to_string()))?;
    let (code, class) = js_kind(error);
    js_error.set_named_property("code", code)?;
    if let Some(class) = class {
        js_error.set_named_property("kind", class)?;
    }
    if let Some(key) = error.key() {
        js_error.set_named_property("key", key)?;
    }
    if let CoreError::OAuth {
        error, description, ..
    } = error
    {
        js_error.set_named_property("error", error.as_str())?;
        if let Some(description) = description {
            js_error.set_named_property("errorDescription", description.as_str())?;
        }
    }
    if let CoreError::WebId(e) = error {
        // Public: a WebID and the issuers its profile names, for an app that offers a choice.
        js_error.set_named_property("webId", e.webid())?;
        if let WebIdError::IssuerMismatch { issuer, .. } = e {
            js_error.set_named_property("issuer", issuer.as_str())?;
        }
        if let WebIdError::IssuerMismatch { listed, .. } | WebIdError::IssuerChoice { listed, .. } =
            e
        {
            js_error.set_named_property("issuers", listed.clone())?;
        }
    }
    env.throw(js_error)
}

/// Throws `error` into JS, and returns the napi error that tells the caller an exception is
/// already pending.
pub fn throw(env: Env, error: &CoreError) -> napi::Error {
    match build(env, error) {
        Ok(()) => napi::Error::new(Status::PendingException, String::new()),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webid_errors_have_codes_of_their_own_and_one_class() {
        let webid = "https://alice.example/card#me".to_owned();
        let listed = vec![
            "https://a.example/".to_owned(),
            "https://b.example/".to_owned(),
        ];
        let cases = [
            (
                WebIdError::Profile {
                    webid: webid.clone(),
                    problem: "answered HTTP 404".to_owned(),
                },
                "ERR_WEBID_PROFILE",
            ),
            (
                WebIdError::IssuerMismatch {
                    webid: webid.clone(),
                    issuer: "https://c.example/".to_owned(),
                    listed: listed.clone(),
                },
                "ERR_WEBID_ISSUER_MISMATCH",
            ),
            (
                WebIdError::NoIssuer {
                    webid: webid.clone(),
                },
                "ERR_WEBID_NO_ISSUER",
            ),
            (
                WebIdError::IssuerChoice {
                    webid: webid.clone(),
                    listed,
                },
                "ERR_WEBID_ISSUER_CHOICE",
            ),
        ];
        for (error, code) in cases {
            let error = CoreError::WebId(error);
            assert_eq!(js_kind(&error), (code, Some("WebIdError")));
            assert!(error.to_string().contains(&webid), "{error}");
            assert_eq!(error.key(), None);
        }
    }
}
