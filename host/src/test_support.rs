//! Helpers shared by the unit tests of several modules (compiled only for tests).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly spawned `redis-server` may take to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at finding a free port when another process wins the race.
const PORT_ATTEMPTS: usize = 5;

/// A real `redis-server` on a free local port, with its data in a private
/// temporary directory. It runs with the append-only file on and fsynced
/// on every write (and no RDB snapshots), so [`restart`](Self::restart)
/// keeps every acknowledged write, even though [`stop`](Self::stop) kills
/// the process without warning. The process is killed when this is dropped.
///
/// The methods block the calling thread for as long as the server takes to
/// start (tens of milliseconds), so async tests using this run on the
/// multi-threaded runtime.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    ///
    /// Panics if `redis-server` is not installed: these tests need a real
    /// Redis and are never skipped silently.
    pub fn start() -> Self {
        let mut dir = tempfile::tempdir().expect("creating a temporary directory for redis-server");
        for _ in 0..PORT_ATTEMPTS {
            let mut server = RedisServer {
                port: free_port(),
                dir,
                child: None,
            };
            if server.spawn() {
                return server;
            }
            dir = server.take_dir();
        }
        panic!("redis-server did not start after {PORT_ATTEMPTS} attempts");
    }

    /// A `redis://` URL for this server (valid even while it is stopped).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (`SIGKILL`, no shutdown save) and waits
    /// for it to exit. Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // It may already have exited; either way it is gone afterwards.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory, and
    /// waits until it has loaded its data and answers `PING`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        assert!(
            self.spawn(),
            "redis-server did not restart on port {} (see {}/redis.log)",
            self.port,
            self.dir.path().display()
        );
    }

    /// [`stop`](Self::stop) then [`start_again`](Self::start_again).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Freezes the server (`SIGSTOP`): connections stay open but nothing
    /// is answered, like a hung Redis. [`resume`](Self::resume) undoes it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server is not running");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Spawns the process and waits for it to be ready. Returns false if it
    /// exited early (typically: the port was taken in the meantime).
    fn spawn(&mut self) -> bool {
        let dir = self.dir.path();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "yes"])
            .args(["--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .args(["--logfile", "redis.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                "redis-server is not on PATH. The Redis log tests run against a real \
                 Redis 7: install it (`apt-get install redis-server`) and run \
                 `cargo test -p beacon --lib log::redis` again"
            ),
            Err(e) => panic!("spawning redis-server: {e}"),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if ping(self.port) {
                self.child = Some(child);
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-server on port {} not ready after {READY_TIMEOUT:?}: {}",
                    self.port,
                    log_tail(dir)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.stop();
        let placeholder = tempfile::tempdir().expect("creating a temporary directory");
        std::mem::replace(&mut self.dir, placeholder)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago (bound to `127.0.0.1:0`, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// True if a Redis on `port` answers `PING` with `+PONG` (not `-LOADING`).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    let lines: Vec<_> = log.lines().rev().take(10).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}
