//! Subscriber tasks of the load scenarios: count events and record
//! publish → deliver latency per subscriber.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;

use crate::report::new_latency_histogram;
use crate::sse::{Frame, SseConn};

/// Live progress of one subscriber, polled while draining.
#[derive(Default)]
pub struct Progress {
    pub received: AtomicU64,
    pub finished: AtomicBool,
}

/// What one subscriber saw.
pub struct Outcome {
    pub received: u64,
    /// Events without a readable publish timestamp.
    pub missing_ts: u64,
    /// Cut off with `beacon.overflow`.
    pub overflow: bool,
    /// Why the stream ended before the bench stopped it (overflow, end of stream, error).
    pub ended: Option<String>,
    /// Other control events (`beacon.gap`, `beacon.shutdown`, …).
    pub controls: Vec<String>,
    /// Publish → deliver, microseconds.
    pub latency: Histogram<u64>,
}

/// Reads the stream until `stop` fires or the server ends it.
pub async fn run(
    mut conn: SseConn,
    epoch: Instant,
    progress: Arc<Progress>,
    stop: CancellationToken,
) -> Outcome {
    let mut out = Outcome {
        received: 0,
        missing_ts: 0,
        overflow: false,
        ended: None,
        controls: Vec::new(),
        latency: new_latency_histogram(),
    };
    loop {
        let now_ns = epoch.elapsed().as_nanos() as u64;
        let mut got = 0u64;
        let drained = conn.drain_frames(|frame| match frame {
            Frame::Event { ts: Some(ts) } => {
                got += 1;
                out.latency
                    .saturating_record((now_ns.saturating_sub(ts) / 1000).max(1));
            }
            Frame::Event { ts: None } => {
                got += 1;
                out.missing_ts += 1;
            }
            Frame::Control {
                name: "beacon.overflow",
                ..
            } => out.overflow = true,
            Frame::Control { name, data } => out.controls.push(format!("{name} {data}")),
            Frame::Other => {}
        });
        if got > 0 {
            out.received += got;
            progress.received.fetch_add(got, Ordering::Relaxed);
        }
        if let Err(e) = drained {
            out.ended = Some(format!("bad stream: {e:#}"));
            break;
        }
        if out.overflow {
            out.ended = Some("beacon.overflow".into());
            break;
        }
        if conn.is_eof() {
            out.ended = Some("stream ended".into());
            break;
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            read = conn.read_some() => match read {
                Ok(true) => {}
                Ok(false) => {
                    out.ended = Some("stream ended".into());
                    break;
                }
                Err(e) => {
                    out.ended = Some(format!("read error: {e:#}"));
                    break;
                }
            },
        }
    }
    progress.finished.store(true, Ordering::Release);
    out
}
