//! A real `redis-server` with durable storage (AOF, fsync always) in a
//! temporary directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn redis_server_bin() -> PathBuf {
    let candidates = std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("redis-server"))
                .collect::<Vec<_>>()
        }))
        .chain([PathBuf::from("/usr/bin/redis-server")]);
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "redis-server not found (looked at $REDIS_SERVER, $PATH and /usr/bin): `bash tests/run.sh` \
         (see tests/README.md) installs it, or `apt-get install -y redis-server`"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// A `redis-server` process on a fixed port with its own data directory.
/// Stopping and starting it again keeps the port and the data.
pub struct RedisServer {
    bin: PathBuf,
    port: u16,
    dir: TempDir,
    log_path: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a fresh server on a free port and waits until it answers PING.
    pub async fn start() -> RedisServer {
        let bin = redis_server_bin();
        let mut last_error = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("beacon-e2e-redis-")
                .tempdir()
                .expect("temporary redis directory");
            let log_path = dir.path().join("redis-stdout.log");
            let mut redis = RedisServer {
                bin: bin.clone(),
                port: free_port(),
                dir,
                log_path,
                child: None,
            };
            match redis.spawn().await {
                Ok(()) => return redis,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    async fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "redis-server is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.bin)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("yes")
            .arg("--appendfsync")
            .arg("always")
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if ping(self.port).await {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server exited ({status}) on port {}:\n{}",
                    self.port,
                    self.logs()
                ));
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill().await;
                return Err(format!(
                    "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}:\n{}",
                    self.port,
                    self.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Kills the server (SIGKILL; with `appendfsync always` nothing acknowledged is lost).
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("redis-server is not running");
        child.kill().await.expect("kill redis-server");
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        while ping(self.port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server still answers after being killed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the server again on the same port and directory.
    pub async fn start_again(&mut self) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            match self.spawn().await {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("could not restart redis-server: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- redis-server output (port {}) -----\n{}\n----- end of redis-server output -----",
                self.port,
                self.logs()
            );
        }
    }
}

/// True if something on `port` answers `PING` with `+PONG`.
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(true))
    )
}
