//! How long to wait before reconnecting: exponential backoff with full
//! jitter, never under the server's `retry:` hint, never over a cap.

use std::time::Duration;

/// The reconnection delays of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The upper bound of the first delay; it doubles with each attempt.
    pub initial: Duration,
    /// No delay exceeds this.
    pub max: Duration,
}

impl Default for Backoff {
    /// One second, doubling, at most 30 seconds.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before reconnection attempt `attempt` (0 after a
    /// connection that worked): `floor` (the server's `retry:` hint,
    /// capped at [`max`](Self::max)) plus a random part of a window that
    /// doubles with each attempt and stops growing at the cap, so the
    /// whole never exceeds it. `random` is in [0, 1).
    pub fn delay(&self, attempt: u32, floor: Duration, random: f64) -> Duration {
        let floor = floor.min(self.max);
        let exponential = self.initial.saturating_mul(1 << attempt.min(16));
        let window = (self.max - floor).min(exponential);
        floor + window.mul_f64(random.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_jittered_and_respects_the_floor() {
        let backoff = Backoff::default();
        let max = backoff.max;
        assert_eq!(backoff.delay(0, Duration::ZERO, 0.0), Duration::ZERO);
        assert_eq!(
            backoff.delay(0, Duration::ZERO, 0.5),
            Duration::from_millis(500)
        );
        assert_eq!(
            backoff.delay(3, Duration::ZERO, 0.5),
            Duration::from_secs(4)
        );
        // The window stops growing at the cap, however many attempts.
        assert_eq!(backoff.delay(40, Duration::ZERO, 0.999), max.mul_f64(0.999));
        assert!(backoff.delay(u32::MAX, Duration::ZERO, 1.0) <= max);
        // The server's retry hint is a floor, and the cap still holds.
        assert_eq!(
            backoff.delay(0, Duration::from_secs(2), 0.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff.delay(10, Duration::from_secs(2), 1.0),
            Duration::from_secs(30)
        );
        assert_eq!(
            backoff.delay(0, Duration::from_secs(60), 0.7),
            Duration::from_secs(30)
        );
    }
}
