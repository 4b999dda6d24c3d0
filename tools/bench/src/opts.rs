//! Command-line options: which scenarios, against which targets, at what size.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

/// Streams one subscriber process holds at most by default: well under the
/// file limit of a process (20 000 on the machines the figures come from),
/// and under a third of one source address's ephemeral ports.
pub const DEFAULT_STREAMS_PER_PROCESS: usize = 8000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Idle,
    Fanout,
    Saturate,
    All,
}

/// Beacon's log backends to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Embedded,
    Redis,
    Both,
    /// No Beacon target (Nchan alone).
    None,
}

/// Whether Nchan is measured too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NchanChoice {
    /// When nginx and the nchan module are installed; said clearly when not.
    Auto,
    /// Always; the run fails when they are not installed.
    Yes,
    No,
}

/// One system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    BeaconEmbedded,
    BeaconRedis,
    Nchan,
}

impl TargetKind {
    /// Its name in tables and `RESULT` lines.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::BeaconEmbedded => "beacon-embedded",
            TargetKind::BeaconRedis => "beacon-redis",
            TargetKind::Nchan => "nchan",
        }
    }

    pub fn is_beacon(self) -> bool {
        self != TargetKind::Nchan
    }
}

/// The command line: the bench, or (hidden) one subscriber process of it.
#[derive(Debug, Parser)]
#[command(name = "beacon-bench", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub opts: Opts,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A subscriber process, driven by the bench over stdin/stdout.
    #[command(hide = true)]
    Client,
}

/// Load figures for `beacon serve` and Nchan: idle stream memory, fan-out
/// latency, saturation.
#[derive(Debug, clap::Args)]
pub struct Opts {
    /// Scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// Beacon log backend(s) to measure.
    #[arg(long, value_enum, default_value = "both")]
    pub backend: BackendChoice,
    /// Same as `--backend both` (the default; kept for older command lines).
    #[arg(long)]
    pub redis: bool,
    /// Measure Nchan (nginx with the nchan module) in the same run.
    #[arg(long, value_enum, default_value = "auto")]
    pub nchan: NchanChoice,
    /// The `beacon` binary (default: next to this executable).
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// The redis-server binary.
    #[arg(long, default_value = "/usr/bin/redis-server")]
    pub redis_server: PathBuf,
    /// The nginx binary.
    #[arg(long, default_value = "/usr/sbin/nginx")]
    pub nginx: PathBuf,
    /// The nchan module (default: found where Debian's libnginx-mod-nchan puts it).
    #[arg(long)]
    pub nchan_module: Option<PathBuf>,
    /// Log filter passed to Beacon as BEACON_LOG (its log goes to a scratch file).
    #[arg(long, default_value = "warn")]
    pub server_log: String,
    /// Beacon: register a JSON-Schema contract for the bench's event type, so
    /// every publish is validated (default: the type is unregistered).
    #[arg(long)]
    pub contract: bool,
    /// Beacon: activate this plugin component for the bench's event type,
    /// e.g. `target/plugins/display-amount.wasm`; events then carry an
    /// amount and a currency for a money enricher to format.
    #[arg(long)]
    pub plugin: Option<PathBuf>,

    /// idle: streams to open, one run per size (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10000,18000")]
    pub connections: Vec<usize>,
    /// idle: seconds to hold the streams open before reading memory.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub idle_hold: Duration,
    /// Stream handshakes in flight at once, over all subscriber processes
    /// (above the server's listen backlog, SYNs are dropped and retried after 1 s).
    #[arg(long, default_value_t = 100)]
    pub open_concurrency: usize,
    /// Time limit for opening one stream, in seconds.
    #[arg(long, default_value_t = 30)]
    pub open_timeout_s: u64,

    /// fanout, saturate: subscribers on the tenant (Nchan: the channel).
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// fanout: events per second.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// fanout: events per publish request (Beacon; Nchan publishes one
    /// message per request).
    #[arg(long, default_value_t = 1)]
    pub fanout_batch: usize,
    /// fanout, saturate: publishing time in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// fanout, saturate: concurrent publisher connections.
    #[arg(long, default_value_t = 4)]
    pub publishers: usize,
    /// saturate: events per publish request (Beacon; Nchan publishes one
    /// message per request).
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Filler bytes in each event's data.
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Longest wait, after publishing ended, for subscribers to receive everything (seconds).
    #[arg(long, default_value_t = 30)]
    pub drain_timeout_s: u64,
    /// Worker threads of the publishing process (subscribers run in their
    /// own processes, one thread each).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Subscriber processes (at least; more when the streams need them).
    #[arg(long, default_value_t = 2)]
    pub client_processes: usize,
    /// Most streams held by one subscriber process.
    #[arg(long, default_value_t = DEFAULT_STREAMS_PER_PROCESS)]
    pub streams_per_process: usize,
    /// Nchan: messages kept per channel (`nchan_message_buffer_length`),
    /// more than a run publishes, so that none is evicted while a
    /// subscriber still needs it.
    #[arg(long, default_value_t = 1_000_000)]
    pub nchan_buffer: u64,
    /// Nchan: shared memory for messages and channels (`nchan_shared_memory_size`, MiB).
    #[arg(long, default_value_t = 512)]
    pub nchan_shm_mib: u64,
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

    /// Beacon targets, in order.
    pub fn beacon_targets(&self) -> Vec<TargetKind> {
        let backend = if self.redis {
            BackendChoice::Both
        } else {
            self.backend
        };
        match backend {
            BackendChoice::Embedded => vec![TargetKind::BeaconEmbedded],
            BackendChoice::Redis => vec![TargetKind::BeaconRedis],
            BackendChoice::Both => vec![TargetKind::BeaconEmbedded, TargetKind::BeaconRedis],
            BackendChoice::None => Vec::new(),
        }
    }

    pub fn scenarios(&self) -> Vec<Scenario> {
        match self.scenario {
            Scenario::All => vec![Scenario::Idle, Scenario::Fanout, Scenario::Saturate],
            one => vec![one],
        }
    }

    /// Subscriber processes for `streams` streams.
    pub fn processes_for(&self, streams: usize) -> usize {
        let per = self.streams_per_process.max(1);
        self.client_processes.max(1).max(streams.div_ceil(per))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("beacon-bench").chain(args.iter().copied()))
            .expect("valid command line")
    }

    #[test]
    fn defaults_measure_every_target_at_both_idle_sizes() {
        let cli = parse(&[]);
        assert!(cli.command.is_none());
        assert_eq!(cli.opts.connections, vec![10_000, 18_000]);
        assert_eq!(
            cli.opts.beacon_targets(),
            vec![TargetKind::BeaconEmbedded, TargetKind::BeaconRedis]
        );
        assert_eq!(cli.opts.nchan, NchanChoice::Auto);
        assert_eq!(cli.opts.processes_for(18_000), 3);
        assert_eq!(cli.opts.processes_for(1000), 2);
    }

    #[test]
    fn older_command_lines_still_parse() {
        let cli = parse(&[
            "--scenario",
            "saturate",
            "--backend",
            "embedded",
            "--contract",
            "--subscribers",
            "10",
            "--duration",
            "5",
            "--connections",
            "4000",
        ]);
        assert_eq!(cli.opts.beacon_targets(), vec![TargetKind::BeaconEmbedded]);
        assert_eq!(cli.opts.connections, vec![4000]);
        assert!(parse(&["--redis"]).opts.beacon_targets().len() == 2);
        assert!(matches!(parse(&["client"]).command, Some(Command::Client)));
    }
}
