//! Scenarios `fanout` (paced publishing) and `saturate` (publishing flat
//! out): S subscribers on one tenant, every event to every subscriber,
//! loss counted per subscriber and publish → deliver latency recorded.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tokio_util::sync::CancellationToken;

use crate::procs::listen_overflows;
use crate::publisher::{self, PublishCtx, Schedule};
use crate::report::{Report, int, latency_cell, latency_json, new_latency_histogram, rate};
use crate::setup::Target;
use crate::sse::open_many;
use crate::subscriber::{self, Progress};
use crate::{Backend, Opts, api};

/// How events are published.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `rate` events/s for the duration, in requests of `batch` events.
    Paced { rate: u64, batch: usize },
    /// Back to back for the duration, in requests of `batch` events.
    FlatOut { batch: usize },
}

impl Mode {
    fn scenario(self) -> &'static str {
        match self {
            Mode::Paced { .. } => "fanout",
            Mode::FlatOut { .. } => "saturate",
        }
    }
}

/// Time for paced publishers to finish a late schedule.
const PUBLISH_GRACE: Duration = Duration::from_secs(30);
/// Delay between scheduling and the first publish.
const LEAD_IN: Duration = Duration::from_millis(200);

pub async fn run(opts: &Opts, backend: Backend, mode: Mode) -> Result<Report> {
    let s = opts.subscribers;
    let duration = opts.duration();
    let publishers = opts.publishers.max(1);
    let mut target = Target::start(opts, backend).await?;
    let addr = target.addr();
    let tokens = api::mint_tokens(addr, &target.api_key, s).await?;
    let paths = tokens.iter().map(|t| api::stream_path(t)).collect();
    let overflows_before = listen_overflows();
    let opened = open_many(addr, paths, opts.open_concurrency, opts.open_timeout()).await;
    let overflows = listen_overflows().saturating_sub(overflows_before);
    if opened.conns.is_empty() {
        bail!(
            "no stream opened: {}",
            opened.first_error.unwrap_or_default()
        );
    }
    let subs = opened.conns.len();

    let epoch = Instant::now();
    let stop = CancellationToken::new();
    let mut progress = Vec::with_capacity(subs);
    let mut sub_tasks = Vec::with_capacity(subs);
    for conn in opened.conns {
        let p = Arc::new(Progress::default());
        progress.push(p.clone());
        sub_tasks.push(tokio::spawn(subscriber::run(conn, epoch, p, stop.clone())));
    }

    let ctx = PublishCtx {
        addr,
        api_key: target.api_key.clone().into(),
        epoch,
        pad: "x".repeat(opts.payload_bytes).into(),
        extra: if opts.plugin.is_some() {
            crate::api::MONEY_FIELDS.into()
        } else {
            "".into()
        },
    };
    let before = target.sample()?;
    let start = Instant::now() + LEAD_IN;
    let mut pub_tasks = Vec::with_capacity(publishers);
    for i in 0..publishers {
        let ctx = ctx.clone();
        let id = i as u64;
        pub_tasks.push(match mode {
            Mode::Paced { rate, batch } => {
                let batch = batch.max(1);
                let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
                let schedule = Schedule {
                    start,
                    interval: Duration::from_secs_f64(batch as f64 / rate.max(1) as f64),
                    batch,
                    total,
                    index: id,
                    stride: publishers as u64,
                    give_up: start + duration + PUBLISH_GRACE,
                };
                tokio::spawn(publisher::paced(ctx, id, schedule))
            }
            Mode::FlatOut { batch } => tokio::spawn(async move {
                tokio::time::sleep_until(start.into()).await;
                publisher::flat_out(ctx, id, batch, start + duration).await
            }),
        });
    }
    let mut published = publisher::Outcome::empty();
    for task in pub_tasks {
        published.merge(task.await?);
    }
    let publish_end = published.last_ack.unwrap_or_else(Instant::now).max(start);
    let publish_secs = publish_end.duration_since(start).as_secs_f64();
    let during = target.sample()?;

    // Drain: every subscriber has all acknowledged events, or has ended.
    let expected = published.acked;
    let drain_deadline = Instant::now() + opts.drain_timeout();
    let all_in = || {
        progress.iter().all(|p| {
            p.finished.load(Ordering::Acquire) || p.received.load(Ordering::Relaxed) >= expected
        })
    };
    while !all_in() && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained_at = Instant::now();
    let drain_ms = drained_at
        .saturating_duration_since(publish_end)
        .as_secs_f64()
        * 1000.0;
    let drain_timed_out = !all_in();
    let after = target.sample()?;
    stop.cancel();

    let mut latency = new_latency_histogram();
    let (mut received, mut loss, mut extra, mut missing_ts) = (0u64, 0u64, 0u64, 0u64);
    let (mut cut_off, mut cut_off_missing, mut ended_early) = (0u64, 0u64, 0u64);
    let mut end_reasons: Vec<String> = Vec::new();
    let mut controls: Vec<String> = Vec::new();
    for task in sub_tasks {
        let o = tokio::time::timeout(Duration::from_secs(10), task).await??;
        received += o.received;
        missing_ts += o.missing_ts;
        let _ = latency.add(&o.latency);
        let missing = expected.saturating_sub(o.received);
        extra += o.received.saturating_sub(expected);
        if o.overflow {
            cut_off += 1;
            cut_off_missing += missing;
        } else {
            loss += missing;
            if let Some(reason) = o.ended {
                ended_early += 1;
                if end_reasons.len() < 3 {
                    end_reasons.push(reason);
                }
            }
        }
        for c in o.controls {
            if controls.len() < 3 {
                controls.push(c);
            }
        }
    }
    let alive = target.check_alive();

    let scenario = mode.scenario();
    let title = match mode {
        Mode::Paced { rate: r, .. } => format!(
            "fanout · {} · {} subscribers × {} events/s × {} s",
            backend.name(),
            int(s as u64),
            int(r),
            duration.as_secs_f64()
        ),
        Mode::FlatOut { batch } => format!(
            "saturate · {} · {} subscribers, {} publishers × batches of {} for {} s",
            backend.name(),
            int(s as u64),
            publishers,
            batch,
            duration.as_secs_f64()
        ),
    };
    let mut r = Report::new(scenario, backend.name(), title);
    let expected_total = expected * subs as u64;
    let window = publish_secs + drain_ms / 1000.0;
    r.row(
        "subscribers",
        format!(
            "{} opened in {:.2} s ({} failed, {} listen queue overflows)",
            int(subs as u64),
            opened.elapsed.as_secs_f64(),
            opened.failures,
            overflows
        ),
    );
    r.row(
        "events published (acked)",
        format!(
            "{} in {:.2} s = {} ({} requests, {} errors)",
            int(expected),
            publish_secs,
            rate(expected, publish_secs),
            int(published.requests),
            published.errors
        ),
    );
    r.row(
        "publish ack p50/p90/p99/max",
        latency_cell(&published.ack_latency),
    );
    if matches!(mode, Mode::Paced { .. }) {
        r.row(
            "publisher behind schedule (max)",
            format!("{:.1} ms", published.max_lag_us as f64 / 1000.0),
        );
    }
    r.row(
        "deliveries expected / received",
        format!("{} / {}", int(expected_total), int(received)),
    );
    r.row(
        "loss",
        format!(
            "{} (cut off by beacon.overflow: {} subscribers, {} deliveries)",
            int(loss),
            cut_off,
            int(cut_off_missing)
        ),
    );
    r.row("publish→deliver p50/p90/p99/max", latency_cell(&latency));
    r.row(
        "deliveries/s",
        format!(
            "{} (publish start → last delivery, {:.2} s)",
            rate(received, window),
            window
        ),
    );
    r.row(
        "drain after last ack",
        format!(
            "{drain_ms:.1} ms{}",
            if drain_timed_out { " (timed out)" } else { "" }
        ),
    );
    let cpu = before.cpu_between(&during);
    r.row("CPU while publishing", cpu.cell());
    r.row(
        "server VmRSS after",
        format!(
            "{:.1} MiB (peak {:.1} MiB)",
            after.server.rss_kib as f64 / 1024.0,
            after.server.hwm_kib as f64 / 1024.0
        ),
    );

    if let Some(e) = &published.first_error {
        r.warn(format!("{} publish errors; first: {e}", published.errors));
    }
    if loss > 0 {
        r.warn(format!(
            "LOSS: {} deliveries missing on subscribers that were not cut off",
            int(loss)
        ));
    }
    if extra > 0 {
        r.warn(format!(
            "{} deliveries beyond the acknowledged events (events of failed requests?)",
            int(extra)
        ));
    }
    if ended_early > 0 {
        r.warn(format!(
            "{ended_early} streams ended without beacon.overflow: {}",
            end_reasons.join("; ")
        ));
    }
    if missing_ts > 0 {
        r.warn(format!(
            "{missing_ts} events carried no {} timestamp",
            crate::sse::TS_KEY
        ));
    }
    if !controls.is_empty() {
        r.warn(format!("control events seen: {}", controls.join("; ")));
    }
    if drain_timed_out {
        r.warn(format!("drain timed out after {:?}", opts.drain_timeout()));
    }
    if let Err(e) = alive {
        r.warn(format!("{e:#}"));
    }
    if opts.plugin.is_some() {
        // A plugin that failed or was quarantined would flatter the figures.
        match crate::api::plugin_stats(addr, &target.api_key).await {
            Ok(stats) => {
                r.row(
                    "plugin",
                    format!(
                        "{} calls, {} modified, {} failed, {} skipped; call p50/p99 {} / {} µs",
                        int(stats["calls"].as_u64().unwrap_or(0)),
                        int(stats["modifies"].as_u64().unwrap_or(0)),
                        stats["failures"],
                        stats["skipped"],
                        stats["latency_us"]["p50"],
                        stats["latency_us"]["p99"],
                    ),
                );
                if stats["failures"].as_u64() != Some(0) || stats["skipped"].as_u64() != Some(0) {
                    r.warn(format!("the plugin failed or was skipped: {stats}"));
                }
            }
            Err(e) => r.warn(format!("plugin stats: {e:#}")),
        }
    }

    r.set("subscribers", subs as u64);
    r.set("subscribers_failed", opened.failures as u64);
    r.set("publishers", publishers as u64);
    match mode {
        Mode::Paced { rate, batch } => {
            r.set("target_rate", rate);
            r.set("batch", batch as u64);
        }
        Mode::FlatOut { batch } => r.set("batch", batch as u64),
    }
    r.set("duration_s", duration.as_secs_f64());
    r.set("payload_bytes", opts.payload_bytes as u64);
    r.set("published", expected);
    r.set("publish_errors", published.errors);
    r.set("publish_s", round3(publish_secs));
    r.set(
        "publish_rate",
        round1(expected as f64 / publish_secs.max(1e-9)),
    );
    r.set("publish_ack_ms", latency_json(&published.ack_latency));
    r.set("deliveries_expected", expected_total);
    r.set("deliveries_received", received);
    r.set("loss", loss);
    r.set("cut_off_subscribers", cut_off);
    r.set("cut_off_missing", cut_off_missing);
    r.set("extra", extra);
    r.set("latency_ms", latency_json(&latency));
    r.set(
        "deliveries_per_s",
        round1(received as f64 / window.max(1e-9)),
    );
    r.set("drain_ms", round1(drain_ms));
    r.set("cpu", cpu.json());
    r.set("server_rss_kib", after.server.rss_kib);
    r.set("server_hwm_kib", after.server.hwm_kib);
    Ok(r)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
