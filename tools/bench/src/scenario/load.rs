//! Scenarios `fanout` (paced publishing) and `saturate` (publishing flat
//! out): S subscribers on one tenant (Nchan: one channel), every event to
//! every subscriber, loss counted per subscriber and publish → deliver
//! latency recorded.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::client::Pool;
use crate::clock;
use crate::opts::{Opts, TargetKind};
use crate::procs::listen_overflows;
use crate::publisher::{self, PublishCtx, Schedule};
use crate::report::{Report, int, latency_cell, latency_json, ms, rate, round1, round3};
use crate::target::nchan::Install;
use crate::target::{Target, api};

/// How events are published.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `rate` events/s for the duration, in requests of `batch` events.
    Paced { rate: u64, batch: usize },
    /// Back to back for the duration, in requests of `batch` events.
    FlatOut { batch: usize },
}

impl Mode {
    pub fn scenario(self) -> &'static str {
        match self {
            Mode::Paced { .. } => "fanout",
            Mode::FlatOut { .. } => "saturate",
        }
    }

    fn batch(self) -> usize {
        match self {
            Mode::Paced { batch, .. } | Mode::FlatOut { batch } => batch.max(1),
        }
    }

    fn with_batch(self, batch: usize) -> Mode {
        match self {
            Mode::Paced { rate, .. } => Mode::Paced { rate, batch },
            Mode::FlatOut { .. } => Mode::FlatOut { batch },
        }
    }

    /// The summary's table for this scenario.
    pub fn group(self, opts: &Opts) -> String {
        let s = int(opts.subscribers as u64);
        let secs = opts.duration().as_secs_f64();
        match self {
            Mode::Paced { rate: r, .. } => {
                format!("fanout · {s} subscribers × {} events/s × {secs} s", int(r))
            }
            Mode::FlatOut { batch } => format!(
                "saturate · {s} subscribers, {} publishers flat out (Beacon: batches of {batch}) for {secs} s",
                opts.publishers.max(1)
            ),
        }
    }
}

/// Time for paced publishers to finish a late schedule.
const PUBLISH_GRACE: Duration = Duration::from_secs(30);
/// Delay between scheduling and the first publish.
const LEAD_IN: Duration = Duration::from_millis(200);

pub async fn run(
    opts: &Opts,
    kind: TargetKind,
    nchan: Option<&Install>,
    mode: Mode,
) -> Result<Report> {
    let s = opts.subscribers;
    let duration = opts.duration();
    let publishers = opts.publishers.max(1);
    let mut target = Target::start(opts, kind, nchan).await?;
    let route = target.route();
    let group = mode.group(opts);
    // Nchan publishes a request's body as one message.
    let mode = if route.batches {
        mode
    } else {
        mode.with_batch(1)
    };
    let paths = target.stream_paths(s).await?;
    let processes = opts.processes_for(s);
    let mut pool = Pool::spawn(processes, &target.subscribe(opts)).await?;
    let overflows_before = listen_overflows();
    let opened = pool.open(paths).await?;
    let overflows = listen_overflows().saturating_sub(overflows_before);
    if opened.opened == 0 {
        bail!(
            "no stream opened: {}",
            opened.first_error.unwrap_or_default()
        );
    }
    let subs = opened.opened;

    let ctx = PublishCtx {
        route,
        pad: "x".repeat(opts.payload_bytes).into(),
        extra: if opts.plugin.is_some() && kind.is_beacon() {
            api::MONEY_FIELDS.into()
        } else {
            "".into()
        },
    };
    let before = target.sample(Some(&pool))?;
    let start = Instant::now() + LEAD_IN;
    let mut pub_tasks = Vec::with_capacity(publishers);
    for i in 0..publishers {
        let ctx = ctx.clone();
        let id = i as u64;
        pub_tasks.push(match mode {
            Mode::Paced { rate, batch } => {
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
    let during = target.sample(Some(&pool))?;

    // Drain: every subscriber has all acknowledged events, or has ended.
    let expected = published.acked;
    let publish_end_ns = clock::now_ns().saturating_sub(publish_end.elapsed().as_nanos() as u64);
    let (drained_ns, drain_timed_out) = pool.drain(expected, opts.drain_timeout()).await?;
    let drain_ms = drained_ns.saturating_sub(publish_end_ns) as f64 / 1e6;
    let after = target.sample(Some(&pool))?;
    let seen = pool.finish(expected).await?;
    let alive = target.check_alive();
    let latency = seen.latency.to_histogram();

    let mut r = Report::new(mode.scenario(), group, kind);
    let expected_total = expected * subs;
    let window = publish_secs + drain_ms / 1000.0;
    r.row(
        "subscribers",
        format!(
            "{} opened in {:.2} s by {processes} processes ({} failed, {} listen queue overflows)",
            int(subs),
            opened.elapsed.as_secs_f64(),
            opened.failures,
            overflows
        ),
    );
    r.row(
        "events published (acked)",
        format!(
            "{} in {:.2} s = {} ({} requests of up to {} events, {} errors)",
            int(expected),
            publish_secs,
            rate(expected, publish_secs),
            int(published.requests),
            mode.batch(),
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
        format!("{} / {}", int(expected_total), int(seen.received)),
    );
    r.row(
        "loss",
        format!(
            "{} ({} subscribers missing events, at most {} each; cut off by beacon.overflow: {} subscribers, {} deliveries)",
            int(seen.loss),
            seen.subscribers_with_loss,
            int(seen.max_loss_per_subscriber),
            seen.cut_off,
            int(seen.cut_off_missing)
        ),
    );
    r.row("publish→deliver p50/p90/p99/max", latency_cell(&latency));
    r.row(
        "deliveries/s",
        format!(
            "{} (publish start → last delivery, {:.2} s)",
            rate(seen.received, window),
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
        &format!("{} VmRSS after", target.server_label()),
        format!(
            "{:.1} MiB (peak {:.1} MiB)",
            after.server.rss_kib as f64 / 1024.0,
            after.server.hwm_kib as f64 / 1024.0
        ),
    );

    if let Some(e) = &published.first_error {
        r.warn(format!("{} publish errors; first: {e}", published.errors));
    }
    if seen.loss > 0 {
        r.warn(format!(
            "LOSS: {} deliveries missing on subscribers that were not cut off",
            int(seen.loss)
        ));
    }
    if seen.extra > 0 {
        r.warn(format!(
            "{} deliveries beyond the acknowledged events (events of failed requests?)",
            int(seen.extra)
        ));
    }
    if seen.ended_early > 0 {
        r.warn(format!(
            "{} streams ended without beacon.overflow: {}",
            seen.ended_early,
            seen.end_reasons.join("; ")
        ));
    }
    if seen.missing_ts > 0 {
        r.warn(format!(
            "{} events carried no {} timestamp",
            seen.missing_ts,
            clock::TS_KEY
        ));
    }
    if !seen.controls.is_empty() {
        r.warn(format!("control events seen: {}", seen.controls.join("; ")));
    }
    if drain_timed_out {
        r.warn(format!("drain timed out after {:?}", opts.drain_timeout()));
    }
    if let Err(e) = alive {
        r.warn(format!("{e:#}"));
    }
    if opts.plugin.is_some()
        && let Some(key) = target.api_key()
    {
        plugin_row(&mut r, &target, key).await;
    }

    let pct = |q: f64| {
        if latency.is_empty() {
            0.0
        } else {
            ms(latency.value_at_quantile(q))
        }
    };
    r.figure("publish → deliver p50", pct(0.5), "ms");
    r.figure("publish → deliver p99", pct(0.99), "ms");
    r.figure("publish → deliver max", ms(latency.max()), "ms");
    r.figure("deliveries/s", seen.received as f64 / window.max(1e-9), "");
    r.figure(
        "events acked/s",
        expected as f64 / publish_secs.max(1e-9),
        "",
    );
    r.count("loss (deliveries)", seen.loss);
    r.count(
        "most events lost by one subscriber",
        seen.max_loss_per_subscriber,
    );
    if seen.cut_off > 0 {
        r.count("subscribers cut off (resumable)", seen.cut_off);
    }
    r.figure("server CPU while publishing", cpu.server, "% of a core");

    r.set("subscribers", subs);
    r.set("subscribers_failed", opened.failures);
    r.set("client_processes", processes as u64);
    r.set("publishers", publishers as u64);
    if let Mode::Paced { rate, .. } = mode {
        r.set("target_rate", rate);
    }
    r.set("batch", mode.batch() as u64);
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
    r.set("deliveries_received", seen.received);
    r.set("loss", seen.loss);
    r.set("subscribers_with_loss", seen.subscribers_with_loss);
    r.set("max_loss_per_subscriber", seen.max_loss_per_subscriber);
    r.set("cut_off_subscribers", seen.cut_off);
    r.set("cut_off_missing", seen.cut_off_missing);
    r.set("extra", seen.extra);
    r.set("latency_ms", latency_json(&latency));
    r.set(
        "deliveries_per_s",
        round1(seen.received as f64 / window.max(1e-9)),
    );
    r.set("drain_ms", round1(drain_ms));
    r.set("cpu", cpu.json());
    r.set("server_rss_kib", after.server.rss_kib);
    r.set("server_hwm_kib", after.server.hwm_kib);
    drop(pool);
    Ok(r)
}

/// The plugin's counters: a plugin that failed or was quarantined would
/// flatter the figures.
async fn plugin_row(r: &mut Report, target: &Target, api_key: &str) {
    match api::plugin_stats(target.addr(), api_key).await {
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
