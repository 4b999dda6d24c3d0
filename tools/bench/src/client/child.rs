//! A subscriber process (`beacon-bench client`): opens the streams it is
//! given, counts every event and records its publish → deliver latency.
//!
//! One thread, one tokio `LocalSet`: the streams of a process never
//! contend for a lock, and the whole process shares one latency histogram.
//! It exits when its stdin closes (the bench ended or died).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use beacon_protocol::sse::Item;
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::LocalSet;
use tokio_util::sync::CancellationToken;

use super::wire::{Command, FinishReport, Hist, Job, KEPT_MESSAGES, OpenReport, Reply};
use crate::clock::{self, extract_ts};
use crate::report::new_latency_histogram;
use crate::stream::Stream;

/// How often a drain looks at the streams' counters.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// Runs a subscriber process until its stdin closes.
pub fn main() -> Result<()> {
    // Each stream is a file descriptor: take the hard limit.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    LocalSet::new().block_on(&runtime, serve())
}

/// One stream's counters.
#[derive(Default)]
struct Sub {
    received: Cell<u64>,
    missing_ts: Cell<u64>,
    overflow: Cell<bool>,
    /// Set when the stream ended on its own (not stopped by the bench).
    ended: RefCell<Option<String>>,
    done: Cell<bool>,
    controls: RefCell<Vec<String>>,
}

/// What the streams of this process share.
struct Shared {
    job: Job,
    subs: RefCell<Vec<Rc<Sub>>>,
    latency: RefCell<Histogram<u64>>,
    stop: CancellationToken,
    permits: Semaphore,
}

async fn serve() -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let first = lines.next_line().await?.context("no job on stdin")?;
    let job: Job = serde_json::from_str(&first).context("bad job")?;
    let shared = Rc::new(Shared {
        permits: Semaphore::new(job.open_concurrency.max(1)),
        job,
        subs: RefCell::new(Vec::new()),
        latency: RefCell::new(new_latency_histogram()),
        stop: CancellationToken::new(),
    });
    while let Some(line) = lines.next_line().await? {
        let command: Command = serde_json::from_str(&line).context("bad command")?;
        let reply = match command {
            Command::Open { paths } => Reply::Opened(open(&shared, paths).await),
            Command::Status => {
                let subs = shared.subs.borrow();
                let ended = subs.iter().filter(|s| s.done.get()).count() as u64;
                Reply::Status {
                    open: subs.len() as u64 - ended,
                    ended,
                }
            }
            Command::Drain {
                expected,
                timeout_ms,
            } => {
                let deadline = Instant::now() + Duration::from_millis(timeout_ms);
                let all_in = || {
                    shared
                        .subs
                        .borrow()
                        .iter()
                        .all(|s| s.done.get() || s.received.get() >= expected)
                };
                while !all_in() && Instant::now() < deadline {
                    tokio::time::sleep(DRAIN_POLL).await;
                }
                Reply::Drained {
                    at_ns: clock::now_ns(),
                    timed_out: !all_in(),
                }
            }
            Command::Finish { expected } => {
                shared.stop.cancel();
                Reply::Finished(finish(&shared, expected))
            }
        };
        let mut out = serde_json::to_vec(&reply)?;
        out.push(b'\n');
        stdout.write_all(&out).await?;
        stdout.flush().await?;
    }
    shared.stop.cancel();
    Ok(())
}

/// Opens every path (at most `open_concurrency` handshakes at once); the
/// streams that open keep running in their own tasks.
async fn open(shared: &Rc<Shared>, paths: Vec<String>) -> OpenReport {
    let count = paths.len();
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Duration, String>>();
    for path in paths {
        let shared = shared.clone();
        let tx = tx.clone();
        tokio::task::spawn_local(async move {
            let permit = shared.permits.acquire().await;
            let started = Instant::now();
            let job = &shared.job;
            let opened = tokio::time::timeout(
                Duration::from_millis(job.open_timeout_ms),
                Stream::open(job.addr, job.source, &path, &job.ready),
            )
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "stream open timed out after {} ms",
                    job.open_timeout_ms
                ))
            });
            drop(permit);
            match opened {
                Ok(stream) => {
                    let sub = Rc::new(Sub::default());
                    shared.subs.borrow_mut().push(sub.clone());
                    let _ = tx.send(Ok(started.elapsed()));
                    drop(tx);
                    read(&shared, stream, &sub).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("{e:#}")));
                }
            }
        });
    }
    drop(tx);
    let mut report = OpenReport {
        opened: 0,
        failures: 0,
        first_error: None,
        latency: Hist::default(),
    };
    let mut latency = new_latency_histogram();
    for _ in 0..count {
        match rx.recv().await {
            Some(Ok(took)) => {
                report.opened += 1;
                latency.saturating_record(took.as_micros().max(1) as u64);
            }
            Some(Err(e)) => {
                report.failures += 1;
                report.first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    report.latency = Hist::of(&latency);
    report
}

/// Reads one stream until the bench stops it or the server ends it.
async fn read(shared: &Shared, mut stream: Stream, sub: &Sub) {
    let job = &shared.job;
    loop {
        if !stream.items.is_empty() {
            let now_ns = clock::now_ns();
            let mut latency = shared.latency.borrow_mut();
            for item in stream.items.drain(..) {
                let Item::Message(message) = item else {
                    continue;
                };
                let control = job
                    .control_prefix
                    .as_deref()
                    .is_some_and(|prefix| message.event.starts_with(prefix));
                if control {
                    if job.overflow_event.as_deref() == Some(message.event.as_str()) {
                        sub.overflow.set(true);
                    } else {
                        let mut controls = sub.controls.borrow_mut();
                        if controls.len() < KEPT_MESSAGES {
                            controls.push(format!("{} {}", message.event, message.data));
                        }
                    }
                    continue;
                }
                sub.received.set(sub.received.get() + 1);
                match extract_ts(message.data.as_bytes()) {
                    Some(ts) => {
                        latency.saturating_record((now_ns.saturating_sub(ts) / 1000).max(1));
                    }
                    None => sub.missing_ts.set(sub.missing_ts.get() + 1),
                }
            }
        }
        if sub.overflow.get() {
            *sub.ended.borrow_mut() = Some("cut off".into());
            break;
        }
        tokio::select! {
            biased;
            () = shared.stop.cancelled() => break,
            read = stream.read() => match read {
                Ok(true) => {}
                Ok(false) => {
                    *sub.ended.borrow_mut() = Some("stream ended".into());
                    break;
                }
                Err(e) => {
                    *sub.ended.borrow_mut() = Some(format!("{e:#}"));
                    break;
                }
            },
        }
    }
    sub.done.set(true);
}

/// Judges every stream against `expected` events.
fn finish(shared: &Shared, expected: u64) -> FinishReport {
    let mut report = FinishReport::default();
    for sub in shared.subs.borrow().iter() {
        let received = sub.received.get();
        let missing = expected.saturating_sub(received);
        report.subscribers += 1;
        report.received += received;
        report.missing_ts += sub.missing_ts.get();
        report.extra += received.saturating_sub(expected);
        if sub.overflow.get() {
            report.cut_off += 1;
            report.cut_off_missing += missing;
        } else {
            report.loss += missing;
            if missing > 0 {
                report.subscribers_with_loss += 1;
                report.max_loss_per_subscriber = report.max_loss_per_subscriber.max(missing);
            }
            if let Some(reason) = sub.ended.borrow().as_ref() {
                report.ended_early += 1;
                if report.end_reasons.len() < KEPT_MESSAGES {
                    report.end_reasons.push(reason.clone());
                }
            }
        }
        for control in sub.controls.borrow().iter() {
            if report.controls.len() < KEPT_MESSAGES {
                report.controls.push(control.clone());
            }
        }
    }
    report.latency = Hist::of(&shared.latency.borrow());
    report
}
