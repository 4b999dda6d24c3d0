//! What every launched process shares: a free port, an output log on disk,
//! signals, exit checks, and CPU and memory figures from `/proc`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use tokio::process::{Child, Command};

use crate::LaunchError;

/// Lines of output quoted in an error or a failure message.
pub(crate) const TAIL_LINES: usize = 40;

/// A loopback port that was free a moment ago (bound to `127.0.0.1:0`, then
/// released). Another process may take it before the caller binds it, so
/// launchers retry on a fresh port when a start fails.
///
/// Written by hand rather than with a port-picking crate: it is three calls
/// to the standard library.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A process's output (stdout and stderr) in a file, kept across restarts so
/// a failing test shows every incarnation.
#[derive(Debug, Clone)]
pub(crate) struct OutputLog {
    path: PathBuf,
}

impl OutputLog {
    pub(crate) fn new(path: PathBuf) -> Self {
        OutputLog { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file opened for appending, for a child's stdout or stderr.
    pub(crate) fn open(&self) -> Result<std::fs::File, LaunchError> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| LaunchError::io(format!("open {}", self.path.display()), e))
    }

    /// Appends one line (best effort: the log is a diagnostic).
    pub(crate) fn line(&self, line: &str) {
        if let Ok(mut file) = self.open() {
            let _ = writeln!(file, "{line}");
        }
    }

    /// Everything written so far.
    pub(crate) fn read(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// The last `lines` lines.
    pub(crate) fn tail(&self, lines: usize) -> String {
        let text = self.read();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// A running child process. Dropping it kills the process (SIGKILL); tokio
/// reaps it.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    pid: u32,
    program: String,
}

impl Proc {
    /// Spawns `command` (which is set to be killed on drop).
    pub(crate) fn spawn(command: &mut Command, program: &str) -> Result<Proc, LaunchError> {
        let child = command
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LaunchError::io(format!("start {program}"), e))?;
        let pid = child
            .id()
            .ok_or_else(|| LaunchError::io(format!("pid of {program}"), gone()))?;
        Ok(Proc {
            child,
            pid,
            program: program.to_owned(),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `signal` to the process.
    pub(crate) fn signal(&self, signal: Signal) -> Result<(), LaunchError> {
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| {
                LaunchError::io(format!("pid {} of {}", self.pid, self.program), gone())
            })?;
        kill_process(pid, signal).map_err(|e| {
            LaunchError::io(
                format!("send {signal:?} to {} (pid {})", self.program, self.pid),
                e.into(),
            )
        })
    }

    /// The exit status if the process has exited, without waiting.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits at most `limit` for the process to exit.
    pub(crate) async fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// SIGKILL (which also ends a stopped process), then waits for the exit.
    pub(crate) async fn kill(&mut self) -> Result<ExitStatus, LaunchError> {
        self.child
            .kill()
            .await
            .map_err(|e| LaunchError::io(format!("kill {}", self.program), e))?;
        self.child
            .wait()
            .await
            .map_err(|e| LaunchError::io(format!("wait for {}", self.program), e))
    }
}

fn gone() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the process has already exited",
    )
}

/// Linux reports CPU times in `/proc/<pid>/stat` in units of `USER_HZ`,
/// which is 100 on every architecture.
const USER_HZ: f64 = 100.0;

/// Memory and CPU figures of a process, from `/proc` (Linux).
///
/// Read by hand rather than with a `/proc` crate: two small text files and
/// five numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcStats {
    /// Resident memory (`VmRSS`).
    pub rss_kib: u64,
    /// Resident anonymous memory (`RssAnon`): the heap, without mapped files.
    pub rss_anon_kib: u64,
    /// Peak resident memory (`VmHWM`).
    pub hwm_kib: u64,
    pub threads: u64,
    /// User + system CPU seconds so far.
    pub cpu_s: f64,
}

impl ProcStats {
    /// The figures of process `pid`.
    pub fn read(pid: u32) -> Result<ProcStats, LaunchError> {
        let status_path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&status_path)
            .map_err(|e| LaunchError::io(format!("read {status_path}"), e))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let stat_path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&stat_path)
            .map_err(|e| LaunchError::io(format!("read {stat_path}"), e))?;
        Ok(ProcStats {
            rss_kib: field("VmRSS:"),
            rss_anon_kib: field("RssAnon:"),
            hwm_kib: field("VmHWM:"),
            threads: field("Threads:"),
            cpu_s: cpu_seconds(&stat),
        })
    }

    /// The figures of the calling process.
    pub fn read_self() -> Result<ProcStats, LaunchError> {
        ProcStats::read(std::process::id())
    }
}

/// `utime + stime` from the text of `/proc/<pid>/stat`.
fn cpu_seconds(stat: &str) -> f64 {
    // The fields after the parenthesised command name (which may hold
    // spaces); utime and stime are fields 14 and 15 of the whole line.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> f64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
    (ticks(11) + ticks(12)) / USER_HZ
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_skip_a_command_name_with_spaces() {
        let stat = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 0 0";
        assert_eq!(cpu_seconds(stat), 3.0);
    }

    #[test]
    fn figures_of_this_process() {
        let stats = ProcStats::read_self().unwrap();
        assert!(stats.rss_kib > 0, "{stats:?}");
        assert!(stats.threads >= 1, "{stats:?}");
        assert!(ProcStats::read(u32::MAX).is_err());
    }
}
