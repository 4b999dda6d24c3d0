//! Child processes of the bench (servers under test, redis-server), scratch
//! directories, and memory/CPU figures from `/proc`.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustix::process::{Pid, Signal, kill_process};

/// Linux reports CPU times in /proc in units of USER_HZ, which is 100 on every architecture.
const USER_HZ: f64 = 100.0;
/// How long a child asked to stop (SIGTERM) may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

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

/// How a guarded child is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGKILL at once.
    Kill,
    /// SIGTERM, then SIGKILL to it and its children after [`STOP_GRACE`]
    /// (nginx: the master stops its workers, which a killed master would
    /// leave behind).
    Term,
}

/// A child process stopped and reaped on drop.
pub struct Guarded {
    pub child: Child,
    stop: Stop,
}

impl Guarded {
    pub fn new(child: Child, stop: Stop) -> Self {
        Self { child, stop }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the child has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.stop == Stop::Term && self.exited().is_none() {
            let children = children_of(self.pid());
            if let Some(pid) = Pid::from_raw(self.pid() as i32) {
                let _ = kill_process(pid, Signal::TERM);
            }
            let deadline = Instant::now() + STOP_GRACE;
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            for child in children {
                if let Some(pid) = Pid::from_raw(child as i32)
                    && std::path::Path::new(&format!("/proc/{child}")).exists()
                {
                    let _ = kill_process(pid, Signal::KILL);
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The processes whose parent is `pid` (nginx's workers), from `/proc/*/stat`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // After the parenthesised command name: state, then the parent's pid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out.sort_unstable();
    out
}

/// Memory and CPU figures of a process (or the sum over a group of them), from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    /// Processes summed.
    pub processes: u64,
    pub rss_kib: u64,
    pub rss_anon_kib: u64,
    /// Proportional set size: shared pages divided among the processes
    /// that map them (so a group's sum counts them once).
    pub pss_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
    /// User + system CPU seconds so far.
    pub cpu_s: f64,
}

impl ProcStats {
    pub fn read(pid: u32) -> Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("read /proc/{pid}/status"))?;
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        Ok(Self {
            processes: 1,
            rss_kib: kib_field(&status, "VmRSS:"),
            rss_anon_kib: kib_field(&status, "RssAnon:"),
            pss_kib: kib_field(&rollup, "Pss:"),
            hwm_kib: kib_field(&status, "VmHWM:"),
            threads: kib_field(&status, "Threads:"),
            cpu_s: cpu_seconds(&format!("/proc/{pid}/stat"))?,
        })
    }

    /// The sum over several processes.
    pub fn read_all(pids: &[u32]) -> Result<Self> {
        let mut total = Self::default();
        for &pid in pids {
            total.add(&Self::read(pid)?);
        }
        Ok(total)
    }

    pub fn read_self() -> Result<Self> {
        Self::read(std::process::id())
    }

    pub fn add(&mut self, other: &ProcStats) {
        self.processes += other.processes;
        self.rss_kib += other.rss_kib;
        self.rss_anon_kib += other.rss_anon_kib;
        self.pss_kib += other.pss_kib;
        self.hwm_kib += other.hwm_kib;
        self.threads += other.threads;
        self.cpu_s += other.cpu_s;
    }
}

/// A `Name:   123 kB` (or plain count) field of a `/proc` status file.
fn kib_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cpu_seconds(stat_path: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(stat_path).with_context(|| format!("read {stat_path}"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> f64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
    Ok((ticks(11) + ticks(12)) / USER_HZ)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_figures() {
        let me = ProcStats::read_self().expect("/proc/self");
        assert!(me.rss_kib > 0 && me.threads >= 1);
        let two = ProcStats::read_all(&[std::process::id(), std::process::id()]).expect("sum");
        assert_eq!(two.processes, 2);
        assert!(two.rss_kib >= me.rss_kib);
        assert_eq!(kib_field("VmRSS:\t  1234 kB\n", "VmRSS:"), 1234);
    }
}
