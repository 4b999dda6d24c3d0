//! Prometheus metrics: the names, the one recorder of the process, and the
//! handles the hot paths increment.
//!
//! Metrics go through the `metrics` facade to a Prometheus recorder
//! installed once per process (several nodes in one test process share
//! it); `GET /metrics` renders it. Labels are low-cardinality (outcome,
//! reason, backend), never user ids; the per-plugin series are the one
//! place a tenant id appears (`plugins::stats`: bounded by the tenants
//! times 32 plugins each). On a subscriber's path a
//! metric costs one atomic increment: the handles are registered once.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Open SSE connections (gauge).
pub(crate) const CONNECTIONS_OPEN: &str = "beacon_sse_connections_open";
/// SSE streams opened, by `resume`: `none`, `exact`, `gap`.
pub(crate) const STREAMS_OPENED: &str = "beacon_sse_streams_opened_total";
/// Publish requests, by `outcome`: `accepted`, `partial`, `invalid`,
/// `contract`, `too_large`, `unauthorized`, `limited`, `unavailable`, `error`.
pub(crate) const PUBLISH_REQUESTS: &str = "beacon_publish_requests_total";
/// Events stored by publish requests (idempotent retries not counted again).
pub(crate) const EVENTS_PUBLISHED: &str = "beacon_events_published_total";
/// Publish request latency, seconds.
pub(crate) const PUBLISH_SECONDS: &str = "beacon_publish_duration_seconds";
/// Contract validation latency of one event, seconds.
pub(crate) const VALIDATION_SECONDS: &str = "beacon_contract_validation_duration_seconds";
/// Event frames queued to subscribers, live and replayed.
pub(crate) const EVENTS_DELIVERED: &str = "beacon_events_delivered_total";
/// Event frames replayed from the log (a subset of delivered).
pub(crate) const EVENTS_REPLAYED: &str = "beacon_events_replayed_total";
/// `beacon.gap` sent, by `reason`: `expired`, `epoch`, `unknown`.
pub(crate) const GAPS: &str = "beacon_sse_gaps_total";
/// Connections refused at their request head, by `reason`.
pub(crate) const HEADS_REFUSED: &str = "beacon_http_heads_refused_total";
/// Subscribers cut off for falling behind (`beacon.overflow`).
pub(crate) const SLOW_CONSUMER_DISCONNECTS: &str = "beacon_sse_slow_consumer_disconnects_total";
/// Whether the event log backend answers (1) or not (0), by `backend`.
pub(crate) const LOG_BACKEND_UP: &str = "beacon_log_backend_up";
/// Tenants with a live log tail on this node (gauge).
pub(crate) const HUB_TAILS: &str = "beacon_hub_tenant_tails";
/// Presence changes not appended to the log (queue full, log failure).
pub(crate) const PRESENCE_EVENTS_DROPPED: &str = "beacon_presence_events_dropped_total";
/// Seconds since the process started (gauge).
pub(crate) const UPTIME_SECONDS: &str = "beacon_uptime_seconds";

/// Histogram buckets, seconds: 50 µs to 2.5 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5,
];

/// Handles registered once, for the paths that run per event or per subscriber.
pub(crate) struct Handles {
    pub connections_open: Gauge,
    pub events_published: Counter,
    pub events_delivered: Counter,
    pub events_replayed: Counter,
    pub slow_consumer_disconnects: Counter,
    pub publish_seconds: Histogram,
    pub validation_seconds: Histogram,
    pub hub_tails: Gauge,
    pub uptime_seconds: Gauge,
}

struct Process {
    prometheus: PrometheusHandle,
    started: Instant,
}

fn process() -> &'static Process {
    static PROCESS: OnceLock<Process> = OnceLock::new();
    PROCESS.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(&LATENCY_BUCKETS) {
            Ok(b) => b,
            Err(error) => unreachable!("constant buckets are valid: {error}"),
        };
        let prometheus = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(error) => {
                tracing::error!(%error, "cannot install the metrics recorder; /metrics stays empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        Process {
            prometheus,
            started: Instant::now(),
        }
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS_OPEN, Unit::Count, "Open SSE connections.");
    describe_counter!(
        STREAMS_OPENED,
        Unit::Count,
        "SSE streams opened, by resume kind."
    );
    describe_counter!(
        PUBLISH_REQUESTS,
        Unit::Count,
        "Publish requests, by outcome."
    );
    describe_counter!(
        EVENTS_PUBLISHED,
        Unit::Count,
        "Events stored by publish requests."
    );
    describe_histogram!(PUBLISH_SECONDS, Unit::Seconds, "Publish request latency.");
    describe_histogram!(
        VALIDATION_SECONDS,
        Unit::Seconds,
        "Contract validation latency of one event."
    );
    describe_counter!(
        EVENTS_DELIVERED,
        Unit::Count,
        "Event frames sent to subscribers."
    );
    describe_counter!(
        EVENTS_REPLAYED,
        Unit::Count,
        "Event frames replayed from the log."
    );
    describe_counter!(GAPS, Unit::Count, "beacon.gap events sent, by reason.");
    describe_counter!(
        HEADS_REFUSED,
        Unit::Count,
        "Connections refused at their request head, by reason."
    );
    describe_counter!(
        SLOW_CONSUMER_DISCONNECTS,
        Unit::Count,
        "Subscribers cut off for falling behind."
    );
    describe_counter!(
        PRESENCE_EVENTS_DROPPED,
        Unit::Count,
        "Presence changes not appended to the log."
    );
    describe_gauge!(
        LOG_BACKEND_UP,
        "Whether the event log backend answers (1) or not (0)."
    );
    describe_gauge!(
        HUB_TAILS,
        Unit::Count,
        "Tenants with a live log tail on this node."
    );
    describe_gauge!(
        UPTIME_SECONDS,
        Unit::Seconds,
        "Seconds since the process started."
    );
}

/// The handles, registering the recorder first if needed.
pub(crate) fn handles() -> &'static Handles {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    HANDLES.get_or_init(|| {
        process();
        Handles {
            connections_open: metrics::gauge!(CONNECTIONS_OPEN),
            events_published: metrics::counter!(EVENTS_PUBLISHED),
            events_delivered: metrics::counter!(EVENTS_DELIVERED),
            events_replayed: metrics::counter!(EVENTS_REPLAYED),
            slow_consumer_disconnects: metrics::counter!(SLOW_CONSUMER_DISCONNECTS),
            publish_seconds: metrics::histogram!(PUBLISH_SECONDS),
            validation_seconds: metrics::histogram!(VALIDATION_SECONDS),
            hub_tails: metrics::gauge!(HUB_TAILS),
            uptime_seconds: metrics::gauge!(UPTIME_SECONDS),
        }
    })
}

/// The registry in the Prometheus text format (version 0.0.4).
pub(crate) fn render() -> String {
    let handles = handles();
    handles.uptime_seconds.set(uptime().as_secs_f64());
    process().prometheus.render()
}

/// Drains histogram samples into their buckets; run periodically.
pub(crate) fn upkeep() {
    process().prometheus.run_upkeep();
}

/// Time since the recorder was installed (at the first node's start).
pub(crate) fn uptime() -> Duration {
    process().started.elapsed()
}

/// A publish request's outcome, from its answer's status.
pub(crate) fn publish_outcome(status: u16) -> &'static str {
    match status {
        200 | 201 => "accepted",
        207 => "partial",
        400 | 415 => "invalid",
        401 | 403 => "unauthorized",
        413 => "too_large",
        422 => "contract",
        429 => "limited",
        503 => "unavailable",
        _ => "error",
    }
}

/// Counts one publish request and its latency.
pub(crate) fn publish_request(status: u16, elapsed: Duration) {
    let handles = handles();
    handles.publish_seconds.record(elapsed.as_secs_f64());
    metrics::counter!(PUBLISH_REQUESTS, "outcome" => publish_outcome(status)).increment(1);
}

/// Records one contract validation's latency.
pub(crate) fn validated(elapsed: Duration) {
    handles().validation_seconds.record(elapsed.as_secs_f64());
}

/// Counts the events a publish stored (idempotent retries store nothing).
pub(crate) fn stored(batch: &crate::log::AppendBatch) {
    let stored = batch.appended.iter().filter(|a| !a.duplicate).count();
    handles().events_published.increment(stored as u64);
}

/// Counts an opened stream by how it resumes (`none`, `exact`, `gap`).
pub(crate) fn stream_opened(resume: &'static str) {
    handles();
    metrics::counter!(STREAMS_OPENED, "resume" => resume).increment(1);
}

/// Counts a `beacon.gap` by reason.
pub(crate) fn gap(reason: &'static str) {
    handles();
    metrics::counter!(GAPS, "reason" => reason).increment(1);
}

/// Counts a request head refused before routing, by reason.
pub(crate) fn head_refused(reason: &'static str) {
    handles();
    metrics::counter!(HEADS_REFUSED, "reason" => reason).increment(1);
}

/// Counts presence changes that did not reach the log.
pub(crate) fn presence_events_dropped(n: u64) {
    handles();
    metrics::counter!(PRESENCE_EVENTS_DROPPED).increment(n);
}

/// Records whether the log backend answers.
pub(crate) fn log_backend_up(backend: &'static str, up: bool) {
    handles();
    metrics::gauge!(LOG_BACKEND_UP, "backend" => backend).set(if up { 1.0 } else { 0.0 });
}

/// Held by each open SSE connection: the open-connections gauge counts it
/// until it is dropped.
pub(crate) struct OpenConnection(());

impl OpenConnection {
    pub(crate) fn new() -> Self {
        handles().connections_open.increment(1.0);
        OpenConnection(())
    }
}

impl Default for OpenConnection {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        handles().connections_open.decrement(1.0);
    }
}

/// The value of one series of a rendered registry (summed over its labels).
pub(crate) fn sum_of(rendered: &str, name: &str) -> f64 {
    rendered
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = match rest.as_bytes().first() {
                Some(b' ') => rest,
                Some(b'{') => &rest[rest.find('}')? + 1..],
                _ => return None,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}
