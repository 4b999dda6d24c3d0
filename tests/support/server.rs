//! The real `beacon serve` process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::api::{Reply, Tenant, send};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
const LISTENING_PREFIX: &str = "beacon listening on http://";

/// A name unique within this test run (and across concurrent runs), usable as a
/// Redis key prefix or an admin token.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `beacon` executable: `$BEACON_BIN` if set; otherwise `beacon` in the
/// profile directory holding this test executable (`<target>/<profile>/deps/..`),
/// brought up to date first with `cargo build -p beacon` when the tests run
/// under cargo (set `BEACON_E2E_NO_BUILD=1` to skip that).
pub fn beacon_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(locate_beacon) {
        Ok(path) => path.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn locate_beacon() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("BEACON_BIN") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("BEACON_BIN={} is not a file", path.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("path of the test executable: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the test executable does not live in <target>/<profile>/deps/")?;
    let bin = profile_dir.join(format!("beacon{}", std::env::consts::EXE_SUFFIX));
    let skip_build = std::env::var_os("BEACON_E2E_NO_BUILD").is_some_and(|v| v != "0");
    if let (Some(cargo), false) = (std::env::var_os("CARGO"), skip_build) {
        let mut build = std::process::Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "beacon", "--bin", "beacon"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if let Some(target_dir) = profile_dir.parent() {
            build.arg("--target-dir").arg(target_dir);
        }
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let output = build
            .output()
            .map_err(|e| format!("cannot run cargo build -p beacon: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo build -p beacon failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build the server first (`cargo build -p beacon`) or set BEACON_BIN",
            bin.display()
        ))
    }
}

/// An HTTP client for talking to test servers. Connections are not pooled, so
/// a server restarted on the same port never sees a stale connection.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client")
}

/// Options for [`Beacon`]; start with [`Beacon::builder`].
#[derive(Debug, Clone)]
pub struct BeaconBuilder {
    args: Vec<String>,
}

impl BeaconBuilder {
    /// Adds `--<name> <value>` (replacing an earlier value of the same flag).
    pub fn arg(mut self, name: &str, value: impl Into<String>) -> Self {
        let flag = format!("--{name}");
        if let Some(i) = self.args.iter().position(|a| *a == flag) {
            self.args.remove(i);
            self.args.remove(i);
        }
        self.args.push(flag);
        self.args.push(value.into());
        self
    }

    /// Uses Redis at `url` with the key prefix `prefix`.
    pub fn redis(self, url: &str, prefix: &str) -> Self {
        self.arg("redis-url", url).arg("redis-prefix", prefix)
    }

    pub async fn start(self) -> Beacon {
        let data_dir = tempfile::Builder::new()
            .prefix("beacon-e2e-data-")
            .tempdir()
            .expect("temporary data directory");
        let logs_dir = tempfile::Builder::new()
            .prefix("beacon-e2e-logs-")
            .tempdir()
            .expect("temporary log directory");
        let log_path = logs_dir.path().join("beacon.log");
        let mut beacon = Beacon {
            bin: beacon_bin(),
            args: self.args,
            data_dir,
            _logs_dir: logs_dir,
            log_path,
            admin_token: unique_name("e2e-admin"),
            child: None,
            addr: None,
            starts: 0,
            http: http_client(),
        };
        beacon.spawn("127.0.0.1:0").await;
        beacon
    }
}

/// A running (or stopped) `beacon serve` process with its own data directory.
///
/// Dropping it kills the process. If the test is panicking, the process's stderr
/// (all incarnations) is printed.
pub struct Beacon {
    bin: PathBuf,
    args: Vec<String>,
    data_dir: TempDir,
    _logs_dir: TempDir,
    log_path: PathBuf,
    admin_token: String,
    child: Option<Child>,
    addr: Option<SocketAddr>,
    starts: u32,
    http: reqwest::Client,
}

impl Beacon {
    /// Settings used by every test server unless overridden: short heartbeats
    /// and a short shutdown grace period keep tests quick.
    pub fn builder() -> BeaconBuilder {
        BeaconBuilder { args: Vec::new() }
            .arg("heartbeat", "1s")
            .arg("shutdown-grace", "5s")
            // Tests publish ad-hoc event types; the contract tests turn the
            // built-in catalogue back on.
            .arg("builtin-catalog", "false")
    }

    /// An embedded-log server with default test settings.
    pub async fn start() -> Beacon {
        Self::builder().start().await
    }

    /// A Redis-backed server with default test settings.
    pub async fn start_with_redis(url: &str, prefix: &str) -> Beacon {
        Self::builder().redis(url, prefix).start().await
    }

    async fn spawn(&mut self, listen: &str) {
        assert!(self.child.is_none(), "beacon is already running");
        self.starts += 1;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open beacon log file");
        {
            let mut header = &stderr;
            writeln!(
                header,
                "===== start #{}: beacon serve --listen {listen} --data-dir {} {} =====",
                self.starts,
                self.data_dir.path().display(),
                self.args.join(" ")
            )
            .expect("write beacon log file");
        }
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(&self.args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("BEACON_") {
                cmd.env_remove(&name);
            }
        }
        cmd.env("BEACON_ADMIN_TOKEN", &self.admin_token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(child);

        let mut lines = BufReader::new(stdout).lines();
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        let addr = loop {
            match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    if let Some(rest) = line.strip_prefix(LISTENING_PREFIX) {
                        let addr: SocketAddr = rest
                            .trim()
                            .trim_end_matches('/')
                            .parse()
                            .unwrap_or_else(|e| {
                                panic!("cannot parse the address in {line:?}: {e}")
                            });
                        break addr;
                    }
                    self.log(&format!("stdout: {line}"));
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let status = self.wait_exit(EXIT_TIMEOUT).await;
                    panic!(
                        "beacon exited ({status}) before printing `{LISTENING_PREFIX}<addr>`; stderr:\n{}",
                        self.logs()
                    );
                }
                Err(_) => panic!(
                    "beacon did not print `{LISTENING_PREFIX}<addr>` within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                    self.logs()
                ),
            }
        };
        let log_path = self.log_path.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                append_log(&log_path, &format!("stdout (after listening line): {line}"));
            }
        });
        self.addr = Some(addr);
    }

    fn log(&self, line: &str) {
        append_log(&self.log_path, line);
    }

    /// Everything the process (all incarnations) wrote to stderr.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The address the current incarnation listens on.
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

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("beacon is not running")
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `GET <path>` without credentials.
    pub async fn get(&self, path: &str) -> Reply {
        send(self.http.get(self.url(path))).await
    }

    /// A request with the admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token)
    }

    /// Creates a tenant that may publish types without a contract
    /// (asserting 201) and returns its credentials.
    pub async fn create_tenant(&self, id: &str) -> Tenant {
        self.create_tenant_with(serde_json::json!({ "id": id, "allow_unregistered_types": true }))
            .await
    }

    /// Creates a tenant from a full request body (asserting 201).
    pub async fn create_tenant_with(&self, request: serde_json::Value) -> Tenant {
        let id = request["id"].as_str().unwrap_or_default().to_owned();
        let id = id.as_str();
        let reply = send(
            self.admin(reqwest::Method::POST, "/v1/tenants")
                .json(&request),
        )
        .await;
        reply.assert_status(201);
        let body = reply.json();
        assert_eq!(body["id"], id, "tenant creation answer: {body}");
        let api_key = body["api_key"]
            .as_str()
            .unwrap_or_else(|| panic!("no api_key in {body}"))
            .to_owned();
        assert!(api_key.starts_with("bk_"), "api key {api_key:?} lacks bk_");
        let signing_secret = body["signing_secret"]
            .as_str()
            .unwrap_or_else(|| panic!("no signing_secret in {body}"))
            .to_owned();
        Tenant {
            id: id.to_owned(),
            api_key,
            signing_secret,
            base_url: self.url(""),
            http: self.http.clone(),
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        let pid = self.pid();
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {pid} failed: {status}");
    }

    /// Waits for the process to exit and returns its status.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("beacon is not running");
        let status = match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => status.expect("wait for beacon"),
            Err(_) => panic!(
                "beacon did not exit within {limit:?}; stderr:\n{}",
                self.logs()
            ),
        };
        self.child = None;
        self.log(&format!("===== exited: {status} ====="));
        status
    }

    /// Graceful stop: SIGTERM, then wait for the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit(EXIT_TIMEOUT).await
    }

    /// Hard stop: SIGKILL, then wait.
    pub async fn kill(&mut self) {
        let child = self.child.as_mut().expect("beacon is not running");
        child.kill().await.expect("kill -9 beacon");
        self.child = None;
        self.log("===== killed with SIGKILL =====");
    }

    /// Starts the server again on the same data directory, on a fresh port.
    pub async fn start_again(&mut self) {
        self.spawn("127.0.0.1:0").await;
    }

    /// Starts the server again on the same data directory and the same port.
    pub async fn start_again_on_same_port(&mut self) {
        let addr = self.addr();
        self.spawn(&addr.to_string()).await;
        assert_eq!(self.addr(), addr, "restarted on another address");
    }
}

impl Drop for Beacon {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- beacon stderr ({}) -----\n{}\n----- end of beacon stderr -----",
                self.log_path.display(),
                self.logs()
            );
        }
    }
}

fn append_log(path: &Path, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}
