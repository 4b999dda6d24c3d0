//! The `beacon` command: `serve` runs a node; the other subcommands are
//! `beacon-cli`'s, clients of a running node.

use std::process::ExitCode;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use beacon::config::Settings;
use beacon::config::file::{self, ConfigFile};
use beacon::server;

#[derive(Parser)]
#[command(
    name = "beacon",
    version,
    about = "Beacon: real-time events for many tenants, over Server-Sent Events"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: HTTP API, SSE fan-out, and the event log
    /// (embedded in --data-dir, or Redis with --redis-url).
    Serve {
        #[command(flatten)]
        settings: Box<Settings>,
        /// Log as JSON lines instead of text.
        #[arg(long, env = "BEACON_LOG_JSON")]
        log_json: bool,
        /// A TOML file of settings (see beacon.example.toml); flags and
        /// environment variables win over it.
        #[arg(long, env = "BEACON_CONFIG")]
        config: Option<std::path::PathBuf>,
    },
    // The commands that talk to a running node (tenant, token, publish,
    // tail, schema, plugin).
    #[command(flatten)]
    Client(Box<beacon_cli::Command>),
}

fn main() -> anyhow::Result<ExitCode> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Serve {
            mut settings,
            mut log_json,
            config,
        } => {
            if let Some(path) = config {
                let serve = matches.subcommand_matches("serve");
                let explicit = |id: &str| {
                    serve.is_some_and(|m| {
                        matches!(
                            m.value_source(id),
                            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                        )
                    })
                };
                let file = ConfigFile::load(&path)?;
                if let (Some(json), false) = (file.log_json, explicit(file::LOG_JSON)) {
                    log_json = json;
                }
                file.apply(&mut settings, explicit)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
            }
            init_tracing(log_json);
            raise_fd_limit();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?
                .block_on(serve(*settings))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(command) => Ok(beacon_cli::run(*command)),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = bind(settings.listen).with_context(|| format!("binding {}", settings.listen))?;
    let shutdown = CancellationToken::new();
    let state = server::start(settings, shutdown.clone()).await?;
    let addr = listener.local_addr()?;
    // The one line on stdout: scripts and tests read the address from it.
    println!("beacon listening on http://{addr}");
    tracing::info!(%addr, "listening");
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: closing streams, finishing requests");
        shutdown.cancel();
    });
    server::serve(listener, state).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Pending connections the kernel queues before `accept`: a reconnect
/// storm after a node restart must not overflow it (the default is 128,
/// and an overflow costs a client a one-second SYN retry).
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn init_tracing(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("BEACON_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init()
    } else {
        builder.init()
    }
}

/// Each SSE connection is a file descriptor: use the hard limit.
fn raise_fd_limit() {
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: cannot raise the open-files limit: {error}");
    }
}
