//! `beacon-bench`: load figures for a real `beacon serve`.
//!
//! The tool starts the `beacon` binary found next to its own executable (or
//! `--server PATH`) as a child process on `127.0.0.1:0` with a scratch data
//! directory and a random admin token, creates a tenant, mints subscriber
//! tokens through the API and drives it over loopback only. For the Redis
//! backend it also starts a private, non-persistent `redis-server` on a free
//! port. Every scenario gets a fresh server; children are killed when the
//! scenario ends, fails, or the tool is interrupted.
//!
//! Scenarios:
//!
//! - `idle`: opens `--connections` (10 000) idle SSE streams, each until its
//!   `beacon.connected` event, and reports the server's VmRSS growth per
//!   connection (baseline taken after a few warm-up streams) and the
//!   client-side time to open them.
//! - `fanout`: `--subscribers` (1 000) streams on one tenant while paced
//!   publishers send `--rate` (100) events/s for `--duration` (10) s. Every
//!   event carries its publish time; every subscriber counts events and
//!   records publish → deliver latency. Reports loss (per subscriber, must be
//!   0), latency percentiles and deliveries/s.
//! - `saturate`: the same subscribers while `--publishers` connections publish
//!   batches of `--batch` (50) back to back. Reports publish and delivery
//!   throughput, latency, loss, and subscribers cut off with `beacon.overflow`.
//! - `all`: idle, fanout, saturate in order.
//!
//! Each scenario prints a table and one `RESULT {json}` line; with several
//! scenarios or backends a Markdown summary follows.
//!
//! Run (release build; the server binary is built alongside):
//!
//! ```text
//! cargo build --release -p beacon --bins
//! cargo run --release -p beacon --bin beacon-bench -- --scenario all
//! cargo run --release -p beacon --bin beacon-bench -- --scenario all --redis
//! cargo run --release -p beacon --bin beacon-bench -- --scenario fanout \
//!     --backend redis --subscribers 100 --rate 50 --duration 5
//! ```

mod api;
mod chunked;
mod http;
mod idle;
mod load;
mod procs;
mod publisher;
mod report;
mod setup;
mod sse;
mod subscriber;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

use crate::load::Mode;
use crate::report::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Idle,
    Fanout,
    Saturate,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Embedded,
    Redis,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Redis,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Redis => "redis",
        }
    }
}

/// Load figures for `beacon serve`: idle connection memory, fan-out latency, saturation.
#[derive(Debug, Parser)]
#[command(name = "beacon-bench", version)]
pub struct Opts {
    /// Scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    scenario: Scenario,
    /// Log backend(s); default embedded, or both with --redis.
    #[arg(long, value_enum)]
    backend: Option<BackendChoice>,
    /// Also run every scenario against Redis (same as --backend both).
    #[arg(long)]
    redis: bool,
    /// The `beacon` binary (default: next to this executable).
    #[arg(long)]
    server: Option<PathBuf>,
    /// The redis-server binary.
    #[arg(long, default_value = "/usr/bin/redis-server")]
    redis_server: PathBuf,
    /// Log filter passed to the server as BEACON_LOG (its log goes to a scratch file).
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Register a JSON-Schema contract for the bench's event type, so every
    /// publish is validated (default: the type is unregistered).
    #[arg(long)]
    contract: bool,
    /// Activate this plugin component for the bench's event type, e.g.
    /// `target/plugins/display-amount.wasm`; events then carry an amount and
    /// a currency for a money enricher to format.
    #[arg(long)]
    plugin: Option<PathBuf>,

    /// idle: streams to open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// idle: seconds to hold the streams open before reading memory.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    idle_hold: Duration,
    /// Stream handshakes in flight at once (above the server's listen backlog,
    /// SYNs are dropped and retried after 1 s).
    #[arg(long, default_value_t = 100)]
    open_concurrency: usize,
    /// Time limit for opening one stream, in seconds.
    #[arg(long, default_value_t = 30)]
    open_timeout_s: u64,

    /// fanout, saturate: subscribers on the tenant.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// fanout: events per second.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// fanout: events per publish request.
    #[arg(long, default_value_t = 1)]
    fanout_batch: usize,
    /// fanout, saturate: publishing time in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// fanout, saturate: concurrent publisher connections.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// saturate: events per publish request.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Filler bytes in each event's data.
    #[arg(long, default_value_t = 64)]
    payload_bytes: usize,
    /// Longest wait, after publishing ended, for subscribers to receive everything (seconds).
    #[arg(long, default_value_t = 30)]
    drain_timeout_s: u64,
    /// Worker threads of this tool's runtime (client side).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
}

impl Opts {
    pub fn server_path(&self) -> Result<PathBuf> {
        if let Some(path) = &self.server {
            return Ok(path.clone());
        }
        let me = std::env::current_exe().context("locate this executable")?;
        let path = me.with_file_name("beacon");
        if !path.exists() {
            bail!(
                "{} not found: build it (cargo build [--release] -p beacon --bins) or pass --server",
                path.display()
            );
        }
        Ok(path)
    }

    pub fn open_timeout(&self) -> Duration {
        Duration::from_secs(self.open_timeout_s)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.clamp(0.1, 3600.0))
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_s)
    }

    fn backends(&self) -> Vec<Backend> {
        match (self.backend, self.redis) {
            (Some(BackendChoice::Embedded), _) => vec![Backend::Embedded],
            (Some(BackendChoice::Redis), _) => vec![Backend::Redis],
            (Some(BackendChoice::Both), _) | (None, true) => {
                vec![Backend::Embedded, Backend::Redis]
            }
            (None, false) => vec![Backend::Embedded],
        }
    }

    fn scenarios(&self) -> Vec<Scenario> {
        match self.scenario {
            Scenario::All => vec![Scenario::Idle, Scenario::Fanout, Scenario::Saturate],
            one => vec![one],
        }
    }
}

fn main() -> Result<()> {
    let opts = Opts::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::select! {
            result = run(&opts) => result,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted; stopping child processes");
                Ok(())
            }
        }
    })
}

async fn run(opts: &Opts) -> Result<()> {
    let fds = rlimit::increase_nofile_limit(u64::MAX).context("raise RLIMIT_NOFILE")?;
    let needed = (opts.connections.max(opts.subscribers) + 256) as u64;
    if fds < needed {
        eprintln!("warning: RLIMIT_NOFILE is {fds}, the largest scenario needs about {needed}");
    }
    let server = opts.server_path()?;
    println!(
        "beacon-bench: server {}, {} client threads, {} cores, RLIMIT_NOFILE {fds}",
        server.display(),
        opts.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut reports: Vec<Report> = Vec::new();
    let mut failures = 0;
    for backend in opts.backends() {
        for scenario in opts.scenarios() {
            let result = match scenario {
                Scenario::Idle => idle::run(opts, backend).await,
                Scenario::Fanout => {
                    let mode = Mode::Paced {
                        rate: opts.rate,
                        batch: opts.fanout_batch,
                    };
                    load::run(opts, backend, mode).await
                }
                Scenario::Saturate => {
                    let mode = Mode::FlatOut { batch: opts.batch };
                    load::run(opts, backend, mode).await
                }
                Scenario::All => unreachable!("expanded by Opts::scenarios"),
            };
            match result {
                Ok(mut report) => {
                    report.print();
                    reports.push(report);
                }
                Err(e) => {
                    failures += 1;
                    println!();
                    println!("== {scenario:?} · {} FAILED ==", backend.name());
                    println!("  {e:#}");
                }
            }
        }
    }
    if reports.len() > 1 {
        report::print_summary(&reports);
    }
    if failures > 0 {
        bail!("{failures} scenario(s) failed");
    }
    Ok(())
}
