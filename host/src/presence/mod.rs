//! Live connections: presence (who is online) and connection caps.
//!
//! Both count the same thing — open subscriber streams — so one registry
//! serves both. Every connection is an entry `(tenant, user, connection
//! id)` with an **expiry time**, refreshed by the connection while it is
//! open (see [`tracker`]). Counting only includes unexpired entries, so a
//! node that dies without deregistering stops counting against its users
//! after at most the presence TTL.
//!
//! - [`PresenceStore`]: the backend trait; [`memory`] for the embedded
//!   mode (one node), [`redis`] shared by every node (caps are global).
//! - [`tracker`]: the node side — registering a connection, refreshing
//!   every local entry in one batch per tenant, closing local connections
//!   replaced under the close-oldest policy.
//! - [`events`]: `presence.joined` / `presence.left`, appended to the
//!   tenant's event log for tenants that turned them on.
//!
//! A user **joins** when their first entry is added and **leaves** when
//! their last one is removed: closed, replaced by nothing, or purged after
//! it expired (a node that died). The stores detect both atomically with
//! the change and number them with a per-tenant `seq`, so of two changes
//! of one user the later has the higher `seq`, whichever node saw it.
//!
//! Times are Unix milliseconds passed in by the caller (never read inside
//! a store), so the conformance suite drives expiry without sleeping, and
//! nodes sharing Redis compare expiries on one time line. Nodes' clocks
//! must agree to well within the TTL (NTP is plenty).

pub mod events;
pub mod memory;
pub mod redis;
pub mod tracker;

use std::sync::Arc;

use async_trait::async_trait;
pub use beacon_protocol::api::presence::{Online, OnlineUser};
pub use beacon_protocol::api::tenants::CapPolicy;

pub use tracker::Tracker;

/// The caps a new connection is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub per_user: u32,
    pub per_tenant: u32,
    pub policy: CapPolicy,
}

/// One connection to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub tenant: &'a str,
    pub user: &'a str,
    pub connection: &'a str,
}

/// One of a tenant's connections, for [`PresenceStore::refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn<'a> {
    pub user: &'a str,
    pub connection: &'a str,
}

/// A user came online or went offline in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub user: String,
    /// `true`: the user's first connection; `false`: their last one went.
    pub joined: bool,
    /// Orders the tenant's changes: greater than every earlier one's, and
    /// at least the change's time in Unix ms × 1000 (so it keeps growing
    /// across restarts of an embedded node).
    pub seq: u64,
}

/// The next `seq` after `last`, at `now_ms`.
pub fn next_seq(last: u64, now_ms: u64) -> u64 {
    (last + 1).max(now_ms.saturating_mul(1000))
}

/// The outcome of [`PresenceStore::refresh`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refreshed {
    /// Connections whose entry is gone (replaced or removed): they must end.
    pub gone: Vec<String>,
    /// Users whose last entry expired and was purged.
    pub changes: Vec<Change>,
}

/// The outcome of [`PresenceStore::register`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub admission: Admission,
    /// Users who left as expired entries were purged (whether or not the
    /// connection was admitted), then this user joining if it is their
    /// first connection.
    pub changes: Vec<Change>,
}

/// Whether a connection was admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Registered; under close-oldest, the ids of the user's connections
    /// removed to make room (oldest first; they may live on any node).
    Admitted { replaced: Vec<String> },
    /// The user already has `cap` live connections (refuse-newest).
    UserFull { cap: u32 },
    /// The tenant already has `cap` live connections.
    TenantFull { cap: u32 },
}

/// A presence store that cannot answer. The HTTP edge answers 503 for
/// every presence failure: a connection's registration can be retried.
pub type PresenceError = crate::backend::BackendError;

#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Registers a connection alive until `expires_ms`, unless a cap
    /// refuses it. Expired entries never count; they are purged first.
    async fn register(
        &self,
        entry: &Entry<'_>,
        caps: Caps,
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Registered, PresenceError>;
    /// One node's batch for one tenant: extends each of `conns` to
    /// `expires_ms` (even one that expired but was not purged yet) and
    /// reports the ones that are gone (replaced by close-oldest, removed,
    /// or purged after they expired), then purges the tenant's expired
    /// entries.
    async fn refresh(
        &self,
        tenant: &str,
        conns: &[Conn<'_>],
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Refreshed, PresenceError>;
    /// Removes a connection's entry (nothing if it is already gone); the
    /// user's leaving if it was their last.
    async fn remove(&self, entry: &Entry<'_>, now_ms: u64)
    -> Result<Option<Change>, PresenceError>;
    /// Live connections of a tenant, per user.
    async fn online(&self, tenant: &str, now_ms: u64) -> Result<Online, PresenceError>;
    /// Removes every entry of a deleted tenant, so its connections on every
    /// node find their entry gone at their next refresh, and remembers the
    /// removal time `now_ms` for `remember_ms` (see
    /// [`tenant_removed`](Self::tenant_removed)).
    async fn remove_tenant(
        &self,
        tenant: &str,
        now_ms: u64,
        remember_ms: u64,
    ) -> Result<(), PresenceError>;
    /// When the tenant's entries were last removed by
    /// [`remove_tenant`](Self::remove_tenant), if that is still remembered
    /// at `now_ms`: a connection registered at or before that time lost
    /// its entry to the deletion.
    async fn tenant_removed(&self, tenant: &str, now_ms: u64)
    -> Result<Option<u64>, PresenceError>;
}

pub type SharedPresence = Arc<dyn PresenceStore>;

#[cfg(test)]
pub(crate) mod conformance {
    //! Behaviour every presence store must have. Times are synthetic.
    use super::*;

    const TTL: u64 = 30_000;

    fn caps(per_user: u32, per_tenant: u32, policy: CapPolicy) -> Caps {
        Caps {
            per_user,
            per_tenant,
            policy,
        }
    }

    fn e<'a>(tenant: &'a str, user: &'a str, connection: &'a str) -> Entry<'a> {
        Entry {
            tenant,
            user,
            connection,
        }
    }

    fn c<'a>(user: &'a str, connection: &'a str) -> Conn<'a> {
        Conn { user, connection }
    }

    /// The replaced ids and the (user, joined) changes of an admission.
    fn admitted(got: Registered) -> (Vec<String>, Vec<(String, bool)>) {
        let changes = got.changes.into_iter().map(|c| (c.user, c.joined));
        match got.admission {
            Admission::Admitted { replaced } => (replaced, changes.collect()),
            refused => panic!("refused: {refused:?}"),
        }
    }

    fn joined(user: &str) -> Vec<(String, bool)> {
        vec![(user.to_owned(), true)]
    }

    /// Whether a refresh of one connection found it.
    async fn kept(store: &dyn PresenceStore, entry: &Entry<'_>, now: u64) -> bool {
        let got = store
            .refresh(
                entry.tenant,
                &[c(entry.user, entry.connection)],
                now,
                now + TTL,
            )
            .await
            .unwrap();
        got.gone.is_empty()
    }

    /// Defines one `#[tokio::test]` per behaviour of the suite, each on a
    /// fresh store: `$setup` is an expression giving `(guard, store)`, where
    /// `guard` keeps whatever the store needs alive (a `redis-server`).
    macro_rules! presence_conformance {
        ($setup:expr) => {
            $crate::presence::conformance::presence_conformance!(
                @cases $setup;
                caps_per_user_and_per_tenant_refuse_the_newest,
                removal_frees_a_slot_and_only_the_last_connection_leaves,
                every_change_has_a_greater_seq_that_follows_the_clock,
                close_oldest_replaces_the_oldest_and_a_refresh_finds_it_gone,
                entries_expire_unless_refreshed,
                a_dead_nodes_entries_are_purged_and_reported_once,
                a_refused_registration_reports_its_purge,
                a_deleted_tenant_loses_every_entry_and_others_keep_theirs,
            );
        };
        (@cases $setup:expr; $($case:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (_guard, store) = $setup;
                    $crate::presence::conformance::$case(&store, "").await;
                }
            )*
        };
    }
    pub(crate) use presence_conformance;

    const NOW: u64 = 1_000_000;

    /// Per-user cap, refuse-newest; the first connection joins the user;
    /// other users and tenants have their own counts; the per-tenant cap.
    /// Leaves tenant `t` full: alice (a1, a2), bob (b1), carol (c1).
    pub(crate) async fn caps_per_user_and_per_tenant_refuse_the_newest(
        store: &dyn PresenceStore,
        prefix: &str,
    ) {
        let t = format!("{prefix}t");
        let other = format!("{prefix}other");
        let refuse = caps(2, 4, CapPolicy::RefuseNewest);
        let now = NOW;
        let mut changes = Vec::new();
        for conn in ["a1", "a2"] {
            let got = store
                .register(&e(&t, "alice", conn), refuse, now, now + TTL)
                .await;
            let (replaced, c) = admitted(got.unwrap());
            assert!(replaced.is_empty());
            changes.extend(c);
        }
        assert_eq!(changes, joined("alice"), "one join for two connections");
        let got = store
            .register(&e(&t, "alice", "a3"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(got.admission, Admission::UserFull { cap: 2 });
        // Another user, another tenant: their own counts.
        let got = store
            .register(&e(&t, "bob", "b1"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(admitted(got).1, joined("bob"));
        let got = store
            .register(&e(&other, "alice", "x1"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(admitted(got).1, joined("alice"), "per tenant");
        let online = store.online(&t, now).await.unwrap();
        assert_eq!(online.connections, 3);
        assert_eq!(
            online.users,
            vec![
                OnlineUser {
                    user: "alice".into(),
                    connections: 2
                },
                OnlineUser {
                    user: "bob".into(),
                    connections: 1
                }
            ]
        );
        // Per-tenant cap.
        store
            .register(&e(&t, "carol", "c1"), refuse, now, now + TTL)
            .await
            .unwrap();
        let got = store
            .register(&e(&t, "dave", "d1"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(got.admission, Admission::TenantFull { cap: 4 });
    }

    /// Removal frees a slot of a full tenant; removing twice is fine; only
    /// the last connection's removal is a leave.
    pub(crate) async fn removal_frees_a_slot_and_only_the_last_connection_leaves(
        store: &dyn PresenceStore,
        prefix: &str,
    ) {
        let t = format!("{prefix}t");
        let refuse = caps(2, 4, CapPolicy::RefuseNewest);
        let now = NOW;
        for (user, conn) in [
            ("alice", "a1"),
            ("alice", "a2"),
            ("bob", "b1"),
            ("carol", "c1"),
        ] {
            admitted(
                store
                    .register(&e(&t, user, conn), refuse, now, now + TTL)
                    .await
                    .unwrap(),
            );
        }
        let got = store
            .register(&e(&t, "dave", "d1"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(got.admission, Admission::TenantFull { cap: 4 });
        assert_eq!(
            store.remove(&e(&t, "alice", "a1"), now).await.unwrap(),
            None
        );
        assert_eq!(
            store.remove(&e(&t, "alice", "a1"), now).await.unwrap(),
            None
        );
        assert!(!kept(store, &e(&t, "alice", "a1"), now).await);
        let got = store
            .register(&e(&t, "alice", "a3"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(admitted(got), (Vec::new(), Vec::new()));
        let left = store.remove(&e(&t, "bob", "b1"), now).await.unwrap();
        let left = left.expect("bob's last connection");
        assert_eq!((left.user.as_str(), left.joined), ("bob", false));
        assert_eq!(store.remove(&e(&t, "bob", "b1"), now).await.unwrap(), None);
    }

    /// Every change of a tenant has a greater seq than the ones before, and
    /// seqs follow the clock.
    pub(crate) async fn every_change_has_a_greater_seq_that_follows_the_clock(
        store: &dyn PresenceStore,
        prefix: &str,
    ) {
        let t = format!("{prefix}t");
        let refuse = caps(2, 4, CapPolicy::RefuseNewest);
        let now = NOW;
        let got = store
            .register(&e(&t, "bob", "b1"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(admitted(got).1, joined("bob"));
        let left = store.remove(&e(&t, "bob", "b1"), now).await.unwrap();
        let left = left.expect("bob's last connection");
        let back = store
            .register(&e(&t, "bob", "b2"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert!(matches!(back.admission, Admission::Admitted { .. }));
        let changes = back.changes;
        assert_eq!(changes.len(), 1);
        assert!(
            changes[0].joined && changes[0].seq > left.seq,
            "{changes:?} after {left:?}"
        );
        assert!(
            left.seq >= now * 1000,
            "seq follows the clock: {}",
            left.seq
        );
        assert_eq!(store.online(&t, now).await.unwrap().seq, changes[0].seq);
    }

    /// Close-oldest replaces the oldest registration of that user (a
    /// refresh does not make a connection younger), and a batch refresh
    /// reports exactly the connections that are gone.
    pub(crate) async fn close_oldest_replaces_the_oldest_and_a_refresh_finds_it_gone(
        store: &dyn PresenceStore,
        prefix: &str,
    ) {
        let u = format!("{prefix}u");
        let oldest = caps(2, 100, CapPolicy::CloseOldest);
        let now = NOW;
        for (i, conn) in ["o1", "o2"].into_iter().enumerate() {
            let at = now + i as u64;
            store
                .register(&e(&u, "eve", conn), oldest, at, at + TTL)
                .await
                .unwrap();
        }
        // Refreshing does not make a connection younger.
        assert!(kept(store, &e(&u, "eve", "o1"), now + 10).await);
        let got = store
            .register(&e(&u, "eve", "o3"), oldest, now + 10, now + 10 + TTL)
            .await
            .unwrap();
        assert_eq!(admitted(got), (vec!["o1".to_owned()], Vec::new()));
        // A batch reports exactly the connections that are gone.
        let got = store
            .refresh(
                &u,
                &[c("eve", "o1"), c("eve", "o2"), c("eve", "o3")],
                now + 20,
                now + 20 + TTL,
            )
            .await
            .unwrap();
        assert_eq!(
            got,
            Refreshed {
                gone: vec!["o1".into()],
                changes: Vec::new()
            }
        );
        assert_eq!(store.online(&u, now + 20).await.unwrap().connections, 2);
    }

    /// Entries not refreshed stop counting after their expiry; registering
    /// purges them; a refreshed entry lives on; an unknown tenant is empty.
    pub(crate) async fn entries_expire_unless_refreshed(store: &dyn PresenceStore, prefix: &str) {
        let v = format!("{prefix}v");
        let one = caps(1, 100, CapPolicy::RefuseNewest);
        let now = NOW;
        store
            .register(&e(&v, "zed", "z1"), one, now, now + TTL)
            .await
            .unwrap();
        let got = store
            .register(&e(&v, "zed", "z2"), one, now + TTL - 1, now + 2 * TTL)
            .await
            .unwrap();
        assert_eq!(got.admission, Admission::UserFull { cap: 1 });
        assert_eq!(
            store.online(&v, now + TTL - 1).await.unwrap().connections,
            1
        );
        assert_eq!(store.online(&v, now + TTL).await.unwrap().connections, 0);
        // Registering purges the expired entry: zed leaves, then joins again.
        let got = store
            .register(&e(&v, "zed", "z2"), one, now + TTL, now + 2 * TTL)
            .await
            .unwrap();
        assert_eq!(
            admitted(got).1,
            vec![("zed".to_owned(), false), ("zed".to_owned(), true)]
        );
        // A refreshed entry lives on.
        assert!(kept(store, &e(&v, "zed", "z2"), now + 2 * TTL).await);
        assert_eq!(
            store.online(&v, now + 2 * TTL).await.unwrap().connections,
            1
        );
        assert_eq!(
            store.online(&format!("{prefix}nobody"), now).await.unwrap(),
            Online {
                users: Vec::new(),
                connections: 0,
                seq: 0,
            }
        );
    }

    /// A node that died: its entries expire, and the next refresh of the
    /// tenant (from any node) purges them and reports the users' leaving,
    /// once.
    pub(crate) async fn a_dead_nodes_entries_are_purged_and_reported_once(
        store: &dyn PresenceStore,
        prefix: &str,
    ) {
        let dead = format!("{prefix}dead");
        let many = caps(10, 100, CapPolicy::RefuseNewest);
        let now = NOW;
        for (user, conn, at) in [
            ("kim", "k1", now),
            ("kim", "k2", now + 5),
            ("lee", "l1", now),
        ] {
            store
                .register(&e(&dead, user, conn), many, at, at + TTL)
                .await
                .unwrap();
        }
        let got = store
            .refresh(&dead, &[c("lee", "l1")], now + TTL + 1, now + 2 * TTL)
            .await
            .unwrap();
        // l1's node refreshes late, but before any purge: l1 lives on. k1
        // expired and is purged; kim still has k2.
        assert_eq!(got, Refreshed::default());
        let got = store
            .refresh(&dead, &[], now + TTL + 5, now + 2 * TTL)
            .await
            .unwrap();
        let left: Vec<_> = got
            .changes
            .iter()
            .map(|c| (c.user.as_str(), c.joined))
            .collect();
        assert_eq!(left, vec![("kim", false)]);
        // Reported once; a late refresh of the purged entry finds it gone.
        let got = store
            .refresh(&dead, &[c("kim", "k2")], now + TTL + 6, now + 2 * TTL)
            .await
            .unwrap();
        assert_eq!(
            got,
            Refreshed {
                gone: vec!["k2".into()],
                changes: Vec::new()
            }
        );
    }

    /// A refused registration still reports whom its purge removed.
    pub(crate) async fn a_refused_registration_reports_its_purge(
        store: &dyn PresenceStore,
        prefix: &str,
    ) {
        let r = format!("{prefix}r");
        let one = caps(1, 100, CapPolicy::RefuseNewest);
        let now = NOW;
        store
            .register(&e(&r, "ann", "r1"), one, now, now + TTL)
            .await
            .unwrap();
        store
            .register(&e(&r, "ben", "r2"), one, now + 10, now + 10 + TTL)
            .await
            .unwrap();
        let got = store
            .register(&e(&r, "ben", "r3"), one, now + TTL + 1, now + 2 * TTL)
            .await
            .unwrap();
        assert_eq!(got.admission, Admission::UserFull { cap: 1 });
        let left: Vec<_> = got
            .changes
            .iter()
            .map(|c| (c.user.as_str(), c.joined))
            .collect();
        assert_eq!(left, vec![("ann", false)]);
    }

    /// A deleted tenant: every entry goes (its users do not "leave"), other
    /// tenants keep theirs, the removal is remembered, and the id may have
    /// connections again.
    pub(crate) async fn a_deleted_tenant_loses_every_entry_and_others_keep_theirs(
        store: &dyn PresenceStore,
        prefix: &str,
    ) {
        let t = format!("{prefix}t");
        let w = format!("{prefix}w");
        let many = caps(10, 100, CapPolicy::RefuseNewest);
        let now = NOW;
        for (user, conn) in [
            ("alice", "a2"),
            ("alice", "a3"),
            ("bob", "b2"),
            ("carol", "c1"),
        ] {
            store
                .register(&e(&t, user, conn), many, now, now + TTL)
                .await
                .unwrap();
        }
        for (user, conn) in [("alice", "w1"), ("alice", "w2"), ("bob", "w3")] {
            store
                .register(&e(&w, user, conn), many, now, now + TTL)
                .await
                .unwrap();
        }
        let removed_at = now + 5;
        store.remove_tenant(&w, removed_at, TTL).await.unwrap();
        let got = store
            .refresh(
                &w,
                &[c("alice", "w1"), c("alice", "w2"), c("bob", "w3")],
                now + 6,
                now + TTL,
            )
            .await
            .unwrap();
        assert_eq!(got.gone.len(), 3, "{got:?}");
        assert!(
            got.changes.is_empty(),
            "a deleted tenant's users do not leave"
        );
        assert_eq!(store.online(&w, now + 6).await.unwrap().connections, 0);
        assert_eq!(store.online(&t, now + 6).await.unwrap().connections, 4);
        assert_eq!(
            store.tenant_removed(&w, now + 6).await.unwrap(),
            Some(removed_at)
        );
        assert_eq!(store.tenant_removed(&t, now + 6).await.unwrap(), None);
        store.remove_tenant(&w, removed_at, TTL).await.unwrap();
        // The id may have connections again (a new tenant of that name).
        let got = store
            .register(&e(&w, "alice", "w4"), many, now + 10, now + 10 + TTL)
            .await
            .unwrap();
        assert_eq!(admitted(got).1, joined("alice"));
        assert_eq!(store.online(&w, now + 11).await.unwrap().connections, 1);
    }
}
