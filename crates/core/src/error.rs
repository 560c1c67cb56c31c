//! Errors of the protocol core.
//!
//! Messages name the storage key and what was wrong with it, never the stored value: session
//! records hold refresh tokens and private keys. A key that holds a session ID or a login's
//! `state` is named by its kind instead (see [`KeyName`]): a session ID is what a web app keeps
//! in its users' cookies. Every field that can hold text from outside (a key, a URL, a
//! provider's words, a reason quoting them) goes through [`quote`] when a message is made, so no
//! message is unbounded, breaks a log line, or shows a URL's password.

use std::fmt;

use crate::keys::KeyName;
use crate::quote;

/// Which storage method a failed call was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageMethod {
    Get,
    Set,
    Delete,
    /// The optional atomic `setIfAbsent(key, value, ttlMs)` of a storage that has it.
    SetIfAbsent,
    /// Not a storage method: a pause the host makes (a timer), for waits between storage reads.
    Sleep,
}

impl StorageMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageMethod::Get => "get",
            StorageMethod::Set => "set",
            StorageMethod::Delete => "delete",
            StorageMethod::SetIfAbsent => "setIfAbsent",
            StorageMethod::Sleep => "sleep",
        }
    }
}

impl fmt::Display for StorageMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call into a storage did not give an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageFailure {
    /// The storage threw or rejected; the text says how and with what kind of value ("it threw
    /// a `TypeError`"), never what the value says: a storage's own message may quote the value it
    /// was given (a record with a refresh token and a private key). The JS side keeps the value
    /// itself as the error's `cause`.
    Failed(String),
    /// The storage did not settle within the limit, in milliseconds.
    TimedOut(u64),
    /// The storage answered with something that is not a string (for `get`); the text names
    /// the type it gave.
    WrongType(String),
    /// `get` answered with text holding an unpaired UTF-16 surrogate where JSON cannot have one
    /// (outside a string, or right after a backslash).
    UnpairedSurrogate,
}

// Not `non_exhaustive`: the binding crate maps every variant to a JS error code, and a new
// variant must make it say which.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A storage method threw, rejected or answered with a value of the wrong type. `message`
    /// says which, never what the storage's own error said (see `StorageFailure::Failed`).
    #[error("storage.{method}({}) failed: {}", KeyName(.key), quote::reason(.message))]
    StorageCall {
        method: StorageMethod,
        key: String,
        message: String,
    },
    /// A storage method did not settle in time.
    #[error("storage.{method}({}) did not settle within {millis} ms{}", KeyName(.key), deadlock_hint(*.blocking_others))]
    StorageTimeout {
        method: StorageMethod,
        key: String,
        millis: u64,
        /// Whether the operation held a lock that another operation was waiting for.
        blocking_others: bool,
    },
    /// Data under a storage key is not what the reference layout says it must be.
    #[error("the data stored under {} is corrupted: {}", KeyName(.key), quote::reason(.reason))]
    CorruptedData { key: String, reason: String },
    /// No response came from the identity provider: no connection, a broken one, or a request
    /// that could not be made.
    #[error("the identity provider could not be reached at {}: {}", quote::text(.url), quote::reason(.reason))]
    IdpUnreachable { url: String, reason: String },
    /// The identity provider was not contacted: private networks are blocked
    /// (`setBlockPrivateNetworks`) and its host is, or resolves to, an address off the public
    /// internet.
    #[error("the identity provider at {} was not contacted: {} {} {kind}, and requests to private networks are blocked", quote::text(.url), quote::text(.host), if *.resolved { "resolves to" } else { "is" })]
    IdpBlockedAddress {
        url: String,
        host: String,
        /// Whether `host` is a name that resolved to the address, rather than the address.
        resolved: bool,
        kind: &'static str,
    },
    /// The identity provider did not answer within the limit.
    #[error("the identity provider did not answer {} within {millis} ms", quote::text(.url))]
    IdpTimeout { url: String, millis: u64 },
    /// The identity provider answered, but not as the protocol says it must. The reason never
    /// quotes the body: it may hold tokens.
    #[error("the identity provider's answer from {} is not usable: {}", quote::text(.url), quote::reason(.reason))]
    IdpResponse { url: String, reason: String },
    /// The identity provider refused a request with an OAuth error (RFC 6749 §5.2). `error` and
    /// the provider's own `description` are kept; neither is ours to rewrite.
    #[error("the identity provider refused the request to {}: {}{}", quote::text(.url), quote::text(.error), description.as_deref().map(|d| format!(" ({})", quote::text(d))).unwrap_or_default())]
    OAuth {
        url: String,
        error: String,
        description: Option<String>,
    },
    /// A token the identity provider issued does not hold what it must, or does not verify.
    #[error("the identity provider's token is not acceptable: {}", quote::reason(.reason))]
    InvalidToken { reason: String },
    /// A request could not be prepared on our side (a proof for a URL that is not http or
    /// https, say).
    #[error("the request could not be prepared: {}", quote::reason(.reason))]
    InvalidRequest { reason: String },
    /// A redirect back from the identity provider that cannot finish a login: an unknown or
    /// used `state`, an `iss` that is not the issuer, or no `code`.
    #[error("the redirect cannot finish a login: {}", quote::reason(.reason))]
    InvalidRedirect { reason: String },
    /// The identity provider cannot serve the login asked for (no registration endpoint, no
    /// signing algorithm in common, ...).
    #[error("{}", quote::reason(.reason))]
    Configuration { reason: String },
    /// Another operation on the same store held a key this one needed for too long.
    #[error("gave up waiting for the lock on {} after {millis} ms: another operation on this storage held it all that time (a storage method that calls back into this package on the same storage after an await can cause this)", KeyName(.key))]
    LockWaitTimeout { key: String, millis: u64 },
    /// Another process held a session's refresh lease for too long without storing new tokens.
    #[error("gave up waiting for the session's refresh lease after {millis} ms: another process kept refreshing this session and stored no new access token")]
    RefreshLeaseTimeout { key: String, millis: u64 },
    /// A bug: the package panicked. The operation was stopped where it was; the reason says
    /// where in the code, never what values it had.
    #[error("internal error in solid-client-authn-native (please report it): {reason}")]
    Internal { reason: String },
    /// A lease that should lapse by itself was still held long after its lifetime.
    #[error("gave up waiting for the lease {} after {millis} ms: it should have lapsed by itself long before (was it written without an expiry?); delete it from the storage (the error's `key` names it)", KeyName(.key))]
    LeaseTimeout { key: String, millis: u64 },
    /// A WebID's profile could not be read, does not name the provider that logged it in, or
    /// (for a login by WebID) names no provider or several. Nothing of the login was stored.
    #[error(transparent)]
    WebId(#[from] crate::protocol::webid_profile::WebIdError),
}

/// How much of an OAuth `error` code is kept: the registered ones are short.
const OAUTH_ERROR_MAX_CHARS: usize = 100;
/// How much of an `error_description` is kept: a sentence or two.
const OAUTH_DESCRIPTION_MAX_CHARS: usize = 300;

fn deadlock_hint(blocking_others: bool) -> &'static str {
    if blocking_others {
        " (meanwhile another operation on this storage waited for a lock this one held: if the storage method was waiting for that operation, for example because it calls back into this package after an await, this is a deadlock)"
    } else {
        ""
    }
}

impl Error {
    pub fn from_failure(method: StorageMethod, key: &str, failure: StorageFailure) -> Self {
        match failure {
            StorageFailure::Failed(message) => Error::StorageCall {
                method,
                key: key.to_owned(),
                message,
            },
            StorageFailure::WrongType(type_name) => Error::StorageCall {
                method,
                key: key.to_owned(),
                message: format!("it answered with {type_name}, expected a string or undefined"),
            },
            StorageFailure::TimedOut(millis) => Error::StorageTimeout {
                method,
                key: key.to_owned(),
                millis,
                blocking_others: false,
            },
            StorageFailure::UnpairedSurrogate => Error::corrupted(
                key,
                "it holds an unpaired UTF-16 surrogate outside a JSON string, so it is not valid JSON",
            ),
        }
    }

    /// The error for a request to the identity provider that got no response.
    pub fn from_http_failure(url: &str, failure: crate::http::HttpFailure) -> Self {
        use crate::http::HttpFailure;
        match failure {
            HttpFailure::TimedOut(millis) => Error::IdpTimeout {
                url: url.to_owned(),
                millis,
            },
            HttpFailure::Blocked {
                host,
                resolved,
                kind,
            } => Error::IdpBlockedAddress {
                url: url.to_owned(),
                host,
                resolved,
                kind,
            },
            HttpFailure::Unreachable(reason) | HttpFailure::Invalid(reason) => {
                Error::IdpUnreachable {
                    url: url.to_owned(),
                    reason,
                }
            }
        }
    }

    /// A refusal in the provider's words, kept (they become `error` and `errorDescription` in
    /// JS) but not in an unbounded amount: any user can send a redirect with a description of a
    /// megabyte for their own login.
    pub fn oauth(url: &str, error: &str, description: Option<&str>) -> Self {
        Error::OAuth {
            url: url.to_owned(),
            error: error.chars().take(OAUTH_ERROR_MAX_CHARS).collect(),
            description: description.map(|d| d.chars().take(OAUTH_DESCRIPTION_MAX_CHARS).collect()),
        }
    }

    pub fn idp_response(url: &str, reason: impl Into<String>) -> Self {
        Error::IdpResponse {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }

    pub fn corrupted(key: &str, reason: impl Into<String>) -> Self {
        Error::CorruptedData {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// The storage key this error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::StorageCall { key, .. }
            | Error::StorageTimeout { key, .. }
            | Error::CorruptedData { key, .. }
            | Error::LockWaitTimeout { key, .. }
            | Error::RefreshLeaseTimeout { key, .. }
            | Error::LeaseTimeout { key, .. } => Some(key),
            Error::IdpUnreachable { .. }
            | Error::IdpBlockedAddress { .. }
            | Error::IdpTimeout { .. }
            | Error::IdpResponse { .. }
            | Error::OAuth { .. }
            | Error::InvalidToken { .. }
            | Error::InvalidRequest { .. }
            | Error::InvalidRedirect { .. }
            | Error::Configuration { .. }
            | Error::Internal { .. }
            | Error::WebId(_) => None,
        }
    }
}

/// A DPoP key or proof that could not be made: our side, so the request was never sent. The
/// message never holds key material (`DpopError` is built not to).
impl From<crate::protocol::dpop::DpopError> for Error {
    fn from(e: crate::protocol::dpop::DpopError) -> Self {
        Error::InvalidRequest {
            reason: e.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_method_and_key() {
        let e = Error::from_failure(
            StorageMethod::Get,
            "k",
            StorageFailure::Failed("it threw a TypeError".into()),
        );
        assert_eq!(
            e.to_string(),
            "storage.get(\"k\") failed: it threw a TypeError"
        );
        let e = Error::from_failure(StorageMethod::Set, "k", StorageFailure::TimedOut(50));
        assert_eq!(
            e.to_string(),
            "storage.set(\"k\") did not settle within 50 ms"
        );
        let e = Error::from_failure(
            StorageMethod::Get,
            "k",
            StorageFailure::WrongType("a number".into()),
        );
        assert!(e.to_string().contains("answered with a number"));
        assert_eq!(e.key(), Some("k"));
    }

    const SESSION_ID: &str = "3f1d7c1e-cookie-value";

    /// Every error about `key` that names a storage key in its message.
    fn errors_about(key: &str) -> Vec<Error> {
        vec![
            Error::from_failure(
                StorageMethod::Get,
                key,
                StorageFailure::Failed("it threw a TypeError".into()),
            ),
            Error::from_failure(
                StorageMethod::Set,
                key,
                StorageFailure::WrongType("a number".into()),
            ),
            Error::from_failure(StorageMethod::Delete, key, StorageFailure::TimedOut(10)),
            Error::from_failure(StorageMethod::Get, key, StorageFailure::UnpairedSurrogate),
            Error::corrupted(key, "it is not a JSON object"),
            Error::LockWaitTimeout {
                key: key.to_owned(),
                millis: 10,
            },
            Error::RefreshLeaseTimeout {
                key: key.to_owned(),
                millis: 10,
            },
            Error::LeaseTimeout {
                key: key.to_owned(),
                millis: 10,
            },
        ]
    }

    #[test]
    fn a_session_record_or_state_is_named_by_its_kind_never_quoted() {
        let state_or_record = crate::storage::record_key(SESSION_ID);
        for e in errors_about(&state_or_record) {
            let message = e.to_string();
            assert!(!message.contains(SESSION_ID), "{message}");
            assert_eq!(
                e.key(),
                Some(state_or_record.as_str()),
                "the error keeps the key"
            );
        }
        assert_eq!(
            Error::from_failure(
                StorageMethod::Get,
                &state_or_record,
                StorageFailure::TimedOut(10_000)
            )
            .to_string(),
            "storage.get(<a session record or login state>) did not settle within 10000 ms"
        );
        assert_eq!(
            Error::from_failure(
                StorageMethod::Set,
                &state_or_record,
                StorageFailure::Failed("it threw a TypeError".into())
            )
            .to_string(),
            "storage.set(<a session record or login state>) failed: it threw a TypeError"
        );
        assert_eq!(
            Error::corrupted(&state_or_record, "it is not a JSON object").to_string(),
            "the data stored under <a session record or login state> is corrupted: it is not a JSON object"
        );
        assert!(Error::LockWaitTimeout {
            key: state_or_record.clone(),
            millis: 10
        }
        .to_string()
        .starts_with(
            "gave up waiting for the lock on <a session record or login state> after 10 ms:"
        ));
    }

    #[test]
    fn a_record_key_given_as_a_json_literal_is_named_by_its_kind() {
        // How a key with an unpaired surrogate reaches the storage (`delete_escaped`).
        let literal = format!("\"solidClientAuthenticationUser:{SESSION_ID}\\ud800\"");
        let e = Error::from_failure(
            StorageMethod::Delete,
            &literal,
            StorageFailure::Failed("it threw a TypeError".into()),
        );
        assert_eq!(
            e.to_string(),
            "storage.delete(<a session record or login state>) failed: it threw a TypeError"
        );
    }

    #[test]
    fn a_refresh_lease_is_named_by_its_kind_never_quoted() {
        let lease = format!("{}{SESSION_ID}", crate::storage::lease::LEASE_PREFIX);
        for e in errors_about(&lease) {
            let message = e.to_string();
            assert!(!message.contains(SESSION_ID), "{message}");
            assert_eq!(e.key(), Some(lease.as_str()));
        }
        assert_eq!(
            Error::from_failure(
                StorageMethod::SetIfAbsent,
                &lease,
                StorageFailure::TimedOut(10)
            )
            .to_string(),
            "storage.setIfAbsent(<a session's refresh lease>) did not settle within 10 ms"
        );
        assert!(Error::RefreshLeaseTimeout {
            key: lease.clone(),
            millis: 30_001
        }
        .to_string()
        .starts_with("gave up waiting for the session's refresh lease after 30001 ms:"));
        assert!(Error::LeaseTimeout {
            key: lease,
            millis: 30_001
        }
        .to_string()
        .starts_with("gave up waiting for the lease <a session's refresh lease> after 30001 ms:"));
    }

    #[test]
    fn keys_without_an_id_or_state_are_quoted() {
        let issuer_config = crate::storage::issuer_config_key("https://idp.example/");
        let client = format!(
            "{}[\"https://idp.example/\",\"https://app.example/cb\"]",
            crate::protocol::registration::DYNAMIC_CLIENT_PREFIX
        );
        for key in [
            crate::storage::REGISTERED_SESSIONS_KEY,
            crate::storage::lease::LIST_LEASE_KEY,
            issuer_config.as_str(),
            client.as_str(),
        ] {
            assert_eq!(
                Error::from_failure(StorageMethod::Get, key, StorageFailure::TimedOut(10))
                    .to_string(),
                format!(
                    "storage.get(\"{}\") did not settle within 10 ms",
                    quote::text(key)
                )
            );
            assert_eq!(
                Error::corrupted(key, "it is a number").to_string(),
                format!(
                    "the data stored under \"{}\" is corrupted: it is a number",
                    quote::text(key)
                )
            );
        }
        assert!(Error::LeaseTimeout {
            key: crate::storage::lease::LIST_LEASE_KEY.to_owned(),
            millis: 10_001
        }
        .to_string()
        .starts_with(
            "gave up waiting for the lease \"solidClientAuthn:registeredSessionsLease\" after 10001 ms:"
        ));
    }
}
