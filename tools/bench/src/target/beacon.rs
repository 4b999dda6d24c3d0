//! Beacon under test: `beacon serve` on a loopback port with a scratch data
//! directory (and its own redis-server for the Redis backend), its limits
//! lifted, and the bench tenant set up.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::api;
use super::redis::Redis;
use crate::opts::Opts;
use crate::procs::{Guarded, ScratchDir, Stop, random_hex, tail};

/// How long the server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to answer `/readyz` after that.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `beacon serve`.
pub struct Server {
    // Field order: the process dies before its directory is removed.
    proc: Guarded,
    pub addr: SocketAddr,
    pub admin_token: String,
    log_path: PathBuf,
    _dir: ScratchDir,
}

impl Server {
    pub fn start(binary: &Path, redis_url: Option<&str>, log_filter: &str) -> Result<Self> {
        let dir = ScratchDir::new("server")?;
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path)?;
        let admin_token = random_hex(24)?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            // The bench measures capacity: every client is on 127.0.0.x and
            // one tenant takes all the load, so the per-IP, per-tenant and
            // per-user limits that protect a shared node are lifted.
            .args([
                "--connect-rate-per-ip",
                "1000000",
                "--connect-burst-per-ip",
                "1000000",
            ])
            .args([
                "--publish-rate",
                "100000000",
                "--publish-burst",
                "100000000",
            ])
            .args([
                "--max-connections-per-tenant",
                "1000000",
                "--max-connections-per-user",
                "1000000",
            ])
            .env("BEACON_ADMIN_TOKEN", &admin_token)
            .env("BEACON_LOG", log_filter)
            .env_remove("BEACON_LISTEN")
            .env_remove("BEACON_DATA_DIR")
            .env_remove("BEACON_REDIS_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(url) = redis_url {
            cmd.args(["--redis-url", url]);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut proc = Guarded::new(child, Stop::Kill);

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(addr) = line.trim().strip_prefix("beacon listening on http://")
                {
                    sent = true;
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr
                .parse::<SocketAddr>()
                .with_context(|| format!("bad listening address {addr:?}"))?,
            Err(_) => {
                let status = proc
                    .exited()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "still running".into());
                bail!(
                    "{} did not print `beacon listening on http://…` ({status}); log tail:\n{}",
                    binary.display(),
                    tail(&log_path, 30)
                );
            }
        };
        if !addr.ip().is_loopback() {
            bail!("server listens on {addr}, expected a loopback address");
        }
        Ok(Self {
            proc,
            addr,
            admin_token,
            log_path,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.proc.exited() {
            bail!(
                "server exited ({status}); log tail:\n{}",
                tail(&self.log_path, 30)
            );
        }
        Ok(())
    }
}

/// Beacon with the bench tenant.
pub struct Beacon {
    // Field order: the server stops before its Redis.
    pub server: Server,
    pub redis: Option<Redis>,
    pub api_key: String,
}

impl Beacon {
    pub async fn start(opts: &Opts, with_redis: bool) -> Result<Self> {
        let redis = if with_redis {
            Some(Redis::start(&opts.redis_server).context("start redis-server")?)
        } else {
            None
        };
        let server = Server::start(
            &opts.server_path()?,
            redis.as_ref().map(|r| r.url.as_str()),
            &opts.server_log,
        )
        .context("start beacon serve")?;
        let addr = server.addr;
        api::wait_ready(addr, READY_TIMEOUT).await?;
        if opts.contract {
            api::register_contract(addr, &server.admin_token).await?;
        }
        let api_key = api::create_tenant(addr, &server.admin_token, opts.contract).await?;
        if let Some(path) = &opts.plugin {
            let wasm = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            api::activate_plugin(addr, &api_key, wasm).await?;
        }
        Ok(Self {
            server,
            redis,
            api_key,
        })
    }

    pub fn check_alive(&mut self) -> Result<()> {
        self.server.check_alive()?;
        if let Some(redis) = &mut self.redis {
            redis.check_alive()?;
        }
        Ok(())
    }
}
