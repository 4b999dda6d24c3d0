//! The real `beacon serve` process: flags and environment from a builder,
//! the listening address read from its stdout, a graceful stop (SIGTERM),
//! a kill (SIGKILL), a pause (SIGSTOP), and starting again on the same data
//! directory (on a fresh or the same port).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::Signal;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::process::{OutputLog, Proc, ProcStats, TAIL_LINES};
use crate::programs::beacon_bin;
use crate::{LaunchError, unique_name};

/// How long a node may take to print its listening address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node may take to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// The line `beacon serve` prints on stdout once it accepts connections.
const LISTENING_PREFIX: &str = "beacon listening on http://";
/// Lines of stdout read before the listening line, at most.
const MAX_STARTUP_LINES: usize = 10_000;

/// Options for [`Beacon`]: the binary, flags and environment. Start with
/// [`Beacon::builder`] (quick test settings) or [`BeaconBuilder::new`] (none).
#[derive(Debug, Clone)]
pub struct BeaconBuilder {
    bin: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(OsString, OsString)>,
    admin_token: Option<String>,
}

impl Default for BeaconBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BeaconBuilder {
    /// No flags beyond `--listen` and `--data-dir`, and no `BEACON_*`
    /// variable of this process's environment.
    pub fn new() -> Self {
        BeaconBuilder {
            bin: None,
            args: Vec::new(),
            env: Vec::new(),
            admin_token: None,
        }
    }

    /// Runs this executable instead of [`beacon_bin`](crate::beacon_bin).
    pub fn bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.bin = Some(path.into());
        self
    }

    /// Adds `--<name> <value>` (replacing an earlier value of the same flag).
    pub fn arg(mut self, name: &str, value: impl Into<String>) -> Self {
        let flag = format!("--{name}");
        if let Some(i) = self.args.iter().position(|a| *a == flag) {
            self.args.drain(i..i + 2);
        }
        self.args.push(flag);
        self.args.push(value.into());
        self
    }

    /// Sets an environment variable of the process (after every `BEACON_*`
    /// variable of this process is removed).
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The admin token (`BEACON_ADMIN_TOKEN`); a unique one unless set.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// Uses Redis at `url` with the key prefix `prefix`.
    pub fn redis(self, url: &str, prefix: &str) -> Self {
        self.arg("redis-url", url).arg("redis-prefix", prefix)
    }

    /// Starts the node on `127.0.0.1:0` with a fresh data directory and
    /// waits for its listening address.
    pub async fn spawn(self) -> Result<Beacon, LaunchError> {
        let bin = match self.bin {
            Some(bin) => bin,
            None => beacon_bin()?,
        };
        let data_dir = tempfile::Builder::new()
            .prefix("beacon-test-data-")
            .tempdir()
            .map_err(|e| LaunchError::io("create a temporary data directory", e))?;
        let logs_dir = tempfile::Builder::new()
            .prefix("beacon-test-logs-")
            .tempdir()
            .map_err(|e| LaunchError::io("create a temporary log directory", e))?;
        let log = OutputLog::new(logs_dir.path().join("beacon.log"));
        let mut beacon = Beacon {
            bin,
            args: self.args,
            env: self.env,
            admin_token: self
                .admin_token
                .unwrap_or_else(|| unique_name("test-admin")),
            data_dir,
            _logs_dir: logs_dir,
            log,
            proc: None,
            addr: None,
            starts: 0,
            #[cfg(feature = "client")]
            http: crate::api::http_client(),
        };
        beacon.launch("127.0.0.1:0").await?;
        Ok(beacon)
    }

    /// [`spawn`](Self::spawn), panicking with the reason if it fails.
    pub async fn start(self) -> Beacon {
        self.spawn()
            .await
            .unwrap_or_else(|e| panic!("could not start beacon: {e}"))
    }
}

/// A running (or stopped) `beacon serve` process with its own data directory.
///
/// Dropping it kills the process. If the test is panicking, everything the
/// process printed (every start) is shown.
#[derive(Debug)]
pub struct Beacon {
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(OsString, OsString)>,
    admin_token: String,
    data_dir: TempDir,
    _logs_dir: TempDir,
    /// stderr, and stdout apart from the listening line, of every start.
    log: OutputLog,
    /// `None` while stopped.
    proc: Option<Proc>,
    /// The address of the latest start.
    addr: Option<SocketAddr>,
    starts: u32,
    /// Shared by every request to this node (see [`crate::api`]).
    #[cfg(feature = "client")]
    pub(crate) http: reqwest::Client,
}

impl Beacon {
    /// Settings every test node uses unless overridden: short heartbeats and
    /// a short shutdown grace period keep tests quick, and the built-in
    /// contract catalogue is off (tests publish ad-hoc event types; the
    /// contract tests turn it back on).
    pub fn builder() -> BeaconBuilder {
        BeaconBuilder::new()
            .arg("heartbeat", "1s")
            .arg("shutdown-grace", "5s")
            .arg("builtin-catalog", "false")
    }

    /// An embedded-log node with the test settings (panics if it cannot start).
    pub async fn start() -> Beacon {
        Self::builder().start().await
    }

    /// A Redis-backed node with the test settings (panics if it cannot start).
    pub async fn start_with_redis(url: &str, prefix: &str) -> Beacon {
        Self::builder().redis(url, prefix).start().await
    }

    async fn launch(&mut self, listen: &str) -> Result<(), LaunchError> {
        assert!(self.proc.is_none(), "beacon is already running");
        self.starts += 1;
        self.log.line(&format!(
            "===== start #{}: beacon serve --listen {listen} --data-dir {} {} =====",
            self.starts,
            self.data_dir.path().display(),
            self.args.join(" ")
        ));
        let mut command = Command::new(&self.bin);
        command
            .arg("serve")
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(&self.args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("BEACON_") {
                command.env_remove(&name);
            }
        }
        command
            .env("BEACON_ADMIN_TOKEN", &self.admin_token)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(self.log.open()?));
        let mut proc = Proc::spawn(&mut command, "beacon")?;
        let stdout = proc
            .child_mut()
            .stdout
            .take()
            .ok_or_else(|| self.unexpected("stdout is not piped"))?;
        let mut lines = BufReader::new(stdout).lines();
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        let mut seen = 0;
        let addr = loop {
            match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    if let Some(rest) = line.trim().strip_prefix(LISTENING_PREFIX) {
                        match rest.trim_end_matches('/').parse::<SocketAddr>() {
                            Ok(addr) => break addr,
                            Err(e) => {
                                return Err(self.unexpected(&format!(
                                    "cannot parse the address in {line:?}: {e}"
                                )));
                            }
                        }
                    }
                    self.log.line(&format!("stdout: {line}"));
                    seen += 1;
                    if seen > MAX_STARTUP_LINES {
                        return Err(self.unexpected(&format!(
                            "{MAX_STARTUP_LINES} lines on stdout and no `{LISTENING_PREFIX}<addr>`"
                        )));
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let status = proc.wait_within(EXIT_TIMEOUT).await;
                    return Err(match status {
                        Some(status) => LaunchError::Exited {
                            program: "beacon".into(),
                            status,
                            log: self.log.tail(TAIL_LINES),
                        },
                        None => self.unexpected(&format!(
                            "closed stdout before printing `{LISTENING_PREFIX}<addr>`"
                        )),
                    });
                }
                Err(_) => {
                    return Err(LaunchError::NotReady {
                        program: format!("beacon (no `{LISTENING_PREFIX}<addr>`)"),
                        limit: STARTUP_TIMEOUT,
                        log: self.log.tail(TAIL_LINES),
                    });
                }
            }
        };
        let log = self.log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                log.line(&format!("stdout (after listening line): {line}"));
            }
        });
        self.proc = Some(proc);
        self.addr = Some(addr);
        Ok(())
    }

    fn unexpected(&self, message: &str) -> LaunchError {
        LaunchError::Unexpected {
            program: "beacon".into(),
            message: message.to_owned(),
            log: self.log.tail(TAIL_LINES),
        }
    }

    fn running(&self) -> &Proc {
        self.proc.as_ref().expect("beacon is not running")
    }

    /// Everything the process (every start) wrote to stderr and stdout.
    pub fn logs(&self) -> String {
        self.log.read()
    }

    /// The last `lines` lines of [`logs`](Self::logs).
    pub fn log_tail(&self, lines: usize) -> String {
        self.log.tail(lines)
    }

    /// The file holding [`logs`](Self::logs).
    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    /// The address of the latest start.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("beacon has not started")
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The process id (panics while stopped).
    pub fn pid(&self) -> u32 {
        self.running().pid()
    }

    /// True while the process has not exited (a paused one has not).
    pub fn is_running(&mut self) -> bool {
        match self.proc.as_mut() {
            Some(proc) => proc.exited().is_none(),
            None => false,
        }
    }

    /// An error (with the output's tail) if the process died on its own.
    pub fn check_alive(&mut self) -> Result<(), LaunchError> {
        match self.proc.as_mut().and_then(Proc::exited) {
            Some(status) => Err(LaunchError::Exited {
                program: "beacon".into(),
                status,
                log: self.log.tail(TAIL_LINES),
            }),
            None => Ok(()),
        }
    }

    /// Memory and CPU figures of the running process.
    pub fn stats(&self) -> Result<ProcStats, LaunchError> {
        ProcStats::read(self.pid())
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        self.running()
            .signal(Signal::TERM)
            .expect("send SIGTERM to beacon");
    }

    /// Freezes the process (SIGSTOP): its sockets stay open but nothing is
    /// answered. [`resume`](Self::resume) undoes it.
    pub fn pause(&self) {
        self.running()
            .signal(Signal::STOP)
            .expect("send SIGSTOP to beacon");
    }

    /// Lets a [`pause`](Self::pause)d process run again (SIGCONT).
    pub fn resume(&self) {
        self.running()
            .signal(Signal::CONT)
            .expect("send SIGCONT to beacon");
    }

    /// Waits at most `limit` for the process to exit and returns its status.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let proc = self.proc.as_mut().expect("beacon is not running");
        let Some(status) = proc.wait_within(limit).await else {
            panic!(
                "beacon did not exit within {limit:?}; output:\n{}",
                self.logs()
            );
        };
        self.proc = None;
        self.log.line(&format!("===== exited: {status} ====="));
        status
    }

    /// Graceful stop: SIGTERM, then waits for the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit(EXIT_TIMEOUT).await
    }

    /// Hard stop: SIGKILL, then waits for the exit.
    pub async fn kill(&mut self) {
        let mut proc = self.proc.take().expect("beacon is not running");
        proc.kill().await.expect("kill -9 beacon");
        self.log.line("===== killed with SIGKILL =====");
    }

    /// Starts the node again on the same data directory, on a fresh port.
    pub async fn start_again(&mut self) {
        if let Err(e) = self.launch("127.0.0.1:0").await {
            panic!("could not start beacon again: {e}");
        }
    }

    /// Starts the node again on the same data directory and the same port.
    pub async fn start_again_on_same_port(&mut self) {
        let addr = self.addr();
        if let Err(e) = self.launch(&addr.to_string()).await {
            panic!("could not start beacon again on {addr}: {e}");
        }
        assert_eq!(self.addr(), addr, "started again on another address");
    }
}

impl Drop for Beacon {
    fn drop(&mut self) {
        // The process itself is killed when `proc` drops.
        if std::thread::panicking() {
            eprintln!(
                "----- beacon output ({}) -----\n{}\n----- end of beacon output -----",
                self.log.path().display(),
                self.logs()
            );
        }
    }
}
