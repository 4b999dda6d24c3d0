//! What the bench and its subscriber processes say to each other: one JSON
//! object per line, commands on the child's stdin, replies on its stdout.

use std::net::{IpAddr, SocketAddr};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::report::new_latency_histogram;
use crate::stream::Ready;

/// The first line a subscriber process reads: where and how to subscribe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub addr: SocketAddr,
    /// Source address of every stream of this process.
    pub source: Option<IpAddr>,
    pub ready: Ready,
    /// Events whose name starts with this are the server's control events,
    /// not published ones (Beacon: `beacon.`; Nchan has none).
    pub control_prefix: Option<String>,
    /// The control event that cuts a slow subscriber off (`beacon.overflow`).
    pub overflow_event: Option<String>,
    /// Handshakes in flight at once in this process.
    pub open_concurrency: usize,
    pub open_timeout_ms: u64,
}

/// Commands, after the [`Job`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Open one stream per path; reply [`Reply::Opened`] once every one is
    /// open or has failed.
    Open { paths: Vec<String> },
    /// Reply [`Reply::Status`].
    Status,
    /// Reply [`Reply::Drained`] once every stream has `expected` events or
    /// has ended, or after `timeout_ms`.
    Drain { expected: u64, timeout_ms: u64 },
    /// Stop reading and reply [`Reply::Finished`], judged against `expected`.
    Finish { expected: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Opened(OpenReport),
    Status { open: u64, ended: u64 },
    Drained { at_ns: u64, timed_out: bool },
    Finished(FinishReport),
}

/// The result of one [`Command::Open`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenReport {
    pub opened: u64,
    pub failures: u64,
    pub first_error: Option<String>,
    /// Connect → ready, microseconds.
    pub latency: Hist,
}

/// What the streams of one process saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FinishReport {
    pub subscribers: u64,
    pub received: u64,
    /// Events without a readable publish timestamp.
    pub missing_ts: u64,
    /// Expected events missing on streams that were not cut off.
    pub loss: u64,
    /// Streams missing at least one event without being cut off.
    pub subscribers_with_loss: u64,
    /// The most events one such stream missed.
    pub max_loss_per_subscriber: u64,
    /// Events beyond the expected ones.
    pub extra: u64,
    /// Streams cut off by the overflow event, and the events they missed.
    pub cut_off: u64,
    pub cut_off_missing: u64,
    /// Streams that ended before the bench stopped them, and the first reasons.
    pub ended_early: u64,
    pub end_reasons: Vec<String>,
    /// The first other control events seen.
    pub controls: Vec<String>,
    /// Publish → deliver, microseconds.
    pub latency: Hist,
}

/// Reasons and control events kept per report.
pub const KEPT_MESSAGES: usize = 3;

impl FinishReport {
    /// Adds another process's figures.
    pub fn merge(&mut self, other: FinishReport) {
        self.subscribers += other.subscribers;
        self.received += other.received;
        self.missing_ts += other.missing_ts;
        self.loss += other.loss;
        self.subscribers_with_loss += other.subscribers_with_loss;
        self.max_loss_per_subscriber = self
            .max_loss_per_subscriber
            .max(other.max_loss_per_subscriber);
        self.extra += other.extra;
        self.cut_off += other.cut_off;
        self.cut_off_missing += other.cut_off_missing;
        self.ended_early += other.ended_early;
        for reason in other.end_reasons {
            if self.end_reasons.len() < KEPT_MESSAGES {
                self.end_reasons.push(reason);
            }
        }
        for control in other.controls {
            if self.controls.len() < KEPT_MESSAGES {
                self.controls.push(control);
            }
        }
        self.latency.0.extend(other.latency.0);
    }
}

/// A microsecond histogram on the wire: `(value, count)` per recorded bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hist(pub Vec<(u64, u64)>);

impl Hist {
    pub fn of(h: &Histogram<u64>) -> Self {
        Self(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    pub fn to_histogram(&self) -> Histogram<u64> {
        let mut h = new_latency_histogram();
        for &(value, count) in &self.0 {
            h.saturating_record_n(value, count);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_cross_the_pipe_with_their_percentiles() {
        let mut h = new_latency_histogram();
        for us in [10, 200, 3000, 3000, 45_000] {
            h.record(us).expect("in range");
        }
        let line = serde_json::to_string(&Hist::of(&h)).expect("serialises");
        let back: Hist = serde_json::from_str(&line).expect("parses");
        let back = back.to_histogram();
        assert_eq!(back.len(), 5);
        for q in [0.0, 0.5, 0.99, 1.0] {
            assert_eq!(
                h.highest_equivalent(h.value_at_quantile(q)),
                back.highest_equivalent(back.value_at_quantile(q))
            );
        }
    }

    #[test]
    fn merged_reports_keep_few_messages_and_the_worst_loss() {
        let mut a = FinishReport {
            max_loss_per_subscriber: 2,
            end_reasons: vec!["a".into(); 3],
            ..Default::default()
        };
        a.merge(FinishReport {
            max_loss_per_subscriber: 5,
            loss: 5,
            end_reasons: vec!["b".into()],
            ..Default::default()
        });
        assert_eq!(a.max_loss_per_subscriber, 5);
        assert_eq!(a.loss, 5);
        assert_eq!(a.end_reasons.len(), KEPT_MESSAGES);
    }
}
