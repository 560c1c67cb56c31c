//! A logged-in session's background timer: when it fires, and whether it then refreshes the
//! session or lets it expire. The JS `Session` only arms the timer this plans and emits the events.

use crate::protocol::credentials::Credentials;

/// How long before its access token expires a session that is not refreshed expires (the
/// reference's 5 s).
pub const EXPIRY_MARGIN_MS: u64 = 5_000;
/// The shortest wait before a background refresh, and the first wait before a failed one is
/// tried again; each failure in a row doubles it, up to `RETRY_MAX_MS`.
pub const RETRY_FIRST_MS: u64 = 1_000;
pub const RETRY_MAX_MS: u64 = 60_000;
/// A token with less than this to live when its timer is set is not refreshed in the background:
/// the session expires with it. A provider that issues tokens expiring at once (`expires_in: 0`)
/// would otherwise be asked for a new one every second, forever.
pub const MIN_REFRESHABLE_MS: u64 = 2_000;

/// What the timer does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerAction {
    /// Renews the session's credentials (see `restore::Renewal::Replacing`).
    Refresh,
    /// Logs the session out: its token is about to expire and will not be renewed.
    Expire,
}

/// When the timer fires (`delay_ms` from now) and what it does then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerPlan {
    pub delay_ms: u64,
    pub action: TimerAction,
}

/// What the plan goes by.
#[derive(Clone, Copy, Debug)]
pub struct SessionTimer {
    pub now_ms: u64,
    /// When the access token expires (ms since the epoch); a token without an expiry has no timer.
    pub expires_at_ms: Option<u64>,
    /// When it is due for renewal (`credentials::renewal_due_at_ms`); its expiry when unknown.
    pub renew_at_ms: Option<u64>,
    /// The session is refreshed in the background (the `keepAlive` option).
    pub keep_alive: bool,
    /// Storage holds what it takes to renew it (a refresh token, or a client's credentials).
    pub renewable: bool,
    /// Background refreshes of these credentials that failed in a row: after a failure, the
    /// next try waits 1 s, 2 s, 4 s … (at most a minute) while the token has time left.
    pub failed_refreshes: u32,
}

impl SessionTimer {
    /// The timer of a session holding `credentials`, as of now by the system clock.
    pub fn of(
        credentials: &Credentials,
        keep_alive: bool,
        renewable: bool,
        failed_refreshes: u32,
    ) -> Self {
        Self {
            now_ms: crate::clock::now_ms(),
            expires_at_ms: credentials.expires_at_ms,
            renew_at_ms: credentials.renewal_due_at_ms(),
            keep_alive,
            renewable,
            failed_refreshes,
        }
    }

    /// The timer to arm, or `None` when the token does not expire.
    pub fn plan(&self) -> Option<TimerPlan> {
        let expires_at = self.expires_at_ms?;
        let left = i128::from(expires_at) - i128::from(self.now_ms);
        let first = i128::from(RETRY_FIRST_MS);
        if self.failed_refreshes > 0 {
            let doublings = (self.failed_refreshes - 1).min(16);
            let backoff = (RETRY_FIRST_MS << doublings).min(RETRY_MAX_MS);
            if left - i128::from(backoff) >= first {
                return Some(refresh_after(i128::from(backoff)));
            }
            return Some(expire_after(left - first));
        }
        let refreshing =
            self.keep_alive && self.renewable && left >= i128::from(MIN_REFRESHABLE_MS);
        if refreshing {
            let renew_at = self.renew_at_ms.unwrap_or(expires_at);
            let until_due = i128::from(renew_at) - i128::from(self.now_ms);
            // Never a tight loop, whatever the token's lifetime.
            return Some(refresh_after(until_due.max(first)));
        }
        Some(expire_after(left - i128::from(EXPIRY_MARGIN_MS)))
    }
}

fn refresh_after(delay_ms: i128) -> TimerPlan {
    TimerPlan {
        delay_ms: clamp_delay(delay_ms),
        action: TimerAction::Refresh,
    }
}

fn expire_after(delay_ms: i128) -> TimerPlan {
    TimerPlan {
        delay_ms: clamp_delay(delay_ms),
        action: TimerAction::Expire,
    }
}

/// A delay of at least 0 ms (past moments are now).
fn clamp_delay(ms: i128) -> u64 {
    u64::try_from(ms.max(0)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000_000;

    /// A kept-alive, renewable session whose token expires `left` ms from now and is due at
    /// `due` ms from now.
    fn timer(left: u64, due: u64) -> SessionTimer {
        SessionTimer {
            now_ms: NOW,
            expires_at_ms: Some(NOW + left),
            renew_at_ms: Some(NOW + due),
            keep_alive: true,
            renewable: true,
            failed_refreshes: 0,
        }
    }

    #[allow(
        clippy::unnecessary_wraps,
        reason = "compared with what `plan` returns"
    )]
    fn refresh(delay_ms: u64) -> Option<TimerPlan> {
        Some(TimerPlan {
            delay_ms,
            action: TimerAction::Refresh,
        })
    }

    #[allow(
        clippy::unnecessary_wraps,
        reason = "compared with what `plan` returns"
    )]
    fn expire(delay_ms: u64) -> Option<TimerPlan> {
        Some(TimerPlan {
            delay_ms,
            action: TimerAction::Expire,
        })
    }

    #[test]
    fn a_kept_alive_session_refreshes_when_its_token_is_due() {
        assert_eq!(timer(3_600_000, 3_540_000).plan(), refresh(3_540_000));
        // A token due now, or overdue, is refreshed a second from now: never a tight loop.
        assert_eq!(timer(10_000, 0).plan(), refresh(1_000));
        let mut overdue = timer(10_000, 0);
        overdue.renew_at_ms = Some(NOW - 5_000);
        assert_eq!(overdue.plan(), refresh(1_000));
        // Without a renewal time, at expiry.
        let mut unknown = timer(10_000, 0);
        unknown.renew_at_ms = None;
        assert_eq!(unknown.plan(), refresh(10_000));
    }

    #[test]
    fn a_session_not_refreshed_expires_five_seconds_before_its_token() {
        let mut not_kept = timer(3_600_000, 3_540_000);
        not_kept.keep_alive = false;
        assert_eq!(not_kept.plan(), expire(3_595_000));
        let mut not_renewable = timer(60_000, 48_000);
        not_renewable.renewable = false;
        assert_eq!(not_renewable.plan(), expire(55_000));
        // Already within the margin, or expired: at once.
        not_renewable.expires_at_ms = Some(NOW + 3_000);
        assert_eq!(not_renewable.plan(), expire(0));
        not_renewable.expires_at_ms = Some(NOW - 3_000);
        assert_eq!(not_renewable.plan(), expire(0));
    }

    #[test]
    fn a_token_with_under_two_seconds_to_live_is_not_refreshed() {
        // `expires_in: 0`, or nearly: the session expires with it.
        assert_eq!(timer(0, 0).plan(), expire(0));
        assert_eq!(timer(1_999, 0).plan(), expire(0));
        assert_eq!(timer(2_000, 1_600).plan(), refresh(1_600));
    }

    #[test]
    fn a_token_without_an_expiry_has_no_timer() {
        let mut forever = timer(0, 0);
        forever.expires_at_ms = None;
        assert_eq!(forever.plan(), None);
        forever.failed_refreshes = 3;
        assert_eq!(forever.plan(), None);
    }

    #[test]
    fn failed_refreshes_back_off_to_a_minute_then_the_session_expires_with_its_token() {
        let mut failing = timer(3_600_000, 3_540_000);
        let waits: Vec<_> = (1..=9)
            .map(|failures| {
                failing.failed_refreshes = failures;
                failing.plan()
            })
            .collect();
        let expected: Vec<_> = [1, 2, 4, 8, 16, 32, 60, 60, 60]
            .iter()
            .map(|s| refresh(s * 1_000))
            .collect();
        assert_eq!(waits, expected);
        failing.failed_refreshes = u32::MAX;
        assert_eq!(failing.plan(), refresh(60_000), "no overflow");
        // A retry must leave a second of the token's life: else the session expires a second
        // before its token does.
        let mut short = timer(5_000, 4_000);
        short.failed_refreshes = 3;
        assert_eq!(short.plan(), refresh(4_000));
        short.failed_refreshes = 4;
        assert_eq!(short.plan(), expire(4_000));
        short.expires_at_ms = Some(NOW + 500);
        assert_eq!(short.plan(), expire(0));
        // keepAlive and renewable were settled when the refresh was planned.
        short.keep_alive = false;
        short.expires_at_ms = Some(NOW + 5_000);
        short.failed_refreshes = 1;
        assert_eq!(short.plan(), refresh(1_000));
    }
}
