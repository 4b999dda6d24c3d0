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
//! In any phase, a stream whose tenant is deleted ends at once with
//! `beacon.closed` (reason `tenant_deleted`), through its hub guard.
//!
//! The state is one small struct per connection; event frames are shared
//! `Bytes`, never copied per subscriber.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::filter::Filter;
use super::view::{self, Shaped};
use crate::hub::{Delivery, Hub, TenantGuard};
use crate::log::{Epoch, LogError, Offset, Position, SharedLog};
use crate::metrics::{self, Handles, OpenConnection};
use crate::plugins::gate::{self, Context, Registration};
use crate::plugins::registry::{Plugins, TenantPlugins};
use crate::presence::tracker::{Lease, LeaseEnd};
use crate::schema::Registry;
use beacon_protocol::control::{
    Closed, ClosedReason, Connected, Control, Gap, GapReason, Incompatible, Overflow, Resume,
    Shutdown, TokenExpired,
};
use beacon_protocol::sse::encode;

/// Events read from the log per replay page.
pub const REPLAY_PAGE: usize = 256;
/// Wait before retrying a failed replay read.
const REPLAY_RETRY: Duration = Duration::from_millis(500);

/// What the subscriber asked for.
pub struct Request {
    pub tenant: String,
    pub filter: Filter,
    pub last_event_id: Option<Position>,
    pub connection_id: String,
    /// When the subscriber's token expires (Unix seconds): the stream then
    /// ends with `beacon.token_expired`, so the client fetches a new token
    /// and resumes by id. Checked at each heartbeat.
    pub token_expires_at: u64,
    /// The subscriber's context for the tenant's deliver plugins.
    pub context: Option<Arc<Context>>,
    /// The stream's hold on its tenant's close signal (taken by
    /// [`open`] when not given).
    pub guard: Option<TenantGuard>,
    /// The connection's presence registration, admitted within the
    /// guard's token ([`Tracker::admit_within`](crate::presence::Tracker::admit_within)):
    /// the stream ends when it is closed, and dropping the stream drops it.
    pub lease: Option<Lease>,
}

/// Stream-wide settings.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub heartbeat: Duration,
    pub retry: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Replaying from the log; `subscribed` once the hub receiver exists.
    CatchUp {
        subscribed: bool,
    },
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
    /// Cancelled when the tenant is deleted (see [`Hub::close_tenant`]).
    tenant_guard: TenantGuard,
    /// Cancelled when the stream must end for a reason from outside: the
    /// lease's token, a child of the guard's, itself a child of the node's
    /// shutdown (else the guard's). One token of its own, so an idle
    /// stream waits on three futures, none shared with other streams.
    ended: CancellationToken,
    lease: Option<Lease>,
    /// Contracts, for version views.
    schemas: Arc<Registry>,
    /// The node's plugins (deliver gates, converters), if it runs any.
    plugins: Option<Arc<Plugins>>,
    /// This subscriber's context, counted as open for batched gate calls.
    gate: Option<Registration>,
    /// See [`Request::token_expires_at`].
    token_expires_at: u64,
    /// `(type, published version)` pairs already reported incompatible.
    incompatible_sent: Vec<(Box<str>, u32)>,
    metrics: &'static Handles,
    /// Counts this connection as open until the stream is dropped.
    _open: OpenConnection,
}

/// Opens a subscriber's stream. Fails (→ 503) only if the log cannot be read.
pub async fn open(
    hub: Arc<Hub>,
    log: SharedLog,
    schemas: Arc<Registry>,
    plugins: Option<Arc<Plugins>>,
    request: Request,
    timing: Timing,
    shutdown: CancellationToken,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static, LogError> {
    let Request {
        tenant,
        filter,
        last_event_id,
        connection_id,
        token_expires_at,
        context,
        guard,
        lease,
    } = request;
    let gate = plugins
        .as_ref()
        .zip(context)
        .map(|(plugins, context)| plugins.contexts.register(&tenant, context));
    let tenant_guard = guard.unwrap_or_else(|| hub.guard(&tenant));
    let ended = lease
        .as_ref()
        .map_or_else(|| tenant_guard.closed(), Lease::closed)
        .clone();
    let info = log.read(&tenant, Offset::MAX, 0).await?;
    let mut pending = VecDeque::with_capacity(3);
    pending.push_back(encode::preamble(timing.retry));
    let (resume, gap, last, phase, rx) = match &last_event_id {
        None => {
            // Live only: subscribe, then learn the head; everything after
            // the head comes from the hub.
            let rx = hub.subscribe(&tenant).await?;
            let head = log.read(&tenant, Offset::MAX, 0).await?.head;
            (Resume::None, None, head, Phase::Live, Some(rx))
        }
        Some(p) if p.epoch != info.epoch => (
            Resume::Gap,
            Some(GapReason::Epoch),
            Offset::ZERO,
            Phase::CatchUp { subscribed: false },
            None,
        ),
        Some(p) if p.offset > info.head => (
            Resume::Gap,
            Some(GapReason::Unknown),
            info.head,
            Phase::CatchUp { subscribed: false },
            None,
        ),
        Some(p) if p.offset < info.trimmed_through => (
            Resume::Gap,
            Some(GapReason::Expired),
            Offset::ZERO,
            Phase::CatchUp { subscribed: false },
            None,
        ),
        Some(p) => (
            Resume::Exact,
            None,
            p.offset,
            Phase::CatchUp { subscribed: false },
            None,
        ),
    };
    // `beacon.connected` carries the position the stream starts from as its
    // `id:`, so a client that drops before its first event still resumes
    // exactly (EventSource sends it back as `Last-Event-ID`).
    let start = Position {
        epoch: info.epoch.clone(),
        offset: last,
    };
    pending.push_back(encode::control_with_id(
        &Control::Connected(Connected {
            connection: connection_id,
            tenant: tenant.clone(),
            resume,
            last_event_id: last_event_id.as_ref().map(ToString::to_string),
            heartbeat_s: timing.heartbeat.as_secs(),
        }),
        &start,
    ));
    metrics::stream_opened(resume.as_str());
    if let Some(reason) = gap {
        metrics::gap(reason.as_str());
        pending.push_back(encode::control(&Control::Gap(Gap {
            reason,
            requested: last_event_id.as_ref().map(ToString::to_string),
        })));
    }
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + timing.heartbeat,
        timing.heartbeat,
    );
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
        tenant_guard,
        ended,
        lease,
        schemas,
        plugins,
        gate,
        token_expires_at,
        incompatible_sent: Vec::new(),
        metrics: metrics::handles(),
        _open: OpenConnection::new(),
    };
    Ok(futures::stream::unfold(connection, |mut c| async move {
        c.next_chunk().await.map(|chunk| (Ok(chunk), c))
    }))
}

impl Connection {
    /// The position a client should resume from: after `last`.
    fn last_id(&self) -> Option<String> {
        Some(
            Position {
                epoch: self.epoch.clone(),
                offset: self.last,
            }
            .to_string(),
        )
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            match self.phase {
                Phase::Done => return None,
                // Boxed: replay is rare and its future large; an idle
                // live stream keeps only the small `live` future.
                Phase::CatchUp { subscribed } => Box::pin(self.catch_up(subscribed)).await,
                Phase::Live => self.live().await,
            }
        }
    }

    /// Reads one replay page into `pending`; moves on when caught up.
    async fn catch_up(&mut self, subscribed: bool) {
        let read = tokio::select! {
            biased;
            _ = self.ended.cancelled() => return self.end_outside(),
            read = self.log.read(&self.tenant, self.last, REPLAY_PAGE) => read,
        };
        let page = match read {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(tenant = %self.tenant, %error, "replay read failed; retrying");
                self.pending.push_back(encode::HEARTBEAT);
                tokio::select! {
                    _ = self.ended.cancelled() => self.end_outside(),
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
        let tenant_plugins = self.tenant_plugins();
        for event in &page.events {
            self.last = event.offset;
            if !self.filter.matches(&event.meta) {
                continue;
            }
            let position = Position {
                epoch: self.epoch.clone(),
                offset: event.offset,
            };
            if let Some(pipeline) = tenant_plugins
                .as_ref()
                .filter(|p| p.gates(&event.meta.kind).next().is_some())
            {
                let id = position.to_string();
                let event = (id.as_str(), &event.meta, event.envelope.as_str());
                if !self.gate_allows(pipeline, event, None).await {
                    continue;
                }
            }
            let plugins = self.plugins.as_deref().zip(tenant_plugins.as_deref());
            let shaped = match self.filter.view_for(&event.meta.kind) {
                Some(wanted) => {
                    view::shape_converted(&position, event, wanted, &self.schemas, plugins).await
                }
                None => super::event_frame(&position, event).map_or(Shaped::Skip, Shaped::Frame),
            };
            self.send_shaped(&event.meta.kind, shaped);
        }
        if !full {
            if subscribed {
                self.phase = Phase::Live;
            } else if self.ended.is_cancelled() {
                // No new tail for a stream that ends.
                self.end_outside();
            } else {
                match self.hub.subscribe(&self.tenant).await {
                    Ok(rx) => {
                        self.rx = Some(rx);
                        self.phase = Phase::CatchUp { subscribed: true };
                    }
                    Err(error) => {
                        tracing::warn!(tenant = %self.tenant, %error, "subscribe failed; retrying");
                        tokio::select! {
                            _ = self.ended.cancelled() => self.end_outside(),
                            _ = tokio::time::sleep(REPLAY_RETRY) => {}
                        }
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
            _ = self.ended.cancelled() => return self.end_outside(),
            received = rx.recv() => received,
            _ = self.heartbeat.tick() => {
                if crate::auth::jwt::now_s() >= self.token_expires_at {
                    return self.close_for_expired_token();
                }
                self.pending.push_back(encode::HEARTBEAT);
                return;
            }
        };
        match received {
            Ok(delivery) => {
                self.accept(&delivery).await;
                // Take whatever else is already waiting, so a burst goes out
                // in one write.
                while self.pending.len() < 64 {
                    match self.rx.as_mut().map(|rx| rx.try_recv()) {
                        Some(Ok(delivery)) => self.accept(&delivery).await,
                        Some(Err(broadcast::error::TryRecvError::Lagged(_))) => {
                            return self.overflow();
                        }
                        _ => break,
                    }
                }
            }
            Err(RecvError::Lagged(_)) => self.overflow(),
            // The hub's tail stopped: the tenant was deleted, or shutdown.
            Err(RecvError::Closed) if self.tenant_guard.closed().is_cancelled() => {
                self.close_for_deleted_tenant()
            }
            Err(RecvError::Closed) => self.close_for_shutdown(),
        }
    }

    /// The tenant's active plugins, if it has any.
    fn tenant_plugins(&self) -> Option<Arc<TenantPlugins>> {
        self.plugins.as_ref()?.tenant(&self.tenant)
    }

    /// Whether the tenant's deliver plugins let this subscriber have the
    /// event `(id, meta, envelope)`; `decisions` is a live event's cache.
    async fn gate_allows(
        &self,
        pipeline: &TenantPlugins,
        event: (&str, &crate::log::EventMeta, &str),
        decisions: Option<&gate::Decisions>,
    ) -> bool {
        let (Some(plugins), Some(registration)) = (&self.plugins, &self.gate) else {
            return true;
        };
        gate::allowed(
            plugins,
            pipeline,
            &plugins.contexts,
            &self.tenant,
            registration.context(),
            event,
            decisions,
        )
        .await
    }

    async fn accept(&mut self, delivery: &Delivery) {
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
        if !self.filter.matches(&delivery.meta) {
            return;
        }
        let tenant_plugins = self.tenant_plugins();
        let gated = tenant_plugins
            .as_ref()
            .is_some_and(|p| p.gates(&delivery.meta.kind).next().is_some());
        if !gated && self.filter.view_for(&delivery.meta.kind).is_none() {
            // The common case, without an await: the shared frame as is.
            self.metrics.events_delivered.increment(1);
            self.pending.push_back(delivery.frame.clone());
            return;
        }
        Box::pin(self.accept_shaped(delivery, tenant_plugins)).await;
    }

    /// [`accept`](Self::accept) for an event that deliver gates or a
    /// version view apply to.
    async fn accept_shaped(
        &mut self,
        delivery: &Delivery,
        tenant_plugins: Option<Arc<TenantPlugins>>,
    ) {
        if let Some(pipeline) = tenant_plugins
            .as_ref()
            .filter(|p| p.gates(&delivery.meta.kind).next().is_some())
        {
            let id = Position {
                epoch: delivery.epoch.clone(),
                offset: delivery.offset,
            }
            .to_string();
            let event = (id.as_str(), &delivery.meta, &*delivery.envelope);
            if !self
                .gate_allows(pipeline, event, Some(&delivery.gate))
                .await
            {
                return;
            }
        }
        match self.filter.view_for(&delivery.meta.kind) {
            Some(wanted) => {
                let plugins = self.plugins.as_deref().zip(tenant_plugins.as_deref());
                let shaped = view::shape_delivery(delivery, wanted, &self.schemas, plugins).await;
                self.send_shaped(&delivery.meta.kind, shaped);
            }
            None => {
                self.metrics.events_delivered.increment(1);
                self.pending.push_back(delivery.frame.clone());
            }
        }
    }

    /// Queues a shaped event; an event that cannot be shown in the wanted
    /// version is skipped, and the subscriber is told once per published
    /// version of that type.
    fn send_shaped(&mut self, kind: &str, shaped: Shaped) {
        match shaped {
            Shaped::Frame(f) => {
                self.metrics.events_delivered.increment(1);
                if self.phase != Phase::Live {
                    self.metrics.events_replayed.increment(1);
                }
                self.pending.push_back(f);
            }
            Shaped::Skip => {}
            Shaped::Incompatible { published, reason } => {
                if self
                    .incompatible_sent
                    .iter()
                    .any(|(k, p)| **k == *kind && *p == published)
                {
                    return;
                }
                self.incompatible_sent.push((kind.into(), published));
                let wanted = self.filter.view_for(kind).unwrap_or(published);
                self.pending
                    .push_back(encode::control(&Control::Incompatible(Incompatible {
                        kind: kind.to_owned(),
                        wanted,
                        published,
                        reason,
                    })));
            }
        }
    }

    fn restart_epoch(&mut self, epoch: Epoch) {
        metrics::gap(GapReason::Epoch.as_str());
        self.pending.push_back(encode::control(&Control::Gap(Gap {
            reason: GapReason::Epoch,
            requested: self.last_id(),
        })));
        self.epoch = epoch;
        self.last = Offset::ZERO;
        self.rx = None;
        self.phase = Phase::CatchUp { subscribed: false };
    }

    /// Ends the stream after one last control frame.
    fn end_with(&mut self, last: Bytes) {
        self.pending.push_back(last);
        self.rx = None;
        self.phase = Phase::Done;
    }

    fn overflow(&mut self) {
        tracing::info!(tenant = %self.tenant, "slow subscriber cut off");
        self.metrics.slow_consumer_disconnects.increment(1);
        self.end_with(encode::control(&Control::Overflow(Overflow {
            reason: "slow_consumer".into(),
            last_event_id: self.last_id(),
        })));
    }

    fn close_for_expired_token(&mut self) {
        self.end_with(encode::control(&Control::TokenExpired(TokenExpired {
            reason: "the subscriber token has expired; fetch a new one and resume".into(),
            last_event_id: self.last_id(),
        })));
    }

    /// The stream must end for a reason from outside: shutdown, its tenant
    /// was deleted, or presence closed it (replaced: `beacon.closed`; lapsed:
    /// no frame, the client reconnects and is admitted again).
    fn end_outside(&mut self) {
        let presence = self.lease.as_ref().and_then(Lease::ended);
        if self.shutdown.is_cancelled() {
            return self.close_for_shutdown();
        }
        if self.tenant_guard.closed().is_cancelled() {
            return self.close_for_deleted_tenant();
        }
        match presence {
            Some(LeaseEnd::Replaced) => self.end_with(encode::control(&Control::Closed(Closed {
                reason: ClosedReason::Replaced,
            }))),
            Some(LeaseEnd::TenantDeleted) => self.close_for_deleted_tenant(),
            Some(LeaseEnd::Lapsed) | None => {
                self.rx = None;
                self.phase = Phase::Done;
            }
        }
    }

    /// The tenant was deleted: `beacon.closed`, and clients should not
    /// reconnect (the tenant's tokens no longer work).
    fn close_for_deleted_tenant(&mut self) {
        self.end_with(encode::control(&Control::Closed(Closed {
            reason: ClosedReason::TenantDeleted,
        })));
    }

    fn close_for_shutdown(&mut self) {
        self.end_with(encode::control(&Control::Shutdown(Shutdown {
            reason: "server shutting down; reconnect".into(),
        })));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;
    use crate::log::conformance::event;
    use crate::log::embedded::{EmbeddedLog, open_database};
    use crate::log::{DEFAULT_RETENTION, Retention};

    fn embedded(dir: &tempfile::TempDir, retention: Retention) -> SharedLog {
        let db = open_database(&dir.path().join("log.redb")).unwrap();
        Arc::new(EmbeddedLog::open(db, retention, Duration::from_secs(60)).unwrap())
    }

    fn no_contracts() -> Arc<Registry> {
        Arc::new(Registry::new(Arc::new(
            crate::schema::embedded::in_memory().unwrap(),
        )))
    }

    const TIMING: Timing = Timing {
        heartbeat: Duration::from_secs(30),
        retry: Duration::from_secs(1),
    };

    /// One parsed frame: `(id, event, data)`.
    type Frame = (Option<String>, String, String);

    /// Reads frames until `done` says so (or the stream ends).
    async fn collect(
        stream: impl Stream<Item = Result<Bytes, Infallible>>,
        done: impl Fn(&Frame) -> bool,
    ) -> Vec<Frame> {
        let mut stream = std::pin::pin!(stream);
        let mut text = String::new();
        let mut frames = Vec::new();
        loop {
            let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), stream.next())
                .await
                .expect("stream stalled")
            else {
                return frames;
            };
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
            while let Some(end) = text.find("\n\n") {
                let raw: String = text.drain(..end + 2).collect();
                let field = |name: &str| {
                    raw.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::to_owned)
                };
                if let Some(event) = field("event: ") {
                    let frame = (field("id: "), event, field("data: ").unwrap_or_default());
                    let stop = done(&frame);
                    frames.push(frame);
                    if stop {
                        return frames;
                    }
                }
            }
        }
    }

    fn request(last: Option<Position>) -> Request {
        Request {
            tenant: "t".into(),
            filter: Filter::parse(None, None, "u").unwrap(),
            last_event_id: last,
            connection_id: "c-test".into(),
            token_expires_at: u64::MAX,
            context: None,
            guard: None,
            lease: None,
        }
    }

    fn ids_of(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .filter(|f| f.1 == "x.y")
            .filter_map(|f| f.0.clone())
            .collect()
    }

    /// Subscribers join at many points while a publisher runs; each must see
    /// every event after its resume point exactly once, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_to_live_hand_off_has_no_gap_and_no_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let log = embedded(&dir, DEFAULT_RETENTION);
        let hub = Hub::new(log.clone(), 4096, CancellationToken::new());
        const TOTAL: u64 = 600;
        let last_marker = format!("\"n\":{}}}", TOTAL - 1);
        let publisher = {
            let log = log.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for chunk in 0..TOTAL / 3 {
                    let b = log
                        .append("t", (0..3).map(|n| event("x.y", chunk * 3 + n)).collect())
                        .await
                        .unwrap();
                    ids.extend(b.appended.iter().map(|a| Position {
                        epoch: b.epoch.clone(),
                        offset: a.offset,
                    }));
                    tokio::time::sleep(Duration::from_micros(300)).await;
                }
                ids
            })
        };
        let mut joiners = Vec::new();
        for k in 0..16u64 {
            tokio::time::sleep(Duration::from_millis(2 * k)).await;
            // Even joiners resume from the newest event; odd ones join live.
            let resume = if k % 2 == 0 {
                let read = log.read("t", Offset::ZERO, 100_000).await.unwrap();
                read.events.last().map(|e| Position {
                    epoch: read.epoch.clone(),
                    offset: e.offset,
                })
            } else {
                None
            };
            let stream = open(
                hub.clone(),
                log.clone(),
                no_contracts(),
                None,
                request(resume.clone()),
                TIMING,
                CancellationToken::new(),
            )
            .await
            .unwrap();
            let marker = last_marker.clone();
            joiners.push((
                resume,
                tokio::spawn(collect(stream, move |f| f.2.contains(&marker))),
            ));
        }
        let ids: Vec<String> = publisher
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        for (resume, joiner) in joiners {
            let frames = joiner.await.unwrap();
            let got = ids_of(&frames);
            assert_eq!(frames[0].1, "beacon.connected");
            let start = match &resume {
                Some(r) => ids.iter().position(|id| *id == r.to_string()).unwrap() + 1,
                // A live joiner starts somewhere; from there on it must be exact.
                None => ids
                    .iter()
                    .position(|id| Some(id) == got.first())
                    .unwrap_or(ids.len()),
            };
            assert_eq!(got, ids[start..], "resume {resume:?}");
        }
    }

    /// A log that, once armed, appends an event right after a read returns
    /// and lets the hub broadcast it: the worst moment for a hand-off.
    struct RacyLog {
        inner: SharedLog,
        armed: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl crate::log::EventLog for RacyLog {
        fn backend(&self) -> &'static str {
            "racy"
        }
        async fn append(
            &self,
            t: &str,
            e: Vec<crate::log::NewEvent>,
        ) -> Result<crate::log::AppendBatch, LogError> {
            self.inner.append(t, e).await
        }
        async fn read(
            &self,
            t: &str,
            after: Offset,
            limit: usize,
        ) -> Result<crate::log::ReadBatch, LogError> {
            let batch = self.inner.read(t, after, limit).await?;
            if limit > 0 && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
                self.inner.append(t, vec![event("x.y", 1)]).await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(batch)
        }
        async fn tail(
            &self,
            t: &str,
            after: Offset,
            limit: usize,
            wait: Duration,
        ) -> Result<crate::log::ReadBatch, LogError> {
            self.inner.tail(t, after, limit, wait).await
        }
        async fn trim(&self, t: &str, now: u64) -> Result<u64, LogError> {
            self.inner.trim(t, now).await
        }
        async fn delete(&self, t: &str) -> Result<(), LogError> {
            self.inner.delete(t).await
        }
        async fn health(&self) -> Result<(), LogError> {
            self.inner.health().await
        }
    }

    #[tokio::test]
    async fn an_event_appended_between_replay_and_subscribe_is_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let inner = embedded(&dir, DEFAULT_RETENTION);
        let racy = Arc::new(RacyLog {
            inner: inner.clone(),
            armed: false.into(),
        });
        let log: SharedLog = racy.clone();
        let hub = Hub::new(log.clone(), 64, CancellationToken::new());
        // Another subscriber keeps the tenant's tail running ahead.
        let _other = open(
            hub.clone(),
            log.clone(),
            no_contracts(),
            None,
            request(None),
            TIMING,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let b = inner.append("t", vec![event("x.y", 0)]).await.unwrap();
        let resume = Position {
            epoch: b.epoch.clone(),
            offset: b.appended[0].offset,
        };
        racy.armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let stream = open(
            hub,
            log,
            no_contracts(),
            None,
            request(Some(resume)),
            TIMING,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let frames = collect(stream, |f| f.1 == "x.y").await;
        assert!(frames.last().unwrap().2.contains("\"n\":1}"), "{frames:?}");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_cut_off_and_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let log = embedded(&dir, DEFAULT_RETENTION);
        let hub = Hub::new(log.clone(), 8, CancellationToken::new());
        let stream = open(
            hub.clone(),
            log.clone(),
            no_contracts(),
            None,
            request(None),
            TIMING,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let mut stream = Box::pin(stream);
        // Read the preamble and `beacon.connected`, then stop reading.
        stream.next().await.unwrap().unwrap();
        stream.next().await.unwrap().unwrap();
        let b = log
            .append("t", (0..50).map(|n| event("x.y", n)).collect())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let frames = collect(stream, |f| f.1 == "beacon.overflow").await;
        let overflow = frames.last().unwrap();
        assert_eq!(overflow.1, "beacon.overflow", "{frames:?}");
        let v: serde_json::Value = serde_json::from_str(&overflow.2).unwrap();
        let resume: Position = v["last_event_id"].as_str().unwrap().parse().unwrap();
        let got_before = ids_of(&frames);
        let stream = open(
            hub,
            log,
            no_contracts(),
            None,
            request(Some(resume)),
            TIMING,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let all: Vec<String> = b
            .appended
            .iter()
            .map(|a| {
                Position {
                    epoch: b.epoch.clone(),
                    offset: a.offset,
                }
                .to_string()
            })
            .collect();
        let last = all.last().unwrap().clone();
        let after = collect(stream, move |f| f.0.as_deref() == Some(last.as_str())).await;
        let mut got = got_before;
        got.extend(ids_of(&after));
        assert_eq!(got, all, "every event exactly once across the cut-off");
    }

    #[tokio::test]
    async fn expired_and_unknown_positions_are_reported_as_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let log = embedded(
            &dir,
            Retention {
                max_events: 5,
                max_age: Duration::from_secs(3600),
            },
        );
        let hub = Hub::new(log.clone(), 64, CancellationToken::new());
        let b = log
            .append("t", (0..20).map(|n| event("x.y", n)).collect())
            .await
            .unwrap();
        log.trim("t", crate::log::now_ms()).await.unwrap();
        let first = Position {
            epoch: b.epoch.clone(),
            offset: b.appended[0].offset,
        };
        let stream = open(
            hub.clone(),
            log.clone(),
            no_contracts(),
            None,
            request(Some(first)),
            TIMING,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let frames = collect(stream, |f| f.2.contains("\"n\":19}")).await;
        assert_eq!(frames[1].1, "beacon.gap");
        assert!(frames[1].2.contains("\"expired\""), "{}", frames[1].2);
        assert_eq!(
            ids_of(&frames).len(),
            5,
            "continues from the oldest kept event"
        );
        let future = Position {
            epoch: b.epoch.clone(),
            offset: Offset::new(u64::MAX / 2, 0),
        };
        let stream = open(
            hub,
            log.clone(),
            no_contracts(),
            None,
            request(Some(future)),
            TIMING,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let frames = collect(stream, |f| f.1 == "beacon.gap").await;
        assert!(frames[1].2.contains("\"unknown\""));
    }

    #[tokio::test]
    async fn shutdown_ends_streams_with_a_notice() {
        let dir = tempfile::tempdir().unwrap();
        let log = embedded(&dir, DEFAULT_RETENTION);
        let shutdown = CancellationToken::new();
        let hub = Hub::new(log.clone(), 64, shutdown.clone());
        let stream = open(
            hub,
            log,
            no_contracts(),
            None,
            request(None),
            TIMING,
            shutdown.clone(),
        )
        .await
        .unwrap();
        shutdown.cancel();
        let frames = collect(stream, |_| false).await;
        assert_eq!(frames.last().unwrap().1, "beacon.shutdown");
    }

    async fn contracts_with_three_versions() -> Arc<Registry> {
        let registry = no_contracts();
        let v1 = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
            "required": ["a"]
        });
        let mut v2 = v1.clone();
        v2["properties"]["c"] = serde_json::json!({"type": "boolean"});
        registry.register("x.y", v1).await.unwrap();
        registry.register("x.y", v2).await.unwrap();
        registry
            .set_mode("x.y", crate::schema::Mode::None)
            .await
            .unwrap();
        let v3 = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"]
        });
        assert_eq!(registry.register("x.y", v3).await.unwrap(), 3);
        registry
    }

    fn versioned(version: u32, data: serde_json::Value) -> crate::log::NewEvent {
        let mut e = event("x.y", 0);
        e.envelope =
            serde_json::json!({"type": "x.y", "version": version, "data": data}).to_string();
        e
    }

    fn with_types(types: &str, last: Option<Position>) -> Request {
        let mut r = request(last);
        r.filter = Filter::parse(Some(types), None, "u").unwrap();
        r
    }

    #[tokio::test]
    async fn version_views_project_additive_changes_and_report_breaking_ones_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = embedded(&dir, DEFAULT_RETENTION);
        let schemas = contracts_with_three_versions().await;
        let hub = Hub::new(log.clone(), 64, CancellationToken::new());
        let first = log
            .append(
                "t",
                vec![versioned(
                    2,
                    serde_json::json!({"a": "x", "b": 1, "c": true}),
                )],
            )
            .await
            .unwrap();
        let origin = Position {
            epoch: first.epoch.clone(),
            offset: Offset::ZERO,
        };
        // One subscriber replays (catch-up path), one is live (hub path).
        let replaying = open(
            hub.clone(),
            log.clone(),
            schemas.clone(),
            None,
            with_types("x.y@1", Some(origin)),
            TIMING,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let live = open(
            hub.clone(),
            log.clone(),
            schemas.clone(),
            None,
            with_types("x.y@1", None),
            TIMING,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let mut live = Box::pin(live);
        live.next().await.unwrap().unwrap();
        live.next().await.unwrap().unwrap();
        log.append(
            "t",
            vec![
                versioned(3, serde_json::json!({"a": 1})),
                versioned(3, serde_json::json!({"a": 2})),
            ],
        )
        .await
        .unwrap();
        log.append(
            "t",
            vec![
                versioned(2, serde_json::json!({"a": "y", "c": false})),
                versioned(1, serde_json::json!({"a": "z"})),
            ],
        )
        .await
        .unwrap();
        let done = |f: &Frame| f.2.contains("\"a\":\"z\"");
        let replayed = collect(replaying, done).await;
        let lived = collect(live, done).await;
        for frames in [&replayed, &lived] {
            let events: Vec<serde_json::Value> = frames
                .iter()
                .filter(|f| f.1 == "x.y")
                .map(|f| serde_json::from_str(&f.2).unwrap())
                .collect();
            let shown: Vec<_> = events
                .iter()
                .map(|e| (e["version"].clone(), e["data"].clone()))
                .collect();
            let expected_live = vec![
                (serde_json::json!(1), serde_json::json!({"a": "y"})),
                (serde_json::json!(1), serde_json::json!({"a": "z"})),
            ];
            if std::ptr::eq(frames, &replayed) {
                assert_eq!(
                    shown[0],
                    (serde_json::json!(1), serde_json::json!({"a": "x", "b": 1})),
                    "v2 shown as v1"
                );
                assert_eq!(shown[1..], expected_live[..]);
            } else {
                assert_eq!(shown, expected_live);
            }
            let notices: Vec<_> = frames
                .iter()
                .filter(|f| f.1 == "beacon.incompatible")
                .collect();
            assert_eq!(notices.len(), 1, "told once, not per event: {frames:?}");
            assert!(
                notices[0].2.contains("\"published\":3") && notices[0].2.contains("\"wanted\":1"),
                "{}",
                notices[0].2
            );
        }
    }

    #[test]
    fn one_view_of_one_event_is_encoded_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let schemas = rt.block_on(contracts_with_three_versions());
        let stored = versioned(2, serde_json::json!({"a": "x", "c": true}));
        let delivery = Delivery {
            epoch: Epoch::parse("abc").unwrap(),
            offset: Offset::new(1, 0),
            meta: stored.meta.clone(),
            frame: Bytes::from_static(b"original"),
            envelope: stored.envelope.clone().into(),
            views: Default::default(),
            gate: Default::default(),
        };
        let (Shaped::Frame(a), Shaped::Frame(b)) = (
            rt.block_on(view::shape_delivery(&delivery, 1, &schemas, None)),
            rt.block_on(view::shape_delivery(&delivery, 1, &schemas, None)),
        ) else {
            panic!("not framed");
        };
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "the second subscriber shares the first one's bytes"
        );
        assert!(!a.windows(3).any(|w| w == b"\"c\""), "projected away");
        let Shaped::Frame(same) = rt.block_on(view::shape_delivery(&delivery, 2, &schemas, None))
        else {
            panic!()
        };
        assert!(same.windows(8).any(|w| w == b"\"c\":true"));
    }

    #[tokio::test]
    async fn a_stream_whose_token_expires_ends_with_token_expired() {
        let dir = tempfile::tempdir().unwrap();
        let log = embedded(&dir, DEFAULT_RETENTION);
        let hub = Hub::new(log.clone(), 64, CancellationToken::new());
        let mut expiring = request(None);
        expiring.token_expires_at = crate::auth::jwt::now_s() + 1;
        let timing = Timing {
            heartbeat: Duration::from_millis(200),
            retry: Duration::from_secs(1),
        };
        let stream = open(
            hub,
            log,
            no_contracts(),
            None,
            expiring,
            timing,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let started = std::time::Instant::now();
        let frames = collect(stream, |_| false).await;
        assert_eq!(
            frames.last().unwrap().1,
            "beacon.token_expired",
            "{frames:?}"
        );
        assert!(frames.last().unwrap().2.contains("last_event_id"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
