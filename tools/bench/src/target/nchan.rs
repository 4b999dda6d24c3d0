//! Nchan under test: nginx with the nchan module, started by the bench in
//! the foreground from a scratch configuration — one worker process, a
//! publisher location and an EventSource subscriber location, the channel
//! id taken from the query — on a free loopback port.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::http::{Call, Conn};
use crate::opts::Opts;
use crate::procs::{Guarded, ScratchDir, Stop, children_of, free_port, tail};

/// The channel every subscriber and publisher uses (Beacon: the tenant).
pub const CHANNEL: &str = "bench";
/// Where Debian's libnginx-mod-nchan puts the module, and the snippets
/// that load it (their `load_module` path is read when present).
const MODULE_PATHS: [&str; 2] = [
    "/usr/lib/nginx/modules/ngx_nchan_module.so",
    "/usr/share/nginx/modules/ngx_nchan_module.so",
];
const MODULE_SNIPPETS: [&str; 2] = [
    "/usr/share/nginx/modules-available/mod-http-nchan.conf",
    "/usr/share/nginx/modules-available/mod-nchan.conf",
];
/// nginx's prefix on Debian: relative `load_module` paths start there.
const DEBIAN_PREFIX: &str = "/usr/share/nginx";
/// How long nginx may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages outlive any run (`nchan_message_timeout`).
const MESSAGE_TIMEOUT_S: u64 = 3600;
/// File descriptors kept for nginx's own files and listening socket.
const RESERVED_FDS: u64 = 100;
/// Pending connections queued before `accept`, as Beacon's listener.
const LISTEN_BACKLOG: u32 = 4096;

/// nginx and the nchan module, found and checked.
#[derive(Debug, Clone)]
pub struct Install {
    pub nginx: PathBuf,
    pub module: PathBuf,
    /// `nginx/1.22.1`.
    pub version: String,
}

/// Finds nginx and the module and checks that this nginx loads it (`nginx -t`
/// on a scratch configuration). The error says what is missing.
pub fn detect(opts: &Opts) -> Result<Install> {
    if !opts.nginx.exists() {
        bail!(
            "{} not found (Debian: apt-get install nginx libnginx-mod-nchan)",
            opts.nginx.display()
        );
    }
    let module = match &opts.nchan_module {
        Some(path) => path.clone(),
        None => find_module().context(
            "the nchan module was not found (Debian: apt-get install libnginx-mod-nchan, or --nchan-module)",
        )?,
    };
    if !module.exists() {
        bail!("{} not found", module.display());
    }
    let version = Command::new(&opts.nginx)
        .arg("-v")
        .output()
        .with_context(|| format!("run {} -v", opts.nginx.display()))?;
    let version = String::from_utf8_lossy(&version.stderr)
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or("nginx")
        .to_owned();
    let install = Install {
        nginx: opts.nginx.clone(),
        module,
        version,
    };
    let dir = ScratchDir::new("nginx-check")?;
    let conf = write_config(&install, dir.path(), free_port()?, opts)?;
    let check = Command::new(&install.nginx)
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .output()
        .with_context(|| format!("run {} -t", install.nginx.display()))?;
    if !check.status.success() {
        bail!(
            "{} does not accept the nchan configuration:\n{}",
            install.nginx.display(),
            String::from_utf8_lossy(&check.stderr).trim()
        );
    }
    Ok(install)
}

fn find_module() -> Option<PathBuf> {
    for snippet in MODULE_SNIPPETS {
        let Ok(text) = std::fs::read_to_string(snippet) else {
            continue;
        };
        let path = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("load_module")
                .map(|rest| rest.trim().trim_end_matches(';').trim().to_owned())
        });
        if let Some(path) = path
            && let Ok(path) = Path::new(DEBIAN_PREFIX).join(path).canonicalize()
        {
            return Some(path);
        }
    }
    MODULE_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// The scratch configuration.
pub fn config(install: &Install, dir: &Path, port: u16, opts: &Opts, nofile: u64) -> String {
    let dir = dir.display();
    let mut c = String::new();
    let _ = writeln!(c, "load_module {};", install.module.display());
    // In the foreground, as a child of the bench; a master process and one
    // worker, as nginx runs in production (the master only supervises).
    c.push_str("daemon off;\nmaster_process on;\nworker_processes 1;\n");
    let _ = writeln!(c, "worker_rlimit_nofile {nofile};");
    let _ = writeln!(c, "pid {dir}/nginx.pid;");
    let _ = writeln!(c, "error_log {dir}/error.log warn;");
    let _ = writeln!(
        c,
        "events {{ worker_connections {}; }}",
        nofile.saturating_sub(RESERVED_FDS)
    );
    c.push_str("http {\n  access_log off;\n");
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let _ = writeln!(c, "  {temp}_temp_path {dir}/{temp};");
    }
    // Publish bodies stay in memory; publishers keep their connections.
    c.push_str("  client_body_buffer_size 1m;\n  client_max_body_size 1m;\n");
    c.push_str("  keepalive_requests 100000000;\n");
    let _ = writeln!(c, "  nchan_shared_memory_size {}m;", opts.nchan_shm_mib);
    // Sized so that no message of a run is evicted or expires.
    let _ = writeln!(c, "  nchan_message_buffer_length {};", opts.nchan_buffer);
    let _ = writeln!(c, "  nchan_message_timeout {MESSAGE_TIMEOUT_S}s;");
    c.push_str("  server {\n");
    let _ = writeln!(c, "    listen 127.0.0.1:{port} backlog={LISTEN_BACKLOG};");
    c.push_str("    location = /healthz { return 200 \"ok\\n\"; }\n");
    c.push_str("    location = /pub { nchan_publisher; nchan_channel_id $arg_id; }\n");
    c.push_str("    location = /sub { nchan_subscriber eventsource; nchan_channel_id $arg_id; }\n");
    c.push_str("  }\n}\n");
    c
}

/// The hard file limit of this process: what Beacon raises itself to, and
/// what nginx's worker gets.
fn nofile_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(_, hard)| hard)
        .unwrap_or(1024)
        .min(1 << 20)
}

fn write_config(install: &Install, dir: &Path, port: u16, opts: &Opts) -> Result<PathBuf> {
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config(install, dir, port, opts, nofile_limit()))
        .with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// A running nginx with nchan.
pub struct Nchan {
    // Field order: the process stops before its directory is removed.
    proc: Guarded,
    pub addr: std::net::SocketAddr,
    log_path: PathBuf,
    dir: ScratchDir,
}

impl Nchan {
    pub async fn start(install: &Install, opts: &Opts) -> Result<Self> {
        let dir = ScratchDir::new("nginx")?;
        let port = free_port()?;
        let conf = write_config(install, dir.path(), port, opts)?;
        let log_path = dir.path().join("nginx.out");
        let log = File::create(&log_path)?;
        let child = Command::new(&install.nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", install.nginx.display()))?;
        let mut nchan = Self {
            proc: Guarded::new(child, Stop::Term),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            log_path,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut conn = Conn::new(nchan.addr);
        loop {
            nchan.check_alive()?;
            match conn.request(Call::get("/healthz")).await {
                Ok(resp) if resp.status == 200 => break,
                _ if Instant::now() > deadline => {
                    bail!("nginx not answering:\n{}", nchan.log_tail())
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        // The worker is forked before the listener answers.
        if nchan.workers().is_empty() {
            bail!("nginx runs no worker process:\n{}", nchan.log_tail());
        }
        Ok(nchan)
    }

    /// The master process, then its workers.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.proc.pid()];
        pids.extend(self.workers());
        pids
    }

    fn workers(&self) -> Vec<u32> {
        children_of(self.proc.pid())
    }

    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.proc.exited() {
            bail!("nginx exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        format!(
            "{}\n{}",
            tail(&self.log_path, 20),
            tail(&self.dir.path().join("error.log"), 20)
        )
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::opts::Cli;

    #[test]
    fn the_configuration_has_one_worker_a_publisher_and_an_eventsource_subscriber() {
        let cli = Cli::parse_from(["beacon-bench", "--nchan-buffer", "5000"]);
        let install = Install {
            nginx: "/usr/sbin/nginx".into(),
            module: "/usr/lib/nginx/modules/ngx_nchan_module.so".into(),
            version: "nginx/1.22.1".into(),
        };
        let c = config(&install, Path::new("/tmp/x"), 8123, &cli.opts, 20_000);
        for line in [
            "load_module /usr/lib/nginx/modules/ngx_nchan_module.so;",
            "daemon off;",
            "worker_processes 1;",
            "worker_rlimit_nofile 20000;",
            "events { worker_connections 19900; }",
            "nchan_message_buffer_length 5000;",
            "listen 127.0.0.1:8123 backlog=4096;",
            "location = /pub { nchan_publisher; nchan_channel_id $arg_id; }",
            "location = /sub { nchan_subscriber eventsource; nchan_channel_id $arg_id; }",
        ] {
            assert!(c.contains(line), "{line} missing from\n{c}");
        }
    }
}
