//! Time since the epoch, as the system clock tells it. The core reads the system clock here and
//! in DPoP proofs' `iat` only. What leases and restores go by is the store's clock
//! (`Storage::now_ms`), which is this one but for stores in tests, whose pauses move a clock of
//! their own so that a lease can be seen to lapse without waiting for it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch (0 for a clock set before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Seconds since the epoch (0 for a clock set before it).
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the epoch, `seconds` from now. Saturates rather than overflows: the
/// lifetimes given here are cut to a year where they enter, but this must not panic whatever it
/// is given.
pub fn expiry_from_now(seconds: u64) -> u64 {
    now_ms().saturating_add(seconds.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_saturates_instead_of_panicking() {
        assert_eq!(expiry_from_now(u64::MAX), u64::MAX);
        assert_eq!(expiry_from_now(1 << 63), u64::MAX);
        let in_an_hour = expiry_from_now(3600);
        assert!(in_an_hour > now_ms() + 3_590_000);
    }
}
