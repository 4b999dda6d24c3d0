//! One subscriber's stream.
//!
//! 1. **Resume check** (before the response starts, so a log outage is a
//!    clean 503): the requested id is compared with the stream's epoch,
//!    head and retention watermark → `exact`, or a `beacon.gap`.
//! 2. **Catch-up**: pages are read from the log after the last offset sent,
//!    without a live subscription (a long replay cannot overflow anything).
//! 3. **Hand-off**: subscribe to the hub, then read the log once more until
//!    a short page. Every event is then either in that read or still to
//!    come from the hub; hub deliveries at or below the last offset sent
//!    are skipped. So nothing is missed and nothing is sent twice.
//! 4. **Live**: frames shared from the hub, heartbeats, shutdown.
//!
//! The state is one small struct per connection; event frames are shared
//! `Bytes`, never copied per subscriber.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::filter::Filter;
use super::frame;
use crate::hub::{Delivery, Hub};
use crate::log::{Epoch, LogError, Offset, Position, SharedLog};

/// Events read from the log per replay page.
pub const REPLAY_PAGE: usize = 256;
/// Wait before retrying a failed replay read.
const REPLAY_RETRY: Duration = Duration::from_millis(500);

/// How a requested resume position relates to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resume {
    /// No id given: live events from now on.
    None,
    /// Replaying exactly what came after the given id.
    Exact,
    /// The id cannot be resumed from; delivery restarts at the oldest event kept.
    Gap,
}

/// Why a resume position could not be honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GapReason {
    /// Events after the id were removed by retention.
    Expired,
    /// The id belongs to another incarnation of the stream.
    Epoch,
    /// The id is ahead of the stream: it was never issued by it.
    Unknown,
}

/// What the subscriber asked for.
pub struct Request {
    pub tenant: String,
    pub filter: Filter,
    pub last_event_id: Option<Position>,
    pub connection_id: String,
}

/// Stream-wide settings.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub heartbeat: Duration,
    pub retry: Duration,
}

#[derive(Serialize)]
struct Connected<'a> {
    connection: &'a str,
    tenant: &'a str,
    resume: Resume,
    last_event_id: Option<String>,
    heartbeat_s: u64,
}

#[derive(Serialize)]
struct Gap {
    reason: GapReason,
    requested: Option<String>,
}

#[derive(Serialize)]
struct Overflow {
    reason: &'static str,
    last_event_id: Option<String>,
}

#[derive(Serialize)]
struct Shutdown {
    reason: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Replaying from the log; `subscribed` once the hub receiver exists.
    CatchUp { subscribed: bool },
    Live,
    Done,
}

struct Connection {
    hub: Arc<Hub>,
    log: SharedLog,
    tenant: Box<str>,
    filter: Filter,
    epoch: Epoch,
    /// The newest offset sent (or skipped by the filter); `ZERO` before any.
    last: Offset,
    rx: Option<broadcast::Receiver<Arc<Delivery>>>,
    phase: Phase,
    /// Frames ready to send, oldest first.
    pending: VecDeque<Bytes>,
    heartbeat: Interval,
    shutdown: CancellationToken,
}

/// Opens a subscriber's stream. Fails (→ 503) only if the log cannot be read.
pub async fn open(
    hub: Arc<Hub>,
    log: SharedLog,
    request: Request,
    timing: Timing,
    shutdown: CancellationToken,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static, LogError> {
    let Request { tenant, filter, last_event_id, connection_id } = request;
    let info = log.read(&tenant, Offset::MAX, 0).await?;
    let mut pending = VecDeque::with_capacity(3);
    pending.push_back(frame::preamble(timing.retry));
    let (resume, gap, last, phase, rx) = match &last_event_id {
        None => {
            // Live only: subscribe, then learn the head; everything after
            // the head comes from the hub.
            let rx = hub.subscribe(&tenant).await?;
            let head = log.read(&tenant, Offset::MAX, 0).await?.head;
            (Resume::None, None, head, Phase::Live, Some(rx))
        }
        Some(p) if p.epoch != info.epoch => (Resume::Gap, Some(GapReason::Epoch), Offset::ZERO, Phase::CatchUp { subscribed: false }, None),
        Some(p) if p.offset > info.head => (Resume::Gap, Some(GapReason::Unknown), info.head, Phase::CatchUp { subscribed: false }, None),
        Some(p) if p.offset < info.trimmed_through => (Resume::Gap, Some(GapReason::Expired), Offset::ZERO, Phase::CatchUp { subscribed: false }, None),
        Some(p) => (Resume::Exact, None, p.offset, Phase::CatchUp { subscribed: false }, None),
    };
    // `beacon.connected` carries the position the stream starts from as its
    // `id:`, so a client that drops before its first event still resumes
    // exactly (EventSource sends it back as `Last-Event-ID`).
    let start = Position { epoch: info.epoch.clone(), offset: last };
    pending.push_back(frame::control_with_id(
        "beacon.connected",
        &start,
        &Connected {
            connection: &connection_id,
            tenant: &tenant,
            resume,
            last_event_id: last_event_id.as_ref().map(ToString::to_string),
            heartbeat_s: timing.heartbeat.as_secs(),
        },
    ));
    if let Some(reason) = gap {
        pending.push_back(frame::control(
            "beacon.gap",
            &Gap { reason, requested: last_event_id.as_ref().map(ToString::to_string) },
        ));
    }
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + timing.heartbeat, timing.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let connection = Connection {
        hub,
        log,
        tenant: tenant.into(),
        filter,
        epoch: info.epoch,
        last,
        rx,
        phase,
        pending,
        heartbeat,
        shutdown,
    };
    Ok(futures::stream::unfold(connection, |mut c| async move {
        c.next_chunk().await.map(|chunk| (Ok(chunk), c))
    }))
}

impl Connection {
    /// The position a client should resume from: after `last`.
    fn last_id(&self) -> Option<String> {
        Some(Position { epoch: self.epoch.clone(), offset: self.last }.to_string())
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            match self.phase {
                Phase::Done => return None,
                Phase::CatchUp { subscribed } => self.catch_up(subscribed).await,
                Phase::Live => self.live().await,
            }
        }
    }

    /// Reads one replay page into `pending`; moves on when caught up.
    async fn catch_up(&mut self, subscribed: bool) {
        let read = tokio::select! {
            _ = self.shutdown.cancelled() => return self.close_for_shutdown(),
            read = self.log.read(&self.tenant, self.last, REPLAY_PAGE) => read,
        };
        let page = match read {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(tenant = %self.tenant, %error, "replay read failed; retrying");
                self.pending.push_back(frame::HEARTBEAT);
                tokio::select! {
                    _ = self.shutdown.cancelled() => self.close_for_shutdown(),
                    _ = tokio::time::sleep(REPLAY_RETRY) => {}
                }
                return;
            }
        };
        if page.epoch != self.epoch {
            self.restart_epoch(page.epoch);
            return;
        }
        let full = page.events.len() == REPLAY_PAGE;
        for event in &page.events {
            self.last = event.offset;
            if !self.filter.matches(&event.meta) {
                continue;
            }
            let position = Position { epoch: self.epoch.clone(), offset: event.offset };
            if let Some(f) = frame::event_frame(&position, event) {
                self.pending.push_back(f);
            }
        }
        if !full {
            if subscribed {
                self.phase = Phase::Live;
            } else {
                match self.hub.subscribe(&self.tenant).await {
                    Ok(rx) => {
                        self.rx = Some(rx);
                        self.phase = Phase::CatchUp { subscribed: true };
                    }
                    Err(error) => {
                        tracing::warn!(tenant = %self.tenant, %error, "subscribe failed; retrying");
                        tokio::time::sleep(REPLAY_RETRY).await;
                    }
                }
            }
        }
    }

    /// Waits for live deliveries, a heartbeat, or shutdown.
    async fn live(&mut self) {
        let Some(rx) = self.rx.as_mut() else {
            self.phase = Phase::Done;
            return;
        };
        let received = tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => return self.close_for_shutdown(),
            received = rx.recv() => received,
            _ = self.heartbeat.tick() => {
                self.pending.push_back(frame::HEARTBEAT);
                return;
            }
        };
        match received {
            Ok(delivery) => {
                self.accept(&delivery);
                // Take whatever else is already waiting, so a burst goes out
                // in one write.
                while self.pending.len() < 64 {
                    match self.rx.as_mut().map(|rx| rx.try_recv()) {
                        Some(Ok(delivery)) => self.accept(&delivery),
                        Some(Err(broadcast::error::TryRecvError::Lagged(_))) => return self.overflow(),
                        _ => break,
                    }
                }
            }
            Err(RecvError::Lagged(_)) => self.overflow(),
            // The hub's tail stopped: only on shutdown.
            Err(RecvError::Closed) => self.close_for_shutdown(),
        }
    }

    fn accept(&mut self, delivery: &Delivery) {
        if delivery.epoch != self.epoch {
            // The stream was recreated under us: say so, then replay the
            // new stream from its start.
            self.restart_epoch(delivery.epoch.clone());
            return;
        }
        if delivery.offset <= self.last || self.phase != Phase::Live {
            return;
        }
        self.last = delivery.offset;
        if self.filter.matches(&delivery.meta) {
            self.pending.push_back(delivery.frame.clone());
        }
    }

    fn restart_epoch(&mut self, epoch: Epoch) {
        self.pending.push_back(frame::control(
            "beacon.gap",
            &Gap { reason: GapReason::Epoch, requested: self.last_id() },
        ));
        self.epoch = epoch;
        self.last = Offset::ZERO;
        self.rx = None;
        self.phase = Phase::CatchUp { subscribed: false };
    }

    fn overflow(&mut self) {
        tracing::info!(tenant = %self.tenant, "slow subscriber cut off");
        self.pending.push_back(frame::control(
            "beacon.overflow",
            &Overflow { reason: "slow_consumer", last_event_id: self.last_id() },
        ));
        self.rx = None;
        self.phase = Phase::Done;
    }

    fn close_for_shutdown(&mut self) {
        self.pending.push_back(frame::control("beacon.shutdown", &Shutdown { reason: "server shutting down; reconnect" }));
        self.rx = None;
        self.phase = Phase::Done;
    }
}
