//! The node side of presence: admitting a connection, keeping its entry
//! alive, closing it when it was replaced.
//!
//! [`Tracker::admit`] registers the connection before its stream opens and
//! returns a [`Lease`], held by the stream ([`Lease::hold`]). While the
//! stream lives, a small task refreshes the entry every
//! `min(heartbeat, TTL / 2)` — the connection's heartbeat, bounded so an
//! entry never lapses between two refreshes. Dropping the stream drops the
//! lease, which removes the entry.
//!
//! Close-oldest: when a registration removes older connections of the
//! user, the ones on this node are closed at once (`beacon.closed`,
//! reason `replaced`). Ones on another node are closed by that node at
//! its next refresh, which finds the entry gone. A failed refresh (store
//! unreachable) keeps the connection open and retries at the next tick.
//!
//! A deleted tenant: [`Tracker::remove_tenant`] removes all its entries,
//! so its connections on other nodes end at their next refresh too, with
//! `beacon.closed` reason `tenant_deleted` (the store remembers the
//! removal for a while, to tell that apart from `replaced`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{Admission, Caps, Entry, Online, PresenceError, SharedPresence};
use crate::log::now_ms;
use crate::sse::frame;

/// `beacon.closed`: the server ended this stream; do not reconnect for
/// `reason: "replaced"` (the same user opened a newer connection) or
/// `"tenant_deleted"`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Closed {
    pub reason: &'static str,
}

pub struct Tracker {
    store: SharedPresence,
    ttl: Duration,
    refresh_every: Duration,
    /// This node's open connections: id → token that closes it as
    /// replaced. A `std::sync::Mutex`: held for one map operation, never
    /// across an `.await`. One entry per open stream (bounded by the caps).
    local: Mutex<HashMap<String, CancellationToken>>,
}

impl Tracker {
    pub fn new(store: SharedPresence, ttl: Duration, heartbeat: Duration) -> Arc<Self> {
        let refresh_every = heartbeat.min(ttl / 2).max(Duration::from_millis(10));
        Arc::new(Tracker {
            store,
            ttl,
            refresh_every,
            local: Mutex::default(),
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expires(&self, now: u64) -> u64 {
        now.saturating_add(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX))
    }

    /// Registers a connection under `caps`. `Err(admission)` when a cap refuses it.
    pub async fn admit(
        self: &Arc<Self>,
        tenant: &str,
        user: &str,
        connection: &str,
        caps: Caps,
    ) -> Result<Result<Lease, Admission>, PresenceError> {
        let entry = Entry {
            tenant,
            user,
            connection,
        };
        let now = now_ms();
        let replaced = match self
            .store
            .register(&entry, caps, now, self.expires(now))
            .await?
        {
            Admission::Admitted { replaced } => replaced,
            refused => return Ok(Err(refused)),
        };
        let closed = CancellationToken::new();
        {
            let mut local = self.local();
            for id in &replaced {
                if let Some(token) = local.remove(id) {
                    token.cancel();
                }
            }
            local.insert(connection.to_owned(), closed.clone());
        }
        let lease = Lease {
            tracker: self.clone(),
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            connection: connection.to_owned(),
            registered_ms: now,
            closed,
            tenant_deleted: Arc::default(),
            stop: CancellationToken::new(),
        };
        tokio::spawn(lease.refresh_loop());
        Ok(Ok(lease))
    }

    /// Who is online in a tenant, on every node.
    pub async fn online(&self, tenant: &str) -> Result<Online, PresenceError> {
        self.store.online(tenant, now_ms()).await
    }

    /// Removes every entry of a deleted tenant: its connections on other
    /// nodes end at their next refresh (this node's are ended by the hub).
    pub async fn remove_tenant(&self, tenant: &str) -> Result<(), PresenceError> {
        let remember = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(2);
        self.store.remove_tenant(tenant, now_ms(), remember).await
    }
}

/// A registered connection. Dropping it removes the entry.
pub struct Lease {
    tracker: Arc<Tracker>,
    tenant: String,
    user: String,
    connection: String,
    registered_ms: u64,
    /// Cancelled when the connection was replaced (close-oldest) or its
    /// tenant deleted.
    closed: CancellationToken,
    /// Set, before `closed` is cancelled, when the tenant was deleted.
    tenant_deleted: Arc<AtomicBool>,
    /// Cancelled on drop: stops the refresh task.
    stop: CancellationToken,
}

impl Lease {
    fn refresh_loop(&self) -> impl Future<Output = ()> + Send + 'static {
        let tracker = self.tracker.clone();
        let (tenant, user, connection) = (
            self.tenant.clone(),
            self.user.clone(),
            self.connection.clone(),
        );
        let (closed, stop) = (self.closed.clone(), self.stop.clone());
        let (registered_ms, tenant_deleted) = (self.registered_ms, self.tenant_deleted.clone());
        async move {
            let entry = Entry {
                tenant: &tenant,
                user: &user,
                connection: &connection,
            };
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = closed.cancelled() => return,
                    _ = tokio::time::sleep(tracker.refresh_every) => {}
                }
                let expires = tracker.expires(now_ms());
                match tracker.store.refresh(&entry, expires).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::debug!(%tenant, %connection, "presence entry gone; closing");
                        let deleted = tracker
                            .store
                            .tenant_removed(&tenant, registered_ms, now_ms())
                            .await
                            .unwrap_or(false);
                        tenant_deleted.store(deleted, Ordering::Release);
                        closed.cancel();
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%tenant, %error, "presence refresh failed; retrying");
                    }
                }
            }
        }
    }

    /// Ties the lease to a stream: the stream ends with `beacon.closed`
    /// when the connection is replaced, and the entry is removed when the
    /// stream is dropped.
    pub fn hold<S>(self, body: S) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static
    where
        S: Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
    {
        let closed = self.closed.clone();
        let tail = futures::stream::once(async move {
            let lease = self;
            let reason = if lease.tenant_deleted.load(Ordering::Acquire) {
                "tenant_deleted"
            } else {
                "replaced"
            };
            lease
                .closed
                .is_cancelled()
                .then(|| Ok(frame::control("beacon.closed", &Closed { reason })))
        })
        .filter_map(std::future::ready);
        body.take_until(closed.cancelled_owned()).chain(tail)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.cancel();
        {
            let mut local = self.tracker.local();
            // Only this lease's token: a later connection may reuse nothing,
            // ids are unique per node run.
            local.remove(&self.connection);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (tracker, tenant, user, connection) = (
            self.tracker.clone(),
            std::mem::take(&mut self.tenant),
            std::mem::take(&mut self.user),
            std::mem::take(&mut self.connection),
        );
        runtime.spawn(async move {
            let entry = Entry {
                tenant: &tenant,
                user: &user,
                connection: &connection,
            };
            if let Err(error) = tracker.store.remove(&entry).await {
                // The entry expires after the TTL anyway.
                tracing::warn!(%tenant, %error, "presence entry not removed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::CapPolicy;
    use crate::presence::memory::MemoryPresence;

    fn caps(policy: CapPolicy) -> Caps {
        Caps {
            per_user: 1,
            per_tenant: 10,
            policy,
        }
    }

    #[tokio::test]
    async fn a_replaced_local_connection_ends_with_beacon_closed_and_a_dropped_one_deregisters() {
        let tracker = Tracker::new(
            Arc::new(MemoryPresence::new()),
            Duration::from_secs(30),
            Duration::from_secs(15),
        );
        let first = tracker
            .admit("t", "u", "c1", caps(CapPolicy::CloseOldest))
            .await
            .unwrap()
            .unwrap();
        let body = first.hold(futures::stream::pending());
        let second = tracker
            .admit("t", "u", "c2", caps(CapPolicy::CloseOldest))
            .await
            .unwrap()
            .unwrap();
        let frames: Vec<_> = body.collect().await;
        let frames: Vec<Bytes> = frames.into_iter().map(|f| f.unwrap_or_default()).collect();
        assert_eq!(
            frames,
            vec![Bytes::from(
                "event: beacon.closed\ndata: {\"reason\":\"replaced\"}\n\n"
            )]
        );
        assert_eq!(tracker.online("t").await.unwrap().connections, 1);
        drop(second);
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert_eq!(tracker.online("t").await.unwrap().connections, 0);
        let refused = tracker
            .admit("t", "u", "c3", caps(CapPolicy::RefuseNewest))
            .await
            .unwrap();
        assert!(refused.is_ok());
    }

    #[tokio::test]
    async fn a_connection_replaced_on_another_node_closes_at_its_next_refresh() {
        let store: crate::presence::SharedPresence = Arc::new(MemoryPresence::new());
        let heartbeat = Duration::from_millis(100);
        let node_a = Tracker::new(store.clone(), Duration::from_secs(30), heartbeat);
        let node_b = Tracker::new(store, Duration::from_secs(30), heartbeat);
        let on_a = node_a
            .admit("t", "u", "a-1", caps(CapPolicy::CloseOldest))
            .await
            .unwrap()
            .unwrap();
        let body = on_a.hold(futures::stream::pending());
        let started = tokio::time::Instant::now();
        let _on_b = node_b
            .admit("t", "u", "b-1", caps(CapPolicy::CloseOldest))
            .await
            .unwrap()
            .unwrap();
        let frames: Vec<_> = tokio::time::timeout(Duration::from_secs(5), body.collect())
            .await
            .expect("closed at the next refresh");
        assert_eq!(frames.len(), 1, "only beacon.closed");
        assert!(started.elapsed() < heartbeat * 5, "{:?}", started.elapsed());
        assert_eq!(node_a.online("t").await.unwrap().connections, 1);
    }

    #[tokio::test]
    async fn a_deleted_tenants_connections_on_other_nodes_close_as_tenant_deleted() {
        let store: crate::presence::SharedPresence = Arc::new(MemoryPresence::new());
        let heartbeat = Duration::from_millis(100);
        let node_a = Tracker::new(store.clone(), Duration::from_secs(30), heartbeat);
        let node_b = Tracker::new(store, Duration::from_secs(30), heartbeat);
        let admit = |tenant: &'static str, connection: &'static str| {
            let node_b = node_b.clone();
            async move {
                node_b
                    .admit(tenant, "u", connection, caps(CapPolicy::RefuseNewest))
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let gone = admit("t", "b-1").await.hold(futures::stream::pending());
        let kept = admit("other", "b-2").await;
        node_a.remove_tenant("t").await.unwrap();
        let frames: Vec<_> = tokio::time::timeout(Duration::from_secs(5), gone.collect())
            .await
            .expect("closed at the next refresh");
        let frames: Vec<Bytes> = frames.into_iter().map(|f| f.unwrap_or_default()).collect();
        assert_eq!(
            frames,
            vec![Bytes::from(
                "event: beacon.closed\ndata: {\"reason\":\"tenant_deleted\"}\n\n"
            )]
        );
        assert_eq!(node_a.online("t").await.unwrap().connections, 0);
        assert_eq!(node_a.online("other").await.unwrap().connections, 1);
        drop(kept);
    }
}
