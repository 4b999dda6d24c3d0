//! The bench's side of its subscriber processes: spawns them (this same
//! executable in `client` mode), gives each its own source address, splits
//! the streams between them and merges what they report.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::wire::{Command, FinishReport, Job, Reply};
use crate::procs::ProcStats;
use crate::report::new_latency_histogram;
use crate::stream::Ready;

/// The next source address handed out: `127.0.0.2` … `127.0.0.254`, in
/// turn over the whole run, so that a run never reuses an address whose
/// ports are still in TIME_WAIT from the previous one.
static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

fn next_source() -> IpAddr {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed);
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (n % 253) as u8))
}

/// How every stream of a pool subscribes.
#[derive(Debug, Clone)]
pub struct Subscribe {
    pub addr: std::net::SocketAddr,
    pub ready: Ready,
    pub control_prefix: Option<String>,
    pub overflow_event: Option<String>,
    /// Handshakes in flight at once, over all processes.
    pub open_concurrency: usize,
    pub open_timeout: Duration,
}

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    async fn send(&mut self, line: &impl serde::Serialize) -> Result<()> {
        let mut out = serde_json::to_vec(line)?;
        out.push(b'\n');
        self.stdin.write_all(&out).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn reply(&mut self) -> Result<Reply> {
        match self.stdout.next_line().await? {
            Some(line) => {
                serde_json::from_str(&line).context("bad reply from a subscriber process")
            }
            None => {
                let status = self.child.wait().await?;
                bail!("a subscriber process ended ({status})")
            }
        }
    }
}

/// Several subscriber processes.
pub struct Pool {
    procs: Vec<Proc>,
}

/// What opening streams over the pool gave.
pub struct Opened {
    pub opened: u64,
    pub failures: u64,
    pub first_error: Option<String>,
    /// Connect → ready, microseconds.
    pub latency: Histogram<u64>,
    /// From the first command sent to the last reply.
    pub elapsed: Duration,
}

impl Pool {
    /// Starts `processes` subscriber processes of this executable.
    pub async fn spawn(processes: usize, how: &Subscribe) -> Result<Self> {
        let exe = std::env::current_exe().context("locate this executable")?;
        Self::spawn_exe(&exe, processes, how).await
    }

    /// Starts `processes` subscriber processes of `exe` (the bench's binary).
    pub async fn spawn_exe(exe: &Path, processes: usize, how: &Subscribe) -> Result<Self> {
        let processes = processes.max(1);
        let mut procs = Vec::with_capacity(processes);
        for _ in 0..processes {
            let mut child = tokio::process::Command::new(exe)
                .arg("client")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("start {} client", exe.display()))?;
            let stdin = child.stdin.take().context("child stdin")?;
            let stdout = BufReader::new(child.stdout.take().context("child stdout")?).lines();
            let mut proc = Proc {
                child,
                stdin,
                stdout,
            };
            proc.send(&Job {
                addr: how.addr,
                source: Some(next_source()),
                ready: how.ready.clone(),
                control_prefix: how.control_prefix.clone(),
                overflow_event: how.overflow_event.clone(),
                open_concurrency: how.open_concurrency.div_ceil(processes).max(1),
                open_timeout_ms: how.open_timeout.as_millis() as u64,
            })
            .await?;
            procs.push(proc);
        }
        Ok(Self { procs })
    }

    /// The processes' ids (for their CPU time).
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().filter_map(|p| p.child.id()).collect()
    }

    /// CPU and memory of the subscriber processes.
    pub fn stats(&self) -> Result<ProcStats> {
        ProcStats::read_all(&self.pids())
    }

    /// Sends one command to every process, then collects every reply.
    async fn all(&mut self, commands: Vec<Command>) -> Result<Vec<Reply>> {
        for (proc, command) in self.procs.iter_mut().zip(&commands) {
            proc.send(command).await?;
        }
        let mut replies = Vec::with_capacity(self.procs.len());
        for proc in &mut self.procs {
            replies.push(proc.reply().await?);
        }
        Ok(replies)
    }

    fn same(&self, command: Command) -> Vec<Command> {
        vec![command; self.procs.len()]
    }

    /// Opens one stream per path, spread evenly over the processes.
    pub async fn open(&mut self, paths: Vec<String>) -> Result<Opened> {
        let started = Instant::now();
        let n = self.procs.len();
        let per = paths.len().div_ceil(n).max(1);
        let mut chunks: Vec<Vec<String>> = paths.chunks(per).map(<[String]>::to_vec).collect();
        chunks.resize_with(n, Vec::new);
        let commands = chunks
            .into_iter()
            .map(|paths| Command::Open { paths })
            .collect();
        let mut opened = Opened {
            opened: 0,
            failures: 0,
            first_error: None,
            latency: new_latency_histogram(),
            elapsed: Duration::ZERO,
        };
        for reply in self.all(commands).await? {
            let Reply::Opened(r) = reply else {
                bail!("unexpected reply {reply:?}");
            };
            opened.opened += r.opened;
            opened.failures += r.failures;
            if opened.first_error.is_none() {
                opened.first_error = r.first_error;
            }
            let _ = opened.latency.add(r.latency.to_histogram());
        }
        opened.elapsed = started.elapsed();
        Ok(opened)
    }

    /// Streams still open, and those the server ended.
    pub async fn status(&mut self) -> Result<(u64, u64)> {
        let (mut open, mut ended) = (0, 0);
        for reply in self.all(self.same(Command::Status)).await? {
            let Reply::Status { open: o, ended: e } = reply else {
                bail!("unexpected reply {reply:?}");
            };
            open += o;
            ended += e;
        }
        Ok((open, ended))
    }

    /// Waits until every stream has `expected` events (or ended), at most
    /// `timeout`; returns when the last process saw that (monotonic ns)
    /// and whether any timed out.
    pub async fn drain(&mut self, expected: u64, timeout: Duration) -> Result<(u64, bool)> {
        let command = Command::Drain {
            expected,
            timeout_ms: timeout.as_millis() as u64,
        };
        let (mut at, mut timed_out) = (0, false);
        for reply in self.all(self.same(command)).await? {
            let Reply::Drained {
                at_ns,
                timed_out: t,
            } = reply
            else {
                bail!("unexpected reply {reply:?}");
            };
            at = at.max(at_ns);
            timed_out |= t;
        }
        Ok((at, timed_out))
    }

    /// Stops every stream and judges it against `expected` events.
    pub async fn finish(&mut self, expected: u64) -> Result<FinishReport> {
        let mut total = FinishReport::default();
        for reply in self.all(self.same(Command::Finish { expected })).await? {
            let Reply::Finished(r) = reply else {
                bail!("unexpected reply {reply:?}");
            };
            total.merge(r);
        }
        Ok(total)
    }
}
