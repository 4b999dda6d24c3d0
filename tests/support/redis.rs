//! A real `redis-server` on a free loopback port with its data in a private
//! temporary directory: persistence off, or an append-only file; an optional
//! password; stop (SIGTERM), kill (SIGKILL), pause (SIGSTOP) and resume
//! (SIGCONT), and starting again on the same port and data directory.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::Signal;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::LaunchError;
use crate::process::{OutputLog, Proc, ProcStats, TAIL_LINES, free_port};
use crate::programs::{redis_cli_bin, redis_server_bin};

/// How long a starting server may take to answer `PING` (it loads its data
/// first), and a stopping one to exit.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Fresh ports tried when another process takes the chosen one first.
const PORT_ATTEMPTS: usize = 5;
/// Upper bound for one `PING` round trip while waiting for readiness.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What the server keeps on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing: every start is empty.
    Off,
    /// An append-only file fsynced on every write: a SIGKILL loses nothing
    /// the server acknowledged.
    #[default]
    AofAlways,
    /// An append-only file fsynced once a second: a SIGKILL may lose the
    /// last second of writes.
    AofEverySecond,
}

impl Persistence {
    fn args(self) -> &'static [&'static str] {
        match self {
            Persistence::Off => &["--save", "", "--appendonly", "no"],
            Persistence::AofAlways => &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            Persistence::AofEverySecond => &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ],
        }
    }
}

/// Options for [`RedisServer`]; start with [`RedisServer::builder`].
#[derive(Debug, Clone, Default)]
pub struct RedisBuilder {
    bin: Option<PathBuf>,
    port: Option<u16>,
    persistence: Persistence,
    password: Option<String>,
    args: Vec<(String, String)>,
}

impl RedisBuilder {
    /// Runs this executable instead of the `redis-server` found on the path.
    pub fn bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.bin = Some(path.into());
        self
    }

    /// Listens on this port (no retry on another one if it is taken).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// What the server keeps on disk ([`Persistence::AofAlways`] unless set).
    pub fn persistence(mut self, persistence: Persistence) -> Self {
        self.persistence = persistence;
        self
    }

    /// Requires this password (`requirepass`); [`RedisServer::url`] carries it.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Any other configuration directive: `--<name> <value>`.
    pub fn arg(mut self, name: &str, value: impl Into<String>) -> Self {
        self.args.push((name.to_owned(), value.into()));
        self
    }

    /// Starts the server and waits until it answers `PING`.
    pub async fn spawn(self) -> Result<RedisServer, LaunchError> {
        let bin = match &self.bin {
            Some(bin) => bin.clone(),
            None => redis_server_bin()?,
        };
        let attempts = if self.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        let mut last_error = None;
        for _ in 0..attempts {
            let port = match self.port {
                Some(port) => port,
                None => free_port().map_err(|e| LaunchError::io("find a free port", e))?,
            };
            let dir = tempfile::Builder::new()
                .prefix("beacon-test-redis-")
                .tempdir()
                .map_err(|e| LaunchError::io("create a temporary directory", e))?;
            let log = OutputLog::new(dir.path().join("redis-output.log"));
            let mut redis = RedisServer {
                bin: bin.clone(),
                options: self.clone(),
                port,
                dir,
                log,
                proc: None,
            };
            match redis.launch().await {
                Ok(()) => return Ok(redis),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or(LaunchError::Helper {
            command: "redis-server".into(),
            detail: "no attempt was made".into(),
        }))
    }

    /// [`spawn`](Self::spawn), panicking with the reason if it fails: tests
    /// that need Redis are never skipped silently.
    pub async fn start(self) -> RedisServer {
        self.spawn()
            .await
            .unwrap_or_else(|e| panic!("could not start redis-server: {e}"))
    }
}

/// A `redis-server` process on a fixed port with its own data directory.
/// Starting it again keeps the port and the data (as far as its
/// [`Persistence`] keeps it).
///
/// Dropping it kills the process and removes the directory; if the test is
/// panicking, the server's output is printed first.
#[derive(Debug)]
pub struct RedisServer {
    bin: PathBuf,
    options: RedisBuilder,
    port: u16,
    dir: TempDir,
    log: OutputLog,
    /// `None` while stopped.
    proc: Option<Proc>,
}

impl RedisServer {
    /// Options for a server: persistence, password, port, any directive.
    pub fn builder() -> RedisBuilder {
        RedisBuilder::default()
    }

    /// A server with the append-only file fsynced on every write (nothing
    /// acknowledged is lost to a kill) and no password. Panics if it cannot
    /// start.
    pub async fn start() -> RedisServer {
        RedisServer::builder().start().await
    }

    async fn launch(&mut self) -> Result<(), LaunchError> {
        assert!(self.proc.is_none(), "redis-server is already running");
        self.log
            .line(&format!("===== redis-server on port {} =====", self.port));
        let mut command = Command::new(&self.bin);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(self.options.persistence.args())
            .arg("--dir")
            .arg(self.dir.path());
        if let Some(password) = &self.options.password {
            command.args(["--requirepass", password]);
        }
        for (name, value) in &self.options.args {
            command.arg(format!("--{name}")).arg(value);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(self.log.open()?))
            .stderr(Stdio::from(self.log.open()?));
        let mut proc = Proc::spawn(&mut command, "redis-server")?;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if ping(self.port, self.options.password.as_deref()).await {
                self.proc = Some(proc);
                return Ok(());
            }
            if let Some(status) = proc.exited() {
                return Err(self.exited(status));
            }
            if tokio::time::Instant::now() > deadline {
                let _ = proc.kill().await;
                return Err(LaunchError::NotReady {
                    program: format!("redis-server on port {}", self.port),
                    limit: READY_TIMEOUT,
                    log: self.log.tail(TAIL_LINES),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn exited(&self, status: ExitStatus) -> LaunchError {
        LaunchError::Exited {
            program: format!("redis-server on port {}", self.port),
            status,
            log: self.log.tail(TAIL_LINES),
        }
    }

    fn running(&self) -> &Proc {
        self.proc.as_ref().expect("redis-server is not running")
    }

    /// `redis://[:<password>@]127.0.0.1:<port>` (valid while stopped too).
    pub fn url(&self) -> String {
        match &self.options.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (append-only file, cluster configuration, output log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id (panics while stopped).
    pub fn pid(&self) -> u32 {
        self.running().pid()
    }

    /// Everything the server printed, over every start.
    pub fn logs(&self) -> String {
        self.log.read()
    }

    /// True unless stopped or killed through this handle.
    pub(crate) fn has_process(&self) -> bool {
        self.proc.is_some()
    }

    /// True while the process runs (a paused one runs).
    pub fn is_running(&mut self) -> bool {
        match self.proc.as_mut() {
            Some(proc) => proc.exited().is_none(),
            None => false,
        }
    }

    /// An error (with the output's tail) if the process died on its own.
    pub fn check_alive(&mut self) -> Result<(), LaunchError> {
        let status = self.proc.as_mut().and_then(Proc::exited);
        match status {
            Some(status) => Err(self.exited(status)),
            None => Ok(()),
        }
    }

    /// Memory and CPU figures of the running process.
    pub fn stats(&self) -> Result<ProcStats, LaunchError> {
        ProcStats::read(self.pid())
    }

    /// Kills the server at once (SIGKILL; with [`Persistence::AofAlways`]
    /// nothing acknowledged is lost) and waits for it to exit.
    pub async fn kill(&mut self) {
        let mut proc = self.proc.take().expect("redis-server is not running");
        let status = proc.kill().await.expect("kill redis-server");
        self.log
            .line(&format!("===== killed with SIGKILL: {status} ====="));
    }

    /// Stops the server the way an operator does (SIGTERM: it flushes its
    /// append-only file and exits) and waits for it to exit. A paused server
    /// is resumed first so it can act on the signal.
    pub async fn stop(&mut self) {
        let mut proc = self.proc.take().expect("redis-server is not running");
        proc.signal(Signal::CONT).expect("resume redis-server");
        proc.signal(Signal::TERM)
            .expect("send SIGTERM to redis-server");
        let status = proc.wait_within(READY_TIMEOUT).await.unwrap_or_else(|| {
            panic!(
                "redis-server did not exit within {READY_TIMEOUT:?} of SIGTERM:\n{}",
                self.log.tail(TAIL_LINES)
            )
        });
        self.log
            .line(&format!("===== stopped with SIGTERM: {status} ====="));
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is
    /// answered, like a hung Redis. [`resume`](Self::resume) undoes it.
    pub fn pause(&self) {
        self.running()
            .signal(Signal::STOP)
            .expect("send SIGSTOP to redis-server");
    }

    /// Lets a [`pause`](Self::pause)d server run again (SIGCONT).
    pub fn resume(&self) {
        self.running()
            .signal(Signal::CONT)
            .expect("send SIGCONT to redis-server");
    }

    /// Starts the server again on the same port and data directory, and
    /// waits until it has loaded its data and answers `PING`. Retries for a
    /// while if the port is not free yet.
    pub async fn start_again(&mut self) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            match self.launch().await {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("could not start redis-server again: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// [`kill`](Self::kill), then [`start_again`](Self::start_again).
    pub async fn restart(&mut self) {
        self.kill().await;
        self.start_again().await;
    }

    /// Runs `redis-cli` against this server with `args` (one command) and
    /// returns its output, trimmed. Panics if `redis-cli` fails or answers
    /// with an error.
    pub async fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new(redis_cli_bin().unwrap_or_else(|e| panic!("{e}")));
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(password) = &self.options.password {
            command.args(["--no-auth-warning", "-a", password]);
        }
        run_cli(command.args(args)).await
    }
}

/// Runs a prepared `redis-cli` command (bounded by [`READY_TIMEOUT`]) and
/// returns its stdout, trimmed; panics on failure or an error answer.
pub(crate) async fn run_cli(command: &mut Command) -> String {
    let describe = format!("{command:?}");
    let output = tokio::time::timeout(READY_TIMEOUT, command.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|_| panic!("{describe} did not finish within {READY_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {describe}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success() && !stdout.starts_with("ERR") && !stdout.starts_with("(error)"),
        "{describe} failed ({}): {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // The process itself is killed when `proc` drops.
        if std::thread::panicking() {
            eprintln!(
                "----- redis-server output (port {}) -----\n{}\n----- end of redis-server output -----",
                self.port,
                self.logs()
            );
        }
    }
}

/// True if the Redis on `port` answers `PING` with `+PONG` (not `-LOADING`
/// while it reads its data), after `AUTH` when it has a password.
///
/// Spoken by hand in a few bytes of RESP rather than with a Redis client
/// crate, so this crate stays free of one.
pub(crate) async fn ping(port: u16, password: Option<&str>) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let mut request = Vec::new();
        if let Some(password) = password {
            request.extend_from_slice(
                format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n", password.len()).as_bytes(),
            );
        }
        request.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        stream.write_all(&request).await.ok()?;
        let replies = 1 + usize::from(password.is_some());
        let mut answer = Vec::new();
        let mut buf = [0u8; 256];
        while answer.windows(2).filter(|w| w == b"\r\n").count() < replies && answer.len() < 4096 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        Some(answer.ends_with(b"+PONG\r\n") && (password.is_none() || answer.starts_with(b"+OK")))
    };
    matches!(
        tokio::time::timeout(PING_TIMEOUT, attempt).await,
        Ok(Some(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_killed_server_keeps_what_it_acknowledged() {
        let mut redis = RedisServer::start().await;
        assert_eq!(redis.cli(&["SET", "k", "v"]).await, "OK");
        let port = redis.port();
        redis.restart().await;
        assert_eq!(redis.port(), port);
        assert_eq!(redis.cli(&["GET", "k"]).await, "v");
    }

    #[tokio::test]
    async fn without_persistence_a_restart_starts_empty() {
        let mut redis = RedisServer::builder()
            .persistence(Persistence::Off)
            .start()
            .await;
        redis.cli(&["SET", "k", "v"]).await;
        redis.restart().await;
        assert_eq!(redis.cli(&["EXISTS", "k"]).await, "0");
    }

    #[tokio::test]
    async fn a_stopped_server_exits_and_starts_again_with_its_data() {
        let mut redis = RedisServer::builder()
            .persistence(Persistence::AofEverySecond)
            .start()
            .await;
        redis.cli(&["SET", "k", "v"]).await;
        redis.stop().await;
        assert!(
            !ping(redis.port(), None).await,
            "still answering after SIGTERM"
        );
        redis.start_again().await;
        assert_eq!(redis.cli(&["GET", "k"]).await, "v");
        assert!(
            redis.logs().contains("stopped with SIGTERM"),
            "{}",
            redis.logs()
        );
    }

    #[tokio::test]
    async fn a_password_is_required_and_in_the_url() {
        let redis = RedisServer::builder().password("s3cret").start().await;
        assert_eq!(
            redis.url(),
            format!("redis://:s3cret@127.0.0.1:{}", redis.port())
        );
        assert!(
            !ping(redis.port(), None).await,
            "answers without the password"
        );
        assert!(ping(redis.port(), Some("s3cret")).await);
        assert_eq!(redis.cli(&["PING"]).await, "PONG");
    }

    #[tokio::test]
    async fn a_paused_server_answers_nothing_until_resumed() {
        let mut redis = RedisServer::start().await;
        redis.pause();
        assert!(!ping(redis.port(), None).await, "a paused server answered");
        assert!(redis.is_running());
        redis.resume();
        assert!(ping(redis.port(), None).await);
        redis.check_alive().unwrap();
        assert!(redis.stats().unwrap().rss_kib > 0);
    }

    #[tokio::test]
    async fn a_server_that_cannot_start_is_an_error_with_its_output() {
        let error = RedisServer::builder()
            .arg("no-such-directive", "1")
            .spawn()
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, LaunchError::Exited { .. }), "{message}");
        assert!(message.contains("no-such-directive"), "{message}");
    }
}
