//! When a stream reconnects, and after how long: the bookkeeping of one
//! stream across its connections, apart from any I/O so that it is tested
//! on its own.

use std::time::Duration;

use reqwest::StatusCode;

use super::Backoff;

/// Fresh tokens fetched in a row when the node refuses the stream's
/// token (401): it may have expired, or been minted in the last moments
/// of a second with a lifetime of one.
pub const MAX_REFRESHES: u32 = 2;

/// A stream's reconnection state.
#[derive(Debug, Clone)]
pub(crate) struct Retry {
    backoff: Backoff,
    /// The server's `retry:` hint: no reconnection comes sooner.
    floor: Duration,
    /// Failed attempts since the last connection that said `beacon.connected`.
    attempt: u32,
    /// Tokens fetched after a 401, since the last connection that worked.
    refreshes: u32,
    /// A connection said `beacon.connected` (the node is the right one).
    connected_once: bool,
    /// Retry an unreachable node even before the first connection.
    keep_trying: bool,
}

/// What happens after a connection attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// Try again after this long.
    RetryAfter(Duration),
    /// Fetch a fresh token and try again at once.
    Refresh,
    /// Give up: the failure is final.
    GiveUp,
}

impl Retry {
    pub fn new(backoff: Backoff, keep_trying: bool) -> Self {
        Retry {
            backoff,
            floor: Duration::ZERO,
            attempt: 0,
            refreshes: 0,
            connected_once: false,
            keep_trying,
        }
    }

    /// A `retry:` field.
    pub fn hint(&mut self, delay: Duration) {
        self.floor = delay.min(self.backoff.max);
    }

    /// The connection said `beacon.connected`: the next failure starts
    /// the backoff afresh.
    pub fn connected(&mut self) {
        self.attempt = 0;
        self.refreshes = 0;
        self.connected_once = true;
    }

    /// The delay before reconnecting after a connection that ended (went
    /// silent, broke, or was ended by the node, which it will serve again).
    pub fn after_end(&mut self, random: f64) -> Duration {
        self.next_delay(self.floor, random)
    }

    /// The node refused the connection with `status`: 408, 429 and 5xx
    /// are retried (no sooner than `retry_after`); a 401 is worth a fresh
    /// token when there is a way to get one (at most [`MAX_REFRESHES`]
    /// times in a row); anything else is final.
    pub fn after_refusal(
        &mut self,
        status: StatusCode,
        retry_after: Option<Duration>,
        can_refresh: bool,
        random: f64,
    ) -> Then {
        if status == StatusCode::UNAUTHORIZED {
            if can_refresh && self.refreshes < MAX_REFRESHES {
                self.refreshes += 1;
                return Then::Refresh;
            }
            return Then::GiveUp;
        }
        let retryable = status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error();
        if !retryable {
            return Then::GiveUp;
        }
        let floor = self.floor.max(retry_after.unwrap_or_default());
        Then::RetryAfter(self.next_delay(floor, random))
    }

    /// The node could not be reached: retried once a connection worked
    /// (or with `keep_trying`); before that the address is more likely
    /// wrong than the node away, and the failure is final.
    pub fn after_unreachable(&mut self, random: f64) -> Then {
        if self.connected_once || self.keep_trying {
            Then::RetryAfter(self.next_delay(self.floor, random))
        } else {
            Then::GiveUp
        }
    }

    fn next_delay(&mut self, floor: Duration, random: f64) -> Duration {
        let delay = self.backoff.delay(self.attempt, floor, random);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry() -> Retry {
        Retry::new(Backoff::default(), false)
    }

    const HALF: f64 = 0.5;

    #[test]
    fn delays_grow_until_a_connection_works_then_start_afresh() {
        let mut r = retry();
        r.connected();
        let delays: Vec<Duration> = (0..4).map(|_| r.after_end(HALF)).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000].map(Duration::from_millis),
            "each failure doubles the window"
        );
        r.connected();
        assert_eq!(r.after_end(HALF), Duration::from_millis(500));
    }

    #[test]
    fn the_servers_retry_hint_and_retry_after_are_floors() {
        let mut r = retry();
        r.hint(Duration::from_secs(2));
        assert_eq!(r.after_end(0.0), Duration::from_secs(2));
        // Retry-After wins over a smaller hint.
        let then = r.after_refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(Duration::from_secs(5)),
            false,
            0.0,
        );
        assert_eq!(then, Then::RetryAfter(Duration::from_secs(5)));
        // A hint above the cap is the cap.
        r.hint(Duration::from_secs(3600));
        assert_eq!(r.after_end(0.9), Duration::from_secs(30));
    }

    #[test]
    fn refusals_are_retried_refreshed_or_final() {
        let mut r = retry();
        for status in [
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::BAD_GATEWAY,
        ] {
            assert!(matches!(
                r.after_refusal(status, None, true, HALF),
                Then::RetryAfter(_)
            ));
        }
        for status in [StatusCode::BAD_REQUEST, StatusCode::FORBIDDEN] {
            assert_eq!(r.after_refusal(status, None, true, HALF), Then::GiveUp);
        }
        // A 401: a fresh token twice in a row, then final; without a way
        // to get one, final at once.
        let unauthorized = StatusCode::UNAUTHORIZED;
        assert_eq!(
            r.after_refusal(unauthorized, None, false, HALF),
            Then::GiveUp
        );
        assert_eq!(
            r.after_refusal(unauthorized, None, true, HALF),
            Then::Refresh
        );
        assert_eq!(
            r.after_refusal(unauthorized, None, true, HALF),
            Then::Refresh
        );
        assert_eq!(
            r.after_refusal(unauthorized, None, true, HALF),
            Then::GiveUp
        );
        // A connection that works resets the count.
        r.connected();
        assert_eq!(
            r.after_refusal(unauthorized, None, true, HALF),
            Then::Refresh
        );
    }

    #[test]
    fn an_unreachable_node_is_final_until_a_connection_worked() {
        let mut r = retry();
        assert_eq!(r.after_unreachable(HALF), Then::GiveUp);
        r.connected();
        assert_eq!(
            r.after_unreachable(HALF),
            Then::RetryAfter(Duration::from_millis(500))
        );
        let mut patient = Retry::new(Backoff::default(), true);
        assert!(matches!(
            patient.after_unreachable(HALF),
            Then::RetryAfter(_)
        ));
    }
}
