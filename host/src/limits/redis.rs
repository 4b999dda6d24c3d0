//! A rate limiter in Redis, shared by every node: a tenant's publish rate
//! is global, not per node.
//!
//! One key per limited key, `{<prefix>:rate:<key>}`, holding the arrival
//! time (Unix µs); the GCRA step ([`super::gcra`]) runs in one Lua script,
//! so concurrent nodes never both spend the last unit. Each key expires
//! once its bucket would be full again, so idle keys take no memory.

use ::redis::Script;
use async_trait::async_trait;

use super::{Decision, LimitError, Quota, RateLimiter};
use crate::redis_conn::LazyRedis;

/// KEYS: the bucket. ARGV: now (µs), interval (µs), burst, cost.
/// Returns 0 when allowed, else the wait in µs. Same arithmetic as `gcra`.
const GCRA_LUA: &str = include_str!("redis/gcra.lua");

pub struct RedisLimiter {
    redis: LazyRedis,
    prefix: String,
    script: Script,
}

impl RedisLimiter {
    pub fn new(url: &str, prefix: &str) -> Result<Self, LimitError> {
        Ok(RedisLimiter {
            redis: LazyRedis::new(url).map_err(|e| LimitError::Internal(Box::new(e)))?,
            prefix: prefix.to_owned(),
            script: Script::new(GCRA_LUA),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        now_ms: u64,
    ) -> Result<Decision, LimitError> {
        let mut conn = self.redis.get().await.map_err(LimitError::redis)?;
        let wait_us: u64 = self
            .script
            .key(format!("{{{}:rate:{key}}}", self.prefix))
            .arg(now_ms.saturating_mul(1000))
            .arg(quota.interval_us())
            .arg(quota.burst.max(1))
            .arg(cost.max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(LimitError::redis)?;
        Ok(if wait_us == 0 {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: std::time::Duration::from_micros(wait_us),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beacon_test_support::RedisServer;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        let server = RedisServer::start().await;
        let limiter = RedisLimiter::new(&server.url(), "limits-test").unwrap();
        super::super::conformance::run_all(&limiter, "").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_share_one_bucket() {
        let server = RedisServer::start().await;
        let a = RedisLimiter::new(&server.url(), "shared").unwrap();
        let b = RedisLimiter::new(&server.url(), "shared").unwrap();
        let q = Quota {
            per_second: 1,
            burst: 2,
        };
        let now = 5_000_000;
        assert_eq!(a.check("t", q, 1, now).await.unwrap(), Decision::Allowed);
        assert_eq!(b.check("t", q, 1, now).await.unwrap(), Decision::Allowed);
        assert!(matches!(
            a.check("t", q, 1, now).await.unwrap(),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            b.check("t", q, 1, now).await.unwrap(),
            Decision::Limited { .. }
        ));
    }
}
