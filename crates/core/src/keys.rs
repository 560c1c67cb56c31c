//! The storage keys of the reference's layout, and how messages name them. A ground floor of
//! its own: the storage layer writes under these keys, and errors name them, without either
//! importing the other.

use std::fmt;

use crate::quote;

/// The key of the JSON array that lists every registered session ID.
pub const REGISTERED_SESSIONS_KEY: &str = "solidClientAuthn:registeredSessions";
/// The prefix of per-record keys: session records and authorization-state mappings.
pub const USER_RECORD_PREFIX: &str = "solidClientAuthenticationUser:";
/// The prefix of the discovery records the reference writes (and never reads back).
pub const ISSUER_CONFIG_PREFIX: &str = "issuerConfig:";
/// The prefix of a session's refresh-lease key (ours; the reference has no leases).
pub const LEASE_PREFIX: &str = "solidClientAuthn:refreshLease:";

/// The key of the discovery record of `issuer`, as given by the caller.
pub fn issuer_config_key(issuer: &str) -> String {
    format!("{ISSUER_CONFIG_PREFIX}{issuer}")
}

/// The key under which the record of a session (or of an OAuth `state`) is stored.
pub fn record_key(id: &str) -> String {
    let mut key = String::with_capacity(USER_RECORD_PREFIX.len() + id.len());
    key.push_str(USER_RECORD_PREFIX);
    key.push_str(id);
    key
}

/// A storage key as a message names it: quoted, or, when it holds a session ID or a login's
/// `state`, by its kind in angle brackets. The error keeps the key itself (its `key` in JS).
///
/// The kind is told from the key's prefix: a session's record and a login's state mapping share
/// one (`solidClientAuthenticationUser:`), so both are named at once. The session list, its
/// lease, the discovery records and the client records hold no ID (an issuer is not secret), and
/// stay quoted.
pub struct KeyName<'a>(pub &'a str);

impl KeyName<'_> {
    /// What the key is, when the message must not quote it.
    pub fn hidden_kind(&self) -> Option<&'static str> {
        // A key handed to the storage as a JSON string literal (one with an unpaired
        // surrogate) starts with its quote.
        let key = self.0.strip_prefix('"').unwrap_or(self.0);
        if key.starts_with(USER_RECORD_PREFIX) {
            Some("a session record or login state")
        } else if key.starts_with(LEASE_PREFIX) {
            Some("a session's refresh lease")
        } else {
            None
        }
    }
}

impl fmt::Display for KeyName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hidden_kind() {
            Some(kind) => write!(f, "<{kind}>"),
            None => write!(f, "\"{}\"", quote::text(self.0)),
        }
    }
}
