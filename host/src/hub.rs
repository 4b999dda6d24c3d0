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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use std::sync::Mutex;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::log::{Epoch, EventMeta, LogError, Offset, Position, SharedLog};
use crate::sse::frame;
use crate::sse::view::Shaped;

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
    /// Frames of version views built so far, shared by every subscriber
    /// asking for the same view (see `sse::view`). A `std` mutex: held
    /// only while one view is looked up or built, never across an await.
    pub views: std::sync::Mutex<Vec<(u32, Shaped)>>,
}

pub struct Hub {
    log: SharedLog,
    capacity: usize,
    /// Live tails by tenant. A `std` mutex: it is held only to look up,
    /// insert or remove an entry, never across an await, so a slow log
    /// backend cannot stall subscriptions of other tenants.
    tails: Mutex<HashMap<String, broadcast::Sender<Arc<Delivery>>>>,
    shutdown: CancellationToken,
}

impl Hub {
    pub fn new(log: SharedLog, capacity: usize, shutdown: CancellationToken) -> Arc<Hub> {
        Arc::new(Hub {
            log,
            capacity: capacity.max(1),
            tails: Mutex::default(),
            shutdown,
        })
    }

    /// Subscribes to a tenant's live events. Every event appended after this
    /// returns is delivered (events from just before may be too; callers
    /// skip what they already have by offset).
    pub async fn subscribe(
        self: &Arc<Self>,
        tenant: &str,
    ) -> Result<broadcast::Receiver<Arc<Delivery>>, LogError> {
        if let Some(tx) = self.lock().get(tenant) {
            return Ok(tx.subscribe());
        }
        // Where a new tail starts: read before the tail exists, and before
        // the caller reads the log itself, so anything appended later is
        // either in the caller's read or delivered by the tail.
        let start = self.log.read(tenant, Offset::MAX, 0).await?;
        let mut tails = self.lock();
        if let Some(tx) = tails.get(tenant) {
            // Another subscriber started the tail meanwhile.
            return Ok(tx.subscribe());
        }
        let (tx, rx) = broadcast::channel(self.capacity);
        tails.insert(tenant.to_owned(), tx.clone());
        tokio::spawn(
            self.clone()
                .run_tail(tenant.to_owned(), tx, start.epoch, start.head),
        );
        Ok(rx)
    }

    /// Number of tenants with a live tail on this node.
    pub fn active_tenants(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<Delivery>>>> {
        self.tails
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run_tail(
        self: Arc<Self>,
        tenant: String,
        tx: broadcast::Sender<Arc<Delivery>>,
        mut epoch: Epoch,
        mut cursor: Offset,
    ) {
        let mut retry = RETRY_MIN;
        loop {
            let batch = tokio::select! {
                _ = self.shutdown.cancelled() => break,
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
                        let Some(frame) = frame::event_frame(&position, &event) else {
                            tracing::error!(%tenant, id = %position, "skipping a stored event that cannot be framed safely");
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
                        }));
                    }
                }
                Err(error) => {
                    tracing::warn!(%tenant, %error, retry_ms = retry.as_millis() as u64, "tail failed; retrying");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
            if tx.receiver_count() == 0 {
                let mut tails = self.lock();
                if tx.receiver_count() == 0 {
                    tails.remove(&tenant);
                    return;
                }
            }
        }
        self.lock().remove(&tenant);
    }
}
