//! The processes under test: the `beacon` server and, for the Redis backend, a
//! private `redis-server`. Both are killed and reaped when dropped; their
//! scratch directories are removed.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a child may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Linux reports CPU times in /proc in units of USER_HZ, which is 100 on every architecture.
const USER_HZ: f64 = 100.0;

/// Random bytes from the kernel, hex-encoded.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("read /dev/urandom")?;
    Ok(hex::encode(buf))
}

/// A scratch directory removed on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(tag: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "beacon-bench-{tag}-{}-{}",
            std::process::id(),
            random_hex(4)?
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed and reaped on drop.
struct Guarded {
    child: Child,
}

impl Guarded {
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A private, non-persistent `redis-server` on a free loopback port.
pub struct Redis {
    // Field order: the process dies before its directory is removed.
    proc: Guarded,
    pub url: String,
    pub pid: u32,
    dir: ScratchDir,
}

impl Redis {
    pub fn start(binary: &Path) -> Result<Self> {
        let dir = ScratchDir::new("redis")?;
        let port = free_port()?;
        let log_path = dir.path().join("redis.log");
        let log = File::create(&log_path)?;
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let mut proc = Guarded { child };
        let pid = proc.child.id();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = proc.exited() {
                bail!("redis-server exited ({status}):\n{}", tail(&log_path, 20));
            }
            if redis_ping(addr).unwrap_or(false) {
                break;
            }
            if Instant::now() > deadline {
                bail!("redis-server not answering PING:\n{}", tail(&log_path, 20));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            proc,
            url: format!("redis://127.0.0.1:{port}"),
            pid,
            dir,
        })
    }

    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.proc.exited() {
            bail!(
                "redis-server exited ({status}):\n{}",
                tail(&self.dir.path().join("redis.log"), 20)
            );
        }
        Ok(())
    }
}

fn redis_ping(addr: SocketAddr) -> Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 16];
    let n = stream.read(&mut buf)?;
    Ok(buf[..n].starts_with(b"+PONG"))
}

/// Memory and CPU figures of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    pub rss_kib: u64,
    pub rss_anon_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
    /// User + system CPU seconds so far.
    pub cpu_s: f64,
}

impl ProcStats {
    pub fn read(pid: u32) -> Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("read /proc/{pid}/status"))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(Self {
            rss_kib: field("VmRSS:"),
            rss_anon_kib: field("RssAnon:"),
            hwm_kib: field("VmHWM:"),
            threads: field("Threads:"),
            cpu_s: cpu_seconds(&format!("/proc/{pid}/stat"))?,
        })
    }

    pub fn read_self() -> Result<Self> {
        Self::read(std::process::id())
    }
}

fn cpu_seconds(stat_path: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(stat_path).with_context(|| format!("read {stat_path}"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> f64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
    Ok((ticks(11) + ticks(12)) / USER_HZ)
}

/// A running `beacon serve` on a loopback port with a scratch data directory.
pub struct Server {
    // Field order: the process dies before its directory is removed.
    proc: Guarded,
    pub addr: SocketAddr,
    pub admin_token: String,
    pub pid: u32,
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
            // The bench measures capacity: every client is on 127.0.0.1 and
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
        let mut proc = Guarded { child };
        let pid = proc.child.id();

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
            pid,
            log_path,
            _dir: dir,
        })
    }

    pub fn stats(&self) -> Result<ProcStats> {
        ProcStats::read(self.pid)
    }

    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.proc.exited() {
            bail!("server exited ({status}); log tail:\n{}", self.log_tail(30));
        }
        Ok(())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path, lines)
    }
}

/// Connection attempts dropped because a listen queue was full, machine-wide
/// (`TcpExt: ListenOverflows`); each costs the client a 1 s SYN retransmit.
pub fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}
