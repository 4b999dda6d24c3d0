//! Per-plugin counters and call latency, on this node: what `GET /v1/stats`
//! shows per plugin and what `/metrics` exports as
//! `beacon_plugin_calls_total{tenant,plugin,outcome}` and
//! `beacon_plugin_call_duration_seconds{tenant,plugin}`.
//!
//! The Prometheus labels name the tenant and the plugin: their number is
//! bounded by the tenants times [`MAX_PLUGINS_PER_TENANT`](super::store::MAX_PLUGINS_PER_TENANT).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use beacon_protocol::api::plugins::{LatencyView, PluginStatsView};
use hdrhistogram::Histogram;

/// Calls of plugins, by `outcome`: `keep`, `modify`, `drop`, `reject`,
/// `allow`, `deny`, `convert`, `failure`, `skipped` (quarantined).
pub const PLUGIN_CALLS: &str = "beacon_plugin_calls_total";
/// Plugin call latency, seconds.
pub const PLUGIN_CALL_SECONDS: &str = "beacon_plugin_call_duration_seconds";
/// Events sent to dead letters, by `code`.
pub const DEAD_LETTERS: &str = "beacon_dead_letters_total";

/// Slowest latency the histogram tells apart (longer calls count as this).
const MAX_TRACKED_US: u64 = 60_000_000;

/// What happened in one plugin call, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Keep,
    Modify,
    Drop,
    Reject,
    /// A deliver hook let the event through (counted per subscriber group).
    Allow,
    /// A deliver hook held the event back (per subscriber group).
    Deny,
    Convert,
    Failure,
    /// Not called: the plugin is quarantined.
    Skipped,
}

impl Outcome {
    const ALL: [Outcome; 9] = [
        Outcome::Keep,
        Outcome::Modify,
        Outcome::Drop,
        Outcome::Reject,
        Outcome::Allow,
        Outcome::Deny,
        Outcome::Convert,
        Outcome::Failure,
        Outcome::Skipped,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Keep => "keep",
            Outcome::Modify => "modify",
            Outcome::Drop => "drop",
            Outcome::Reject => "reject",
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Convert => "convert",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The counters of one plugin of one tenant on this node.
pub struct PluginStats {
    /// Prometheus handles, registered once: one per outcome (in the order
    /// of `Outcome::ALL`) and the latency histogram.
    outcome_counters: Vec<metrics::Counter>,
    call_seconds: metrics::Histogram,
    calls: AtomicU64,
    keeps: AtomicU64,
    modifies: AtomicU64,
    drops: AtomicU64,
    rejects: AtomicU64,
    allows: AtomicU64,
    denies: AtomicU64,
    converts: AtomicU64,
    failures: AtomicU64,
    skipped: AtomicU64,
    dead_letters: AtomicU64,
    /// Call latency in µs. A `std` mutex: held only to record or read one
    /// value, never across an await.
    latency: Mutex<Histogram<u64>>,
}

impl PluginStats {
    pub fn new(tenant: &str, plugin: &str) -> PluginStats {
        let latency = Histogram::new_with_bounds(1, MAX_TRACKED_US, 2);
        let latency = match latency {
            Ok(h) => h,
            Err(error) => unreachable!("constant histogram bounds are valid: {error}"),
        };
        // The recorder must exist before handles are registered.
        crate::metrics::handles();
        let outcome_counters = Outcome::ALL
            .iter()
            .map(|o| {
                metrics::counter!(PLUGIN_CALLS, "tenant" => tenant.to_owned(), "plugin" => plugin.to_owned(), "outcome" => o.label())
            })
            .collect();
        PluginStats {
            outcome_counters,
            call_seconds: metrics::histogram!(PLUGIN_CALL_SECONDS, "tenant" => tenant.to_owned(), "plugin" => plugin.to_owned()),
            calls: AtomicU64::new(0),
            keeps: AtomicU64::new(0),
            modifies: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            rejects: AtomicU64::new(0),
            allows: AtomicU64::new(0),
            denies: AtomicU64::new(0),
            converts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            latency: Mutex::new(latency),
        }
    }

    /// Counts one call (or skip) with its outcome; `elapsed` is `None`
    /// for a skip.
    pub fn record(&self, outcome: Outcome, elapsed: Option<Duration>) {
        self.count(outcome, 1);
        if let Some(elapsed) = elapsed {
            self.call(elapsed);
        }
    }

    /// Counts one call and its latency (its outcomes are counted apart).
    pub fn call(&self, elapsed: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let us = (elapsed.as_micros() as u64).clamp(1, MAX_TRACKED_US);
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let _ = latency.record(us);
        drop(latency);
        self.call_seconds.record(elapsed.as_secs_f64());
    }

    /// Counts `n` outcomes of one call (a deliver call answers for several
    /// subscriber groups).
    pub fn count(&self, outcome: Outcome, n: u64) {
        if n == 0 {
            return;
        }
        let counter = match outcome {
            Outcome::Keep => &self.keeps,
            Outcome::Modify => &self.modifies,
            Outcome::Drop => &self.drops,
            Outcome::Reject => &self.rejects,
            Outcome::Allow => &self.allows,
            Outcome::Deny => &self.denies,
            Outcome::Convert => &self.converts,
            Outcome::Failure => &self.failures,
            Outcome::Skipped => &self.skipped,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        if let Some(index) = Outcome::ALL.iter().position(|o| *o == outcome)
            && let Some(counter) = self.outcome_counters.get(index)
        {
            counter.increment(n);
        }
    }

    /// Counts an event sent to dead letters because of this plugin.
    pub fn dead_lettered(&self, code: &str) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(DEAD_LETTERS, "code" => code.to_owned()).increment(1);
    }

    pub fn view(&self) -> PluginStatsView {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let latency_us = if latency.is_empty() {
            LatencyView::default()
        } else {
            LatencyView {
                p50: latency.value_at_quantile(0.5),
                p90: latency.value_at_quantile(0.9),
                p99: latency.value_at_quantile(0.99),
                max: latency.max(),
            }
        };
        PluginStatsView {
            calls: get(&self.calls),
            keeps: get(&self.keeps),
            modifies: get(&self.modifies),
            drops: get(&self.drops),
            rejects: get(&self.rejects),
            allows: get(&self.allows),
            denies: get(&self.denies),
            converts: get(&self.converts),
            failures: get(&self.failures),
            skipped: get(&self.skipped),
            dead_letters: get(&self.dead_letters),
            latency_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_and_latency() {
        let stats = PluginStats::new("acme", "p");
        stats.record(Outcome::Keep, Some(Duration::from_micros(10)));
        stats.record(Outcome::Modify, Some(Duration::from_micros(20)));
        stats.record(Outcome::Failure, Some(Duration::from_millis(50)));
        stats.record(Outcome::Skipped, None);
        stats.count(Outcome::Allow, 3);
        stats.dead_lettered("timeout");
        let v = stats.view();
        assert_eq!(
            (
                v.calls,
                v.keeps,
                v.modifies,
                v.failures,
                v.skipped,
                v.allows,
                v.dead_letters
            ),
            (3, 1, 1, 1, 1, 3, 1)
        );
        assert!(
            v.latency_us.p50 >= 10 && v.latency_us.p50 <= 21,
            "{:?}",
            v.latency_us
        );
        assert!(v.latency_us.max >= 49_000, "{:?}", v.latency_us);
    }

    #[test]
    fn an_unused_plugin_has_zero_latency() {
        assert_eq!(
            PluginStats::new("a", "b").view(),
            PluginStatsView::default()
        );
    }
}
