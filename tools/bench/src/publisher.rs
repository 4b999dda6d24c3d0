//! Publishers of the load scenarios, each on its own keep-alive connection:
//! paced (a fixed schedule of requests) or flat out (back to back).
//!
//! Every event is the same JSON for every server,
//! `{"type":"bench.tick","data":{"bench_ts":…,"seq":…,"pad":"…"}}`: Beacon
//! takes it as a publish (and delivers it inside its envelope), Nchan takes
//! it as the message body (and delivers it as is). `bench_ts` is the
//! monotonic clock when the request is sent.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;

use crate::clock::{self, TS_KEY};
use crate::http::{Call, Conn};
use crate::report::new_latency_histogram;
use crate::target::Route;

/// Type of every published event.
pub const EVENT_TYPE: &str = "bench.tick";

/// What a publisher needs to know.
#[derive(Clone)]
pub struct PublishCtx {
    pub route: Route,
    /// Filler put into each event's data.
    pub pad: Arc<str>,
    /// More data fields, as JSON members with a leading comma (an amount
    /// and a currency when a money plugin is active), or empty.
    pub extra: Arc<str>,
}

/// What one publisher did.
pub struct Outcome {
    /// Events acknowledged with a 2xx.
    pub acked: u64,
    pub requests: u64,
    /// Requests answered with another status or failed.
    pub errors: u64,
    pub first_error: Option<String>,
    /// Request → answer, microseconds.
    pub ack_latency: Histogram<u64>,
    /// Largest delay of a paced request behind its schedule, microseconds.
    pub max_lag_us: u64,
    /// When the last acknowledgement arrived.
    pub last_ack: Option<Instant>,
}

impl Outcome {
    pub fn empty() -> Self {
        Self {
            acked: 0,
            requests: 0,
            errors: 0,
            first_error: None,
            ack_latency: new_latency_histogram(),
            max_lag_us: 0,
            last_ack: None,
        }
    }

    /// Adds another publisher's figures.
    pub fn merge(&mut self, other: Outcome) {
        self.acked += other.acked;
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        let _ = self.ack_latency.add(&other.ack_latency);
        self.max_lag_us = self.max_lag_us.max(other.max_lag_us);
        self.last_ack = self.last_ack.max(other.last_ack);
    }
}

struct Publisher {
    ctx: PublishCtx,
    conn: Conn,
    seq: u64,
    out: Outcome,
}

impl Publisher {
    fn new(ctx: PublishCtx, id: u64) -> Self {
        Self {
            conn: Conn::new(ctx.route.addr),
            ctx,
            seq: id << 40,
            out: Outcome::empty(),
        }
    }

    /// The body of `count` events (a single object when `count` is 1).
    fn body(&mut self, count: usize) -> Bytes {
        let ts = clock::now_ns();
        let mut body = Vec::with_capacity(count * (96 + self.ctx.pad.len()) + 2);
        if count > 1 {
            body.push(b'[');
        }
        for i in 0..count {
            if i > 0 {
                body.push(b',');
            }
            let _ = write!(
                body,
                r#"{{"type":"{EVENT_TYPE}","data":{{"{TS_KEY}":{ts},"seq":{},"pad":"{}"{}}}}}"#,
                self.seq, self.ctx.pad, self.ctx.extra
            );
            self.seq += 1;
        }
        if count > 1 {
            body.push(b']');
        }
        body.into()
    }

    /// Publishes `count` events in one request.
    async fn publish(&mut self, count: usize) {
        let body = self.body(count);
        let route = &self.ctx.route;
        let mut call = Call::post_json(&route.path, body);
        if let Some(token) = &route.bearer {
            call = call.bearer(token);
        }
        let sent = Instant::now();
        self.out.requests += 1;
        match self.conn.request(call).await {
            Ok(resp) if resp.is_success() => {
                let now = Instant::now();
                self.out.acked += count as u64;
                self.out
                    .ack_latency
                    .saturating_record(now.duration_since(sent).as_micros().max(1) as u64);
                self.out.last_ack = Some(now);
            }
            Ok(resp) => {
                self.out.errors += 1;
                self.out
                    .first_error
                    .get_or_insert_with(|| format!("status {}: {}", resp.status, resp.text()));
            }
            Err(e) => {
                self.out.errors += 1;
                self.out.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}

/// A slice of a paced schedule: requests `index, index + stride, …` of
/// `batch` events each, request `j` due at `start + j * interval`, `total`
/// events in all (the last request may be smaller).
pub struct Schedule {
    pub start: Instant,
    pub interval: Duration,
    pub batch: usize,
    pub total: u64,
    pub index: u64,
    pub stride: u64,
    /// No request is started after this.
    pub give_up: Instant,
}

pub async fn paced(ctx: PublishCtx, id: u64, schedule: Schedule) -> Outcome {
    let mut p = Publisher::new(ctx, id);
    let batch = schedule.batch.max(1) as u64;
    let mut j = schedule.index;
    while j * batch < schedule.total {
        let due = schedule.start + schedule.interval.mul_f64(j as f64);
        tokio::time::sleep_until(due.into()).await;
        let now = Instant::now();
        if now > schedule.give_up {
            break;
        }
        p.out.max_lag_us = p
            .out
            .max_lag_us
            .max(now.duration_since(due).as_micros() as u64);
        let count = batch.min(schedule.total - j * batch) as usize;
        p.publish(count).await;
        j += schedule.stride;
    }
    p.out
}

/// Publishes batches back to back until `until`.
pub async fn flat_out(ctx: PublishCtx, id: u64, batch: usize, until: Instant) -> Outcome {
    let mut p = Publisher::new(ctx, id);
    while Instant::now() < until {
        let errors = p.out.errors;
        p.publish(batch.max(1)).await;
        if p.out.errors > errors {
            // Do not spin on a failing server.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    p.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher(extra: &str) -> Publisher {
        let route = Route {
            addr: "127.0.0.1:1".parse().expect("addr"),
            path: "/pub".into(),
            bearer: None,
            batches: false,
        };
        Publisher::new(
            PublishCtx {
                route,
                pad: "xx".into(),
                extra: extra.into(),
            },
            1,
        )
    }

    #[test]
    fn bodies_are_events_with_the_publish_time() {
        let mut p = publisher("");
        let one: serde_json::Value = serde_json::from_slice(&p.body(1)).expect("JSON");
        assert_eq!(one["type"], EVENT_TYPE);
        assert_eq!(one["data"]["seq"], 1u64 << 40);
        assert_eq!(one["data"]["pad"], "xx");
        let ts = one["data"][TS_KEY].as_u64().expect("a timestamp");
        assert!(ts > 0 && ts <= clock::now_ns());

        let mut p = publisher(crate::target::api::MONEY_FIELDS);
        let many: serde_json::Value = serde_json::from_slice(&p.body(3)).expect("JSON");
        assert_eq!(many.as_array().map(Vec::len), Some(3));
        assert_eq!(many[2]["data"]["seq"], (1u64 << 40) + 2);
        assert_eq!(many[0]["data"]["currency"], "EUR");
    }
}
