//! Scenario `idle`: the server's memory per idle event stream.
//!
//! A few warm-up streams are opened first and kept, so that lazily
//! allocated per-tenant (per-channel) and per-thread state is already in the
//! baseline; then the server's memory is read, the measured streams are
//! opened, and after a settling time it is read again:
//! RSS per idle stream = (RSS after − RSS before) / streams opened.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::client::Pool;
use crate::opts::{Opts, TargetKind};
use crate::procs::listen_overflows;
use crate::report::{Report, int, latency_cell, latency_json, rate, round1, round3};
use crate::target::Target;
use crate::target::nchan::Install;

/// Streams opened (and kept) before the baseline is read.
const WARMUP: usize = 32;
/// Settling time before each memory reading.
const SETTLE: Duration = Duration::from_secs(1);

pub async fn run(
    opts: &Opts,
    kind: TargetKind,
    nchan: Option<&Install>,
    streams: usize,
) -> Result<Report> {
    let mut target = Target::start(opts, kind, nchan).await?;
    let mut paths = target.stream_paths(streams + WARMUP).await?;
    let measured = paths.split_off(WARMUP);
    let processes = opts.processes_for(streams + WARMUP);
    let mut pool = Pool::spawn(processes, &target.subscribe(opts)).await?;

    let warm = pool.open(paths).await?;
    if let Some(e) = &warm.first_error {
        bail!("warm-up streams failed: {e}");
    }
    tokio::time::sleep(SETTLE).await;
    let before = target.sample(Some(&pool))?;

    let overflows_before = listen_overflows();
    let opened = pool.open(measured).await?;
    let overflows = listen_overflows().saturating_sub(overflows_before);
    let open_done = target.sample(Some(&pool))?;
    tokio::time::sleep(SETTLE.max(opts.idle_hold)).await;
    let after = target.sample(Some(&pool))?;
    target.check_alive()?;
    let (still_open, ended) = pool.status().await?;
    let ok = opened.opened;

    let mut r = Report::new(
        "idle",
        format!("idle · {} streams", int(streams as u64)),
        kind,
    );
    r.row(
        "streams opened",
        format!(
            "{} of {} ({} failed) by {processes} subscriber processes; {} of {} (with {WARMUP} warm-up) still open at the end",
            int(ok),
            int(streams as u64),
            opened.failures,
            int(still_open),
            int(still_open + ended),
        ),
    );
    let secs = opened.elapsed.as_secs_f64();
    r.row(
        "client time to open",
        format!(
            "{secs:.2} s ({}, {} in flight)",
            rate(ok, secs),
            opts.open_concurrency
        ),
    );
    r.row(
        "open latency p50/p90/p99/max",
        latency_cell(&opened.latency),
    );
    r.row(
        "listen queue overflows",
        format!("{overflows} (machine-wide; each is a 1 s SYN retry)"),
    );
    let per_stream = |a: u64, b: u64| {
        if ok == 0 {
            0.0
        } else {
            (b as f64 - a as f64) / ok as f64
        }
    };
    let rss_per = per_stream(before.server.rss_kib, after.server.rss_kib);
    let anon_per = per_stream(before.server.rss_anon_kib, after.server.rss_anon_kib);
    let pss_per = per_stream(before.server.pss_kib, after.server.pss_kib);
    let who = target.server_label();
    r.row(
        &format!("{who} VmRSS before → after"),
        format!(
            "{:.1} MiB → {:.1} MiB ({} processes)",
            before.server.rss_kib as f64 / 1024.0,
            after.server.rss_kib as f64 / 1024.0,
            after.server.processes
        ),
    );
    r.row(
        "server RSS per idle stream",
        format!("{rss_per:.1} KiB (anonymous {anon_per:.1} KiB, PSS {pss_per:.1} KiB)"),
    );
    r.row(
        "server threads",
        format!("{} → {}", before.server.threads, after.server.threads),
    );
    r.row("CPU while opening", before.cpu_between(&open_done).cell());
    if let Some(redis) = after.redis {
        r.row(
            "redis-server VmRSS",
            format!("{:.1} MiB", redis.rss_kib as f64 / 1024.0),
        );
    }
    if let Some(e) = &opened.first_error {
        r.warn(format!(
            "{} streams failed to open; first error: {e}",
            opened.failures
        ));
    }
    if ended > 0 {
        r.warn(format!(
            "{ended} streams were closed by the server while idle"
        ));
    }

    r.figure("RSS per idle stream", rss_per, "KiB");
    r.figure("anonymous RSS per idle stream", anon_per, "KiB");
    r.figure(
        "server RSS after",
        after.server.rss_kib as f64 / 1024.0,
        "MiB",
    );
    r.figure("time to open all streams", secs, "s");
    r.count("streams failed or closed", opened.failures + ended);

    r.set("connections", streams as u64);
    r.set("opened", ok);
    r.set("failed", opened.failures);
    r.set("still_open", still_open);
    r.set("closed_while_idle", ended);
    r.set("client_processes", processes as u64);
    r.set("open_s", round3(secs));
    r.set("open_latency_ms", latency_json(&opened.latency));
    r.set("listen_overflows", overflows);
    r.set("server_processes", after.server.processes);
    r.set("rss_before_kib", before.server.rss_kib);
    r.set("rss_after_kib", after.server.rss_kib);
    r.set("rss_per_conn_kib", round1(rss_per));
    r.set("rss_anon_per_conn_kib", round1(anon_per));
    r.set("pss_per_conn_kib", round1(pss_per));
    r.set("server_threads", after.server.threads);
    drop(pool);
    Ok(r)
}
