//! Rate limits: publish rate per tenant, connection attempts per IP.
//!
//! Both are GCRA (the generic cell rate algorithm, a token bucket kept as
//! one timestamp per key: the "theoretical arrival time"). A key may
//! spend `burst` units at once, then `rate` units per second.
//!
//! - [`memory`]: this process only. The embedded mode's publish limiter,
//!   and every node's per-IP connect limiter — per node on purpose: an
//!   attempt counter does not need to be global to stop a flood, and a
//!   Redis round trip per connection attempt would cost more than it saves.
//! - [`redis`]: one limiter shared by every node (publish rate with Redis).
//!
//! Written here rather than with `governor`: the quota differs per tenant
//! (overrides), the Redis script must make exactly the same decisions as
//! the in-memory one, and time is passed in by the caller (Unix ms) so one
//! conformance suite tests both without sleeping. [`gcra`] is the whole
//! algorithm, a dozen lines.

pub mod memory;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use beacon_protocol::api::tenants::TenantLimits;

use crate::config::Settings;
use crate::presence::Caps;

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Units per second (at least 1).
    pub per_second: u32,
    /// Units that may be spent at once (at least 1).
    pub burst: u32,
}

impl Quota {
    /// Microseconds per unit.
    /// Time one unit costs, at least 1 µs: a rate above a million per
    /// second would otherwise cost nothing, leaving the burst no room for
    /// requests whose clock reading came a microsecond before another's.
    fn interval_us(self) -> u64 {
        (1_000_000 / u64::from(self.per_second.max(1))).max(1)
    }
}

/// A limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Not now; `retry_after` is when the same request would pass.
    Limited {
        retry_after: Duration,
    },
}

/// The GCRA step: given the key's stored arrival time `tat_us` (0 if
/// none), decides on spending `cost` units at `now_us`. Returns the
/// decision and the arrival time to store when allowed. A `cost` above
/// the burst is charged as the whole burst (a request larger than the
/// burst passes when the bucket is full, instead of never).
pub fn gcra(tat_us: u64, now_us: u64, quota: Quota, cost: u32) -> (Decision, u64) {
    let interval = quota.interval_us();
    let burst = u64::from(quota.burst.max(1));
    let cost = u64::from(cost.max(1)).min(burst);
    let tat = tat_us.max(now_us);
    let new_tat = tat.saturating_add(cost * interval);
    let allow_at = new_tat.saturating_sub(burst * interval);
    if now_us < allow_at {
        let wait = Duration::from_micros(allow_at - now_us);
        (Decision::Limited { retry_after: wait }, tat_us)
    } else {
        (Decision::Allowed, new_tat)
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_micros().div_ceil(1_000_000).max(1) as u64
}

/// A limiter that cannot answer (its Redis is down): the caller decides
/// whether the request passes.
pub type LimitError = crate::backend::BackendError;

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Spends `cost` units of `key`'s quota at `now_ms` (Unix ms), if allowed.
    async fn check(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        now_ms: u64,
    ) -> Result<Decision, LimitError>;
}

pub type SharedLimiter = Arc<dyn RateLimiter>;

/// What a tenant's own limits ([`TenantLimits`], a wire type) mean on this
/// node: each absent field takes the node's setting.
pub trait LimitsInForce {
    /// The connection caps in force: overrides, else the defaults.
    fn caps(this: Option<&Self>, settings: &Settings) -> Caps;
    /// The publish quota in force.
    fn publish(this: Option<&Self>, settings: &Settings) -> Quota;
}

impl LimitsInForce for TenantLimits {
    fn caps(this: Option<&Self>, settings: &Settings) -> Caps {
        let o = this.cloned().unwrap_or_default();
        Caps {
            per_user: o
                .max_connections_per_user
                .unwrap_or(settings.max_connections_per_user),
            per_tenant: o
                .max_connections_per_tenant
                .unwrap_or(settings.max_connections_per_tenant),
            policy: o.user_cap_policy.unwrap_or(settings.user_cap_policy),
        }
    }

    fn publish(this: Option<&Self>, settings: &Settings) -> Quota {
        let o = this.cloned().unwrap_or_default();
        Quota {
            per_second: o.publish_rate.unwrap_or(settings.publish_rate),
            burst: o.publish_burst.unwrap_or(settings.publish_burst),
        }
    }
}

/// The limiters of a node.
pub struct Limiters {
    /// Publish rate per tenant: global with Redis, else this process.
    pub publish: SharedLimiter,
    /// Connection attempts per client IP, on this node.
    pub connect: memory::MemoryLimiter,
}

#[cfg(test)]
pub(crate) mod conformance {
    //! Behaviour every limiter must have. Times are synthetic.
    use super::*;

    const Q: Quota = Quota {
        per_second: 10,
        burst: 5,
    };

    pub(crate) async fn run_all(limiter: &dyn RateLimiter, prefix: &str) {
        let key = format!("{prefix}a");
        let t0 = 1_000_000_000;
        for i in 0..5 {
            let got = limiter.check(&key, Q, 1, t0).await.unwrap();
            assert_eq!(got, Decision::Allowed, "unit {i} of the burst");
        }
        let Decision::Limited { retry_after } = limiter.check(&key, Q, 1, t0).await.unwrap() else {
            panic!("the burst is spent");
        };
        assert_eq!(retry_after, Duration::from_millis(100));
        // Another key has its own bucket.
        let other = format!("{prefix}b");
        assert_eq!(
            limiter.check(&other, Q, 5, t0).await.unwrap(),
            Decision::Allowed
        );
        // One unit comes back per interval.
        assert_eq!(
            limiter.check(&key, Q, 1, t0 + 100).await.unwrap(),
            Decision::Allowed
        );
        assert!(matches!(
            limiter.check(&key, Q, 1, t0 + 100).await.unwrap(),
            Decision::Limited { .. }
        ));
        // A costly request waits for enough units; a refused one spends nothing.
        let Decision::Limited { retry_after } = limiter.check(&key, Q, 3, t0 + 200).await.unwrap()
        else {
            panic!("3 units are not there yet");
        };
        assert_eq!(retry_after, Duration::from_millis(200));
        assert_eq!(
            limiter.check(&key, Q, 3, t0 + 400).await.unwrap(),
            Decision::Allowed
        );
        // After a long pause the bucket is full again, never fuller.
        let later = t0 + 60_000;
        assert_eq!(
            limiter.check(&key, Q, 5, later).await.unwrap(),
            Decision::Allowed
        );
        assert!(matches!(
            limiter.check(&key, Q, 1, later).await.unwrap(),
            Decision::Limited { .. }
        ));
        // A request above the burst takes the whole burst.
        let big = format!("{prefix}big");
        assert_eq!(
            limiter.check(&big, Q, 50, t0).await.unwrap(),
            Decision::Allowed
        );
        assert!(matches!(
            limiter.check(&big, Q, 1, t0).await.unwrap(),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn a_huge_rate_keeps_its_burst_for_readings_out_of_order() {
        let quota = Quota {
            per_second: 100_000_000,
            burst: 100_000_000,
        };
        let (first, tat) = gcra(0, 1_000_000, quota, 50);
        assert_eq!(first, Decision::Allowed);
        // A concurrent request whose clock reading came 1 ms earlier.
        let (second, _) = gcra(tat, 999_000, quota, 50);
        assert_eq!(second, Decision::Allowed);
    }
}
