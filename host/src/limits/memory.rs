//! A rate limiter in this process's memory.
//!
//! A `std::sync::Mutex` over one map: each check is one lookup and one
//! insert, never across an `.await`. Bounded by [`MAX_KEYS`]: when full,
//! keys whose bucket is full again (they carry no state worth keeping)
//! are dropped; if it is still full, new keys are limited for a second
//! (a flood of distinct client IPs cannot grow the map).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{Decision, LimitError, Quota, RateLimiter, gcra};

/// Most keys tracked at once.
pub const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct MemoryLimiter {
    /// key → theoretical arrival time (Unix µs).
    tats: Mutex<HashMap<String, u64>>,
}

impl MemoryLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The synchronous check (the per-IP limiter needs no `.await`).
    pub fn check_now(&self, key: &str, quota: Quota, cost: u32, now_ms: u64) -> Decision {
        let now_us = now_ms.saturating_mul(1000);
        let mut tats = self.tats.lock().unwrap_or_else(|p| p.into_inner());
        if !tats.contains_key(key) && tats.len() >= MAX_KEYS {
            tats.retain(|_, tat| *tat > now_us);
            if tats.len() >= MAX_KEYS {
                return Decision::Limited {
                    retry_after: Duration::from_secs(1),
                };
            }
        }
        let tat = tats.get(key).copied().unwrap_or(0);
        let (decision, new_tat) = gcra(tat, now_us, quota, cost);
        if decision == Decision::Allowed {
            tats.insert(key.to_owned(), new_tat);
        }
        decision
    }
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        now_ms: u64,
    ) -> Result<Decision, LimitError> {
        Ok(self.check_now(key, quota, cost, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        super::super::conformance::run_all(&MemoryLimiter::new(), "").await;
    }
}
