//! Scenario `idle`: memory of the server per idle SSE connection.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::api;
use crate::procs::listen_overflows;
use crate::report::{Report, int, latency_cell, latency_json};
use crate::setup::Target;
use crate::sse::open_many;
use crate::{Backend, Opts};

/// Streams opened (and kept) before the baseline is read, so that lazily
/// allocated per-tenant and per-thread state is already in the baseline.
const WARMUP: usize = 32;
/// Settling time before each memory reading.
const SETTLE: Duration = Duration::from_secs(1);

pub async fn run(opts: &Opts, backend: Backend) -> Result<Report> {
    let n = opts.connections;
    let mut target = Target::start(opts, backend).await?;
    let addr = target.addr();
    let tokens = api::mint_tokens(addr, &target.api_key, n + WARMUP).await?;
    let mut paths: Vec<String> = tokens.iter().map(|t| api::stream_path(t)).collect();
    let measured_paths = paths.split_off(WARMUP);

    let warm = open_many(addr, paths, opts.open_concurrency, opts.open_timeout()).await;
    if let Some(e) = &warm.first_error {
        bail!("warm-up streams failed: {e}");
    }
    tokio::time::sleep(SETTLE).await;
    let before = target.sample()?;

    let overflows_before = listen_overflows();
    let opened = open_many(
        addr,
        measured_paths,
        opts.open_concurrency,
        opts.open_timeout(),
    )
    .await;
    let overflows = listen_overflows().saturating_sub(overflows_before);
    let open_done = target.sample()?;
    tokio::time::sleep(SETTLE.max(opts.idle_hold)).await;
    let after = target.sample()?;
    target.check_alive()?;

    let mut conns = opened.conns;
    let still_open = conns
        .iter_mut()
        .map(|c| c.is_open_now())
        .filter(|open| *open)
        .count();
    let ok = conns.len() as u64;

    let mut r = Report::new(
        "idle",
        backend.name(),
        format!(
            "idle · {} · {} SSE connections",
            backend.name(),
            int(n as u64)
        ),
    );
    r.row(
        "connections opened",
        format!(
            "{} of {} ({} failed), {} still open at the end",
            int(ok),
            int(n as u64),
            opened.failures,
            int(still_open as u64)
        ),
    );
    let secs = opened.elapsed.as_secs_f64();
    r.row(
        "client time to open",
        format!(
            "{secs:.2} s ({}, {} in flight)",
            crate::report::rate(ok, secs),
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
    let per_conn = |a: u64, b: u64| {
        if ok == 0 {
            0.0
        } else {
            (b as f64 - a as f64) / ok as f64
        }
    };
    let rss_per = per_conn(before.server.rss_kib, after.server.rss_kib);
    let anon_per = per_conn(before.server.rss_anon_kib, after.server.rss_anon_kib);
    r.row(
        "server VmRSS before → after",
        format!(
            "{:.1} MiB → {:.1} MiB (peak {:.1} MiB)",
            before.server.rss_kib as f64 / 1024.0,
            after.server.rss_kib as f64 / 1024.0,
            after.server.hwm_kib as f64 / 1024.0
        ),
    );
    r.row(
        "server RSS per idle connection",
        format!("{rss_per:.1} KiB (anonymous {anon_per:.1} KiB)"),
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
    if still_open < conns.len() {
        r.warn(format!(
            "{} streams were closed by the server while idle",
            conns.len() - still_open
        ));
    }

    r.set("connections", n as u64);
    r.set("opened", ok);
    r.set("failed", opened.failures as u64);
    r.set("still_open", still_open as u64);
    r.set("open_s", (secs * 1000.0).round() / 1000.0);
    r.set("open_latency_ms", latency_json(&opened.latency));
    r.set("listen_overflows", overflows);
    r.set("rss_before_kib", before.server.rss_kib);
    r.set("rss_after_kib", after.server.rss_kib);
    r.set("rss_per_conn_kib", (rss_per * 10.0).round() / 10.0);
    r.set("rss_anon_per_conn_kib", (anon_per * 10.0).round() / 10.0);
    r.set("server_threads", after.server.threads);
    drop(conns);
    Ok(r)
}
