//! A private, non-persistent `redis-server` on a free loopback port, for
//! Beacon's Redis backend.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::procs::{Guarded, ScratchDir, Stop, free_port, tail};

/// How long redis-server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Redis {
    // Field order: the process dies before its directory is removed.
    proc: Guarded,
    pub url: String,
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
        let mut proc = Guarded::new(child, Stop::Kill);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = proc.exited() {
                bail!("redis-server exited ({status}):\n{}", tail(&log_path, 20));
            }
            if ping(addr).unwrap_or(false) {
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
            dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
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

/// An inline `PING` (Redis accepts commands as plain text lines).
fn ping(addr: SocketAddr) -> Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 16];
    let n = stream.read(&mut buf)?;
    Ok(buf[..n].starts_with(b"+PONG"))
}
