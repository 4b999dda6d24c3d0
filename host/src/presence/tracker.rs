//! The node side of presence: admitting a connection, keeping its entry
//! alive, closing it when it was replaced.
//!
//! [`Tracker::admit_within`] registers the connection before its stream opens and
//! returns a [`Lease`], held by the stream. While the
//! stream lives, the node's one refresh task extends its entry every
//! `min(heartbeat, TTL / 2)` — bounded so an entry never lapses between
//! two refreshes — in **one store call per tenant** for all of the node's
//! connections of that tenant (batches of at most
//! [`REFRESH_BATCH`](super::redis::REFRESH_BATCH) on Redis). Dropping the
//! stream drops the lease, which removes the entry.
//!
//! A refresh that finds a connection's entry gone closes the connection:
//! - with `beacon.closed` reason `replaced` when close-oldest removed it
//!   (on any node; on this one the close is immediate);
//! - with `beacon.closed` reason `tenant_deleted` when its tenant was
//!   deleted ([`Tracker::remove_tenant`]; the store remembers the removal
//!   for a while, to tell the two apart);
//! - without a frame when the entry had lapsed (this node could not reach
//!   the store for longer than the TTL, and another node purged it): the
//!   client reconnects and is admitted again under the caps.
//!
//! A failed refresh (store unreachable) keeps the connections open and
//! retries at the next tick. Presence changes found on the way (a user's
//! first or last connection) go to the tenant's log when the tenant has
//! presence events on (see [`super::events`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::events::Appender;
use super::{Admission, Caps, Change, Conn, Entry, Online, PresenceError, SharedPresence};
use crate::log::now_ms;

/// Tenants refreshed at once by the refresh task.
const CONCURRENT_REFRESHES: usize = 16;

/// Why a lease was closed.
const OPEN: u8 = 0;
const REPLACED: u8 = 1;
const TENANT_DELETED: u8 = 2;
const LAPSED: u8 = 3;

/// One of this node's open connections.
struct Local {
    tenant: Arc<str>,
    user: Arc<str>,
    registered_ms: u64,
    /// The expiry its entry was last given.
    expires_ms: u64,
    /// The tenant's `presence_events` when the connection was admitted.
    events: bool,
    /// Cancelled to close the connection, after `why` is set.
    closed: CancellationToken,
    why: Arc<AtomicU8>,
}

impl Local {
    fn close(&self, why: u8) {
        self.why.store(why, Ordering::Release);
        self.closed.cancel();
    }
}

/// A tenant's local connections, (user, connection id), for one refresh.
#[derive(Default)]
struct TenantBatch {
    conns: Vec<(Arc<str>, String)>,
    /// Whether the tenant has presence events on.
    events: bool,
}

pub struct Tracker {
    store: SharedPresence,
    ttl: Duration,
    refresh_every: Duration,
    /// This node's open connections by id. A `std::sync::Mutex`: held for
    /// map operations only, never across an `.await`. One entry per open
    /// stream (bounded by the caps).
    local: Mutex<HashMap<String, Local>>,
    /// Where presence changes go; `None`: nowhere (tests).
    events: Option<Appender>,
    /// Whether the refresh task runs (it starts with the first admission).
    refreshing: AtomicBool,
}

impl Tracker {
    pub fn new(
        store: SharedPresence,
        ttl: Duration,
        heartbeat: Duration,
        events: Option<Appender>,
    ) -> Arc<Self> {
        let refresh_every = heartbeat.min(ttl / 2).max(Duration::from_millis(10));
        Arc::new(Tracker {
            store,
            ttl,
            refresh_every,
            local: Mutex::default(),
            events,
            refreshing: AtomicBool::new(false),
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, Local>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expires(&self, now: u64) -> u64 {
        now.saturating_add(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX))
    }

    fn report(&self, tenant: &str, events: bool, changes: Vec<Change>) {
        if let Some(appender) = self
            .events
            .as_ref()
            .filter(|_| events && !changes.is_empty())
        {
            appender.send(tenant, changes);
        }
    }

    /// Registers a connection under `caps`. `Err(admission)` when a cap
    /// refuses it. `events`: whether the tenant has presence events on.
    pub async fn admit(
        self: &Arc<Self>,
        tenant: &str,
        user: &str,
        connection: &str,
        caps: Caps,
        events: bool,
    ) -> Result<Result<Lease, Admission>, PresenceError> {
        let within = CancellationToken::new();
        self.admit_within(&within, tenant, user, connection, caps, events)
            .await
    }

    /// [`admit`](Self::admit), with the lease's [`closed`](Lease::closed)
    /// token a child of `within`: a stream then waits for one token to
    /// learn that it must end, whoever ends it.
    pub async fn admit_within(
        self: &Arc<Self>,
        within: &CancellationToken,
        tenant: &str,
        user: &str,
        connection: &str,
        caps: Caps,
        events: bool,
    ) -> Result<Result<Lease, Admission>, PresenceError> {
        let entry = Entry {
            tenant,
            user,
            connection,
        };
        let now = now_ms();
        let expires_ms = self.expires(now);
        let registered = self.store.register(&entry, caps, now, expires_ms).await?;
        self.report(tenant, events, registered.changes);
        let replaced = match registered.admission {
            Admission::Admitted { replaced } => replaced,
            refused => return Ok(Err(refused)),
        };
        let closed = within.child_token();
        let why = Arc::new(AtomicU8::new(OPEN));
        {
            let mut local = self.local();
            for id in &replaced {
                if let Some(gone) = local.remove(id) {
                    gone.close(REPLACED);
                }
            }
            local.insert(
                connection.to_owned(),
                Local {
                    tenant: tenant.into(),
                    user: user.into(),
                    registered_ms: now,
                    expires_ms,
                    events,
                    closed: closed.clone(),
                    why: why.clone(),
                },
            );
        }
        self.start_refreshing();
        Ok(Ok(Lease {
            tracker: self.clone(),
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            connection: connection.to_owned(),
            events,
            closed,
            why,
        }))
    }

    /// Starts the node's refresh task once; it ends with the tracker.
    fn start_refreshing(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let tracker: Weak<Tracker> = Arc::downgrade(self);
        let every = self.refresh_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(tracker) = tracker.upgrade() else {
                    return;
                };
                tracker.refresh_all().await;
            }
        });
    }

    /// Refreshes every local connection: one store call per tenant.
    async fn refresh_all(&self) {
        let mut by_tenant: HashMap<Arc<str>, TenantBatch> = HashMap::new();
        for (id, conn) in self.local().iter() {
            let batch = by_tenant.entry(conn.tenant.clone()).or_default();
            batch.conns.push((conn.user.clone(), id.clone()));
            batch.events |= conn.events;
        }
        futures::stream::iter(by_tenant)
            .for_each_concurrent(CONCURRENT_REFRESHES, |(tenant, batch)| async move {
                self.refresh_tenant(&tenant, &batch.conns, batch.events)
                    .await;
            })
            .await;
    }

    async fn refresh_tenant(&self, tenant: &str, conns: &[(Arc<str>, String)], events: bool) {
        let batch: Vec<Conn<'_>> = conns
            .iter()
            .map(|(user, connection)| Conn { user, connection })
            .collect();
        let now = now_ms();
        let expires_ms = self.expires(now);
        let refreshed = match self.store.refresh(tenant, &batch, now, expires_ms).await {
            Ok(refreshed) => refreshed,
            Err(error) => {
                tracing::warn!(%tenant, %error, "presence refresh failed; retrying");
                return;
            }
        };
        self.report(tenant, events, refreshed.changes);
        let removed_at = if refreshed.gone.is_empty() {
            None
        } else {
            self.store
                .tenant_removed(tenant, now_ms())
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%tenant, %error, "cannot tell why presence entries went");
                    None
                })
        };
        let gone: HashSet<&str> = refreshed.gone.iter().map(String::as_str).collect();
        let mut local = self.local();
        for (_, id) in conns {
            let Some(conn) = local.get_mut(id) else {
                continue;
            };
            if !gone.contains(id.as_str()) {
                conn.expires_ms = conn.expires_ms.max(expires_ms);
                continue;
            }
            let why = if removed_at.is_some_and(|at| conn.registered_ms <= at) {
                TENANT_DELETED
            } else if conn.expires_ms <= now {
                LAPSED
            } else {
                REPLACED
            };
            tracing::debug!(%tenant, connection = %id, why, "presence entry gone; closing");
            if let Some(conn) = local.remove(id) {
                conn.close(why);
            }
        }
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
    events: bool,
    /// Cancelled when the connection is to close, after `why` is set.
    closed: CancellationToken,
    why: Arc<AtomicU8>,
}

/// Why presence closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEnd {
    /// Close-oldest admitted a newer connection of its user (`beacon.closed`).
    Replaced,
    /// Its tenant was deleted (`beacon.closed`).
    TenantDeleted,
    /// Its entry lapsed while the store was unreachable: it ends without a
    /// frame, and the client is admitted again when it reconnects.
    Lapsed,
}

impl Lease {
    /// Cancelled when the connection must end: presence closed it (see
    /// [`ended`](Self::ended)), or the token it was admitted within was.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// Why presence closed the connection, if it did.
    pub fn ended(&self) -> Option<LeaseEnd> {
        match self.why.load(Ordering::Acquire) {
            REPLACED => Some(LeaseEnd::Replaced),
            TENANT_DELETED => Some(LeaseEnd::TenantDeleted),
            LAPSED => Some(LeaseEnd::Lapsed),
            _ => None,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.tracker.local().remove(&self.connection);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (tracker, tenant, user, connection, events) = (
            self.tracker.clone(),
            std::mem::take(&mut self.tenant),
            std::mem::take(&mut self.user),
            std::mem::take(&mut self.connection),
            self.events,
        );
        runtime.spawn(async move {
            let entry = Entry {
                tenant: &tenant,
                user: &user,
                connection: &connection,
            };
            match tracker.store.remove(&entry, now_ms()).await {
                Ok(left) => tracker.report(&tenant, events, left.into_iter().collect()),
                // The entry expires after the TTL anyway.
                Err(error) => tracing::warn!(%tenant, %error, "presence entry not removed"),
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
            None,
        );
        let first = tracker
            .admit("t", "u", "c1", caps(CapPolicy::CloseOldest), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.ended(), None);
        let second = tracker
            .admit("t", "u", "c2", caps(CapPolicy::CloseOldest), false)
            .await
            .unwrap()
            .unwrap();
        assert!(first.closed().is_cancelled(), "closed at once on this node");
        assert_eq!(first.ended(), Some(LeaseEnd::Replaced));
        drop(first);
        assert_eq!(tracker.online("t").await.unwrap().connections, 1);
        drop(second);
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert_eq!(tracker.online("t").await.unwrap().connections, 0);
        let refused = tracker
            .admit("t", "u", "c3", caps(CapPolicy::RefuseNewest), false)
            .await
            .unwrap();
        assert!(refused.is_ok());
    }

    #[tokio::test]
    async fn a_connection_replaced_on_another_node_closes_at_its_next_refresh() {
        let store: crate::presence::SharedPresence = Arc::new(MemoryPresence::new());
        let heartbeat = Duration::from_millis(100);
        let node_a = Tracker::new(store.clone(), Duration::from_secs(30), heartbeat, None);
        let node_b = Tracker::new(store, Duration::from_secs(30), heartbeat, None);
        let on_a = node_a
            .admit("t", "u", "a-1", caps(CapPolicy::CloseOldest), false)
            .await
            .unwrap()
            .unwrap();
        let started = tokio::time::Instant::now();
        let _on_b = node_b
            .admit("t", "u", "b-1", caps(CapPolicy::CloseOldest), false)
            .await
            .unwrap()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), on_a.closed().cancelled())
            .await
            .expect("closed at the next refresh");
        assert_eq!(on_a.ended(), Some(LeaseEnd::Replaced));
        drop(on_a);
        assert!(started.elapsed() < heartbeat * 5, "{:?}", started.elapsed());
        assert_eq!(node_a.online("t").await.unwrap().connections, 1);
    }

    #[tokio::test]
    async fn a_deleted_tenants_connections_on_other_nodes_close_as_tenant_deleted() {
        let store: crate::presence::SharedPresence = Arc::new(MemoryPresence::new());
        let heartbeat = Duration::from_millis(100);
        let node_a = Tracker::new(store.clone(), Duration::from_secs(30), heartbeat, None);
        let node_b = Tracker::new(store, Duration::from_secs(30), heartbeat, None);
        let admit = |tenant: &'static str, connection: &'static str| {
            let node_b = node_b.clone();
            async move {
                node_b
                    .admit(
                        tenant,
                        "u",
                        connection,
                        caps(CapPolicy::RefuseNewest),
                        false,
                    )
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let gone = admit("t", "b-1").await;
        let kept = admit("other", "b-2").await;
        node_a.remove_tenant("t").await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), gone.closed().cancelled())
            .await
            .expect("closed at the next refresh");
        assert_eq!(gone.ended(), Some(LeaseEnd::TenantDeleted));
        assert_eq!(kept.ended(), None);
        assert_eq!(node_a.online("t").await.unwrap().connections, 0);
        assert_eq!(node_a.online("other").await.unwrap().connections, 1);
        drop(kept);
    }

    /// The real memory store, counting refresh calls and able to fail
    /// them (a node cut off from the store).
    #[derive(Default)]
    struct Watched {
        store: MemoryPresence,
        refreshes: std::sync::atomic::AtomicUsize,
        unreachable: AtomicBool,
    }

    #[async_trait::async_trait]
    impl crate::presence::PresenceStore for Watched {
        async fn register(
            &self,
            entry: &Entry<'_>,
            caps: Caps,
            now_ms: u64,
            expires_ms: u64,
        ) -> Result<crate::presence::Registered, PresenceError> {
            self.store.register(entry, caps, now_ms, expires_ms).await
        }
        async fn refresh(
            &self,
            tenant: &str,
            conns: &[Conn<'_>],
            now_ms: u64,
            expires_ms: u64,
        ) -> Result<crate::presence::Refreshed, PresenceError> {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            if self.unreachable.load(Ordering::SeqCst) {
                return Err(PresenceError::Unavailable("cut off".into()));
            }
            self.store.refresh(tenant, conns, now_ms, expires_ms).await
        }
        async fn remove(
            &self,
            entry: &Entry<'_>,
            now_ms: u64,
        ) -> Result<Option<Change>, PresenceError> {
            self.store.remove(entry, now_ms).await
        }
        async fn online(&self, tenant: &str, now_ms: u64) -> Result<Online, PresenceError> {
            self.store.online(tenant, now_ms).await
        }
        async fn remove_tenant(
            &self,
            tenant: &str,
            now_ms: u64,
            remember_ms: u64,
        ) -> Result<(), PresenceError> {
            self.store.remove_tenant(tenant, now_ms, remember_ms).await
        }
        async fn tenant_removed(
            &self,
            tenant: &str,
            now_ms: u64,
        ) -> Result<Option<u64>, PresenceError> {
            self.store.tenant_removed(tenant, now_ms).await
        }
    }

    fn many() -> Caps {
        Caps {
            per_user: 100,
            per_tenant: 1000,
            policy: CapPolicy::RefuseNewest,
        }
    }

    #[tokio::test]
    async fn one_refresh_call_per_tenant_and_tick_keeps_every_local_entry_alive() {
        let store = Arc::new(Watched::default());
        let ttl = Duration::from_millis(400);
        let tracker = Tracker::new(store.clone(), ttl, Duration::from_millis(100), None);
        let mut leases = Vec::new();
        for i in 0..50 {
            let tenant = if i % 2 == 0 { "t1" } else { "t2" };
            let (id, user) = (format!("c{i}"), format!("u{i}"));
            let lease = tracker.admit(tenant, &user, &id, many(), false).await;
            leases.push(lease.unwrap().unwrap());
        }
        store.refreshes.store(0, Ordering::SeqCst);
        // Several TTLs pass: the entries live on, refreshed in batches.
        tokio::time::sleep(ttl * 3).await;
        let calls = store.refreshes.load(Ordering::SeqCst);
        assert_eq!(tracker.online("t1").await.unwrap().connections, 25);
        assert_eq!(tracker.online("t2").await.unwrap().connections, 25);
        // About 12 ticks × 2 tenants; one call per connection would be 600.
        assert!((4..=40).contains(&calls), "{calls} refresh calls");
        assert_eq!(calls % 2, 0, "both tenants each tick: {calls}");
        drop(leases);
    }

    #[tokio::test]
    async fn a_connection_whose_entry_lapsed_ends_without_a_frame() {
        let store = Arc::new(Watched::default());
        let ttl = Duration::from_millis(300);
        let cut_off = Tracker::new(store.clone(), ttl, Duration::from_millis(50), None);
        let other = Tracker::new(store.clone(), ttl, Duration::from_millis(50), None);
        let lease = cut_off
            .admit("t", "u", "a-1", many(), false)
            .await
            .unwrap()
            .unwrap();
        store.unreachable.store(true, Ordering::SeqCst);
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        store.unreachable.store(false, Ordering::SeqCst);
        // Another node's registration purges the lapsed entry.
        let _b = other.admit("t", "v", "b-1", many(), false).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), lease.closed().cancelled())
            .await
            .expect("ended at the next refresh");
        assert_eq!(lease.ended(), Some(LeaseEnd::Lapsed));
    }

    #[tokio::test]
    async fn joins_and_leaves_go_to_the_tenants_log_when_it_has_presence_events() {
        use crate::log::embedded::{EmbeddedLog, open_database};
        use crate::log::{DEFAULT_RETENTION, Offset};
        let dir = tempfile::tempdir().unwrap();
        let db = open_database(&dir.path().join("log.redb")).unwrap();
        let log: crate::log::SharedLog =
            Arc::new(EmbeddedLog::open(db, DEFAULT_RETENTION, Duration::from_secs(60)).unwrap());
        let tracker = Tracker::new(
            Arc::new(MemoryPresence::new()),
            Duration::from_secs(30),
            Duration::from_secs(15),
            Some(Appender::start(log.clone())),
        );
        let a1 = tracker
            .admit("on", "alice", "c1", many(), true)
            .await
            .unwrap()
            .unwrap();
        let a2 = tracker
            .admit("on", "alice", "c2", many(), true)
            .await
            .unwrap()
            .unwrap();
        let quiet = tracker
            .admit("off", "alice", "c3", many(), false)
            .await
            .unwrap()
            .unwrap();
        drop(a1);
        drop(quiet);
        drop(a2);
        let mut events = Vec::new();
        for _ in 0..100 {
            events = log.read("on", Offset::ZERO, 10).await.unwrap().events;
            if events.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen: Vec<(String, serde_json::Value)> = events
            .iter()
            .map(|e| {
                let envelope: serde_json::Value = serde_json::from_str(&e.envelope).unwrap();
                (e.meta.kind.clone(), envelope["data"]["user"].clone())
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("presence.joined".to_owned(), serde_json::json!("alice")),
                ("presence.left".to_owned(), serde_json::json!("alice")),
            ]
        );
        let off = log.read("off", Offset::ZERO, 10).await.unwrap();
        assert!(off.events.is_empty(), "presence events are off there");
    }
}
