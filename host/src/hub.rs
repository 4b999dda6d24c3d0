//! Fan-out: one tail of each tenant's log per node, shared by every local subscriber.
//!
//! The first subscriber of a tenant starts a tail task; it reads the
//! tenant's log in order (`EventLog::tail`, so events published on any node
//! arrive), encodes each event into its SSE frame **once**, and broadcasts
//! an `Arc<Delivery>` whose frame bytes every subscriber shares. The task
//! stops when the tenant has no subscribers left on this node. So a node
//! holds one log reader per active tenant, never one per subscriber.
//!
//! The broadcast channel is a fixed ring of `capacity` deliveries per
//! tenant; each subscriber is a cursor into it. A subscriber more than
//! `capacity` deliveries behind sees `Lagged` and is cut off (the
//! bounded per-connection queue), at no memory cost to the others.
//!
//! Every open stream of a tenant also holds a [`TenantGuard`], whatever
//! its phase (replaying or live): [`Hub::close_tenant`] cancels them all
//! and stops the tenant's tail, so a deleted tenant's streams on this node
//! end at once.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use std::sync::Mutex;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::log::{Epoch, EventMeta, LogError, Offset, Position, SharedLog};
use crate::plugins::gate::Decisions;
use crate::sse::view::ViewCache;

/// Most events a tail reads per call.
const TAIL_BATCH: usize = 512;
/// How long one tail call waits for new events before the task checks
/// whether anyone still listens.
const TAIL_WAIT: Duration = Duration::from_secs(5);
/// Retry delays after a log error (e.g. Redis down): doubling up to the max.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// One event, framed, as shared by every subscriber that receives it.
#[derive(Debug)]
pub struct Delivery {
    pub epoch: Epoch,
    pub offset: Offset,
    pub meta: EventMeta,
    /// The complete SSE frame (`id:`, `event:`, `data:`), as published.
    pub frame: Bytes,
    /// The stored envelope, for building version views.
    pub envelope: Box<str>,
    /// Frames of version views, shared by every subscriber asking for the
    /// same view (see `sse::view`). A `std` mutex: held only to find or add
    /// a view's cell, never across an await (the cell is awaited outside).
    pub views: ViewCache,
    /// The tenant's deliver plugins' answers for this event, shared by
    /// every subscriber (see `plugins::gate`).
    pub gate: Decisions,
}

/// A tenant's live tail on this node.
struct Tail {
    tx: broadcast::Sender<Arc<Delivery>>,
    /// Stops the tail task ([`Hub::close_tenant`]).
    stop: CancellationToken,
}

pub struct Hub {
    log: SharedLog,
    capacity: usize,
    /// Live tails by tenant. A `std` mutex: it is held only to look up,
    /// insert or remove an entry, never across an await, so a slow log
    /// backend cannot stall subscriptions of other tenants.
    tails: Mutex<HashMap<String, Tail>>,
    /// The close signal shared by the open streams of each tenant, while
    /// it has any (a `std` mutex, like `tails`). Weak: the streams' guards
    /// own it, and the last guard dropped removes the entry.
    streams: Mutex<HashMap<String, Weak<CancellationToken>>>,
    shutdown: CancellationToken,
}

/// Held by each open stream of a tenant on this node: its token is
/// cancelled when the tenant is closed ([`Hub::close_tenant`]).
pub struct TenantGuard {
    hub: Arc<Hub>,
    tenant: Box<str>,
    closed: Arc<CancellationToken>,
}

impl TenantGuard {
    /// Cancelled when the tenant's streams must end.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }
}

impl Drop for TenantGuard {
    fn drop(&mut self) {
        let mut streams = self.hub.lock_streams();
        // Under the lock nobody else can take a new reference, so the
        // count is exact. A closed tenant's entry may already belong to
        // newer streams: only this guard's own entry is removed.
        if Arc::strong_count(&self.closed) == 1
            && streams
                .get(&*self.tenant)
                .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.closed)))
        {
            streams.remove(&*self.tenant);
        }
    }
}

impl Hub {
    pub fn new(log: SharedLog, capacity: usize, shutdown: CancellationToken) -> Arc<Hub> {
        Arc::new(Hub {
            log,
            capacity: capacity.max(1),
            tails: Mutex::default(),
            streams: Mutex::default(),
            shutdown,
        })
    }

    /// Registers an open stream of `tenant`; keep the guard while it is open.
    pub fn guard(self: &Arc<Self>, tenant: &str) -> TenantGuard {
        let mut streams = self.lock_streams();
        let closed = match streams.get(tenant).and_then(Weak::upgrade) {
            Some(closed) => closed,
            None => {
                // A child of shutdown: a stream waits for this one token (or
                // its own child of it) to learn that it must end.
                let closed = Arc::new(self.shutdown.child_token());
                streams.insert(tenant.to_owned(), Arc::downgrade(&closed));
                closed
            }
        };
        TenantGuard {
            hub: self.clone(),
            tenant: tenant.into(),
            closed,
        }
    }

    /// Ends every open stream of `tenant` on this node (their guards are
    /// cancelled first, so they know why) and stops its tail. Streams
    /// opened afterwards are not affected: a deleted tenant is refused
    /// before its streams open.
    pub fn close_tenant(&self, tenant: &str) {
        let closed = self.lock_streams().remove(tenant);
        if let Some(closed) = closed.as_ref().and_then(Weak::upgrade) {
            closed.cancel();
        }
        let tail = self.lock().remove(tenant);
        if let Some(tail) = tail {
            tail.stop.cancel();
        }
    }

    /// Number of tenants with an open stream on this node.
    pub fn open_tenants(&self) -> usize {
        self.lock_streams().len()
    }

    /// Subscribes to a tenant's live events. Every event appended after this
    /// returns is delivered (events from just before may be too; callers
    /// skip what they already have by offset).
    pub async fn subscribe(
        self: &Arc<Self>,
        tenant: &str,
    ) -> Result<broadcast::Receiver<Arc<Delivery>>, LogError> {
        if let Some(tail) = self.lock().get(tenant) {
            return Ok(tail.tx.subscribe());
        }
        // Where a new tail starts: read before the tail exists, and before
        // the caller reads the log itself, so anything appended later is
        // either in the caller's read or delivered by the tail.
        let start = self.log.read(tenant, Offset::MAX, 0).await?;
        let mut tails = self.lock();
        if let Some(tail) = tails.get(tenant) {
            // Another subscriber started the tail meanwhile.
            return Ok(tail.tx.subscribe());
        }
        let (tx, rx) = broadcast::channel(self.capacity);
        let stop = CancellationToken::new();
        tails.insert(
            tenant.to_owned(),
            Tail {
                tx: tx.clone(),
                stop: stop.clone(),
            },
        );
        tokio::spawn(
            self.clone()
                .run_tail(tenant.to_owned(), tx, stop, start.epoch, start.head),
        );
        Ok(rx)
    }

    /// Number of tenants with a live tail on this node.
    pub fn active_tenants(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tail>> {
        self.tails
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<CancellationToken>>> {
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Removes the tenant's tail entry if it is still this task's (a
    /// closed tenant's entry may belong to a newer tail).
    fn remove_tail(&self, tenant: &str, tx: &broadcast::Sender<Arc<Delivery>>) {
        let mut tails = self.lock();
        if tails.get(tenant).is_some_and(|t| t.tx.same_channel(tx)) {
            tails.remove(tenant);
        }
    }

    async fn run_tail(
        self: Arc<Self>,
        tenant: String,
        tx: broadcast::Sender<Arc<Delivery>>,
        stop: CancellationToken,
        mut epoch: Epoch,
        mut cursor: Offset,
    ) {
        let mut retry = RETRY_MIN;
        loop {
            let batch = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                // `close_tenant` already removed the entry.
                _ = stop.cancelled() => return,
                batch = self.log.tail(&tenant, cursor, TAIL_BATCH, TAIL_WAIT) => batch,
            };
            match batch {
                Ok(batch) if batch.epoch != epoch => {
                    tracing::warn!(%tenant, old = %epoch, new = %batch.epoch, "stream epoch changed; restarting from its start");
                    epoch = batch.epoch;
                    cursor = Offset::ZERO;
                    retry = RETRY_MIN;
                }
                Ok(batch) => {
                    retry = RETRY_MIN;
                    for event in batch.events {
                        cursor = event.offset;
                        let position = Position {
                            epoch: epoch.clone(),
                            offset: event.offset,
                        };
                        let Some(frame) = crate::sse::event_frame(&position, &event) else {
                            continue;
                        };
                        // No receivers is fine: the check below ends the task.
                        let _ = tx.send(Arc::new(Delivery {
                            epoch: epoch.clone(),
                            offset: event.offset,
                            meta: event.meta,
                            frame,
                            envelope: event.envelope.into_boxed_str(),
                            views: Default::default(),
                            gate: Decisions::default(),
                        }));
                    }
                }
                Err(error) => {
                    tracing::warn!(%tenant, %error, retry_ms = retry.as_millis() as u64, "tail failed; retrying");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => break,
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
            if tx.receiver_count() == 0 {
                let mut tails = self.lock();
                if tx.receiver_count() == 0 {
                    if tails.get(&tenant).is_some_and(|t| t.tx.same_channel(&tx)) {
                        tails.remove(&tenant);
                    }
                    return;
                }
            }
        }
        self.remove_tail(&tenant, &tx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::DEFAULT_RETENTION;
    use crate::log::embedded::{EmbeddedLog, open_database};

    #[tokio::test]
    async fn closing_a_tenant_cancels_its_guards_and_stops_its_tail_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_database(&dir.path().join("log.redb")).unwrap();
        let log: SharedLog =
            Arc::new(EmbeddedLog::open(db, DEFAULT_RETENTION, Duration::from_secs(60)).unwrap());
        let hub = Hub::new(log, 16, CancellationToken::new());
        let (a1, a2, b) = (hub.guard("a"), hub.guard("a"), hub.guard("b"));
        let mut rx_a = hub.subscribe("a").await.unwrap();
        let _rx_b = hub.subscribe("b").await.unwrap();
        assert_eq!((hub.active_tenants(), hub.open_tenants()), (2, 2));

        hub.close_tenant("a");
        assert!(a1.closed().is_cancelled() && a2.closed().is_cancelled());
        assert!(!b.closed().is_cancelled());
        let ended = tokio::time::timeout(Duration::from_secs(5), rx_a.recv()).await;
        assert!(
            matches!(ended, Ok(Err(broadcast::error::RecvError::Closed))),
            "the tail stopped"
        );
        assert_eq!(hub.active_tenants(), 1);

        // Streams of the same id opened later are another generation: the
        // old guards going away leaves them alone.
        let fresh = hub.guard("a");
        drop((a1, a2));
        assert!(!fresh.closed().is_cancelled());
        assert_eq!(hub.open_tenants(), 2);
        hub.close_tenant("a");
        assert!(fresh.closed().is_cancelled());
        drop((fresh, b));
        assert_eq!(hub.open_tenants(), 0, "the last guard removes the entry");
        hub.close_tenant("never-opened");
    }
}
