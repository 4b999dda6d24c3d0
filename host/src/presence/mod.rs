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
//! - [`tracker`]: the node side — registering a connection, refreshing it,
//!   closing local connections replaced under the close-oldest policy.
//!
//! Times are Unix milliseconds passed in by the caller (never read inside
//! a store), so the conformance suite drives expiry without sleeping, and
//! nodes sharing Redis compare expiries on one time line. Nodes' clocks
//! must agree to well within the TTL (NTP is plenty).

pub mod memory;
pub mod redis;
pub mod tracker;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use tracker::Tracker;

/// What happens when a user opens one connection more than their cap.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CapPolicy {
    /// The new connection is refused (429 `too_many_connections`).
    #[default]
    RefuseNewest,
    /// The user's oldest connection is closed (`beacon.closed`,
    /// reason `replaced`) and the new one admitted.
    CloseOldest,
}

impl CapPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            CapPolicy::RefuseNewest => "refuse-newest",
            CapPolicy::CloseOldest => "close-oldest",
        }
    }
}

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

/// The outcome of [`PresenceStore::register`].
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

/// A user online in a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct OnlineUser {
    /// The subscriber's `sub` claim.
    pub user: String,
    /// Open connections of this user, on every node.
    pub connections: u32,
}

/// `GET /v1/presence`: who is online in the tenant, on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Online {
    /// Users with at least one open connection, ordered by user.
    pub users: Vec<OnlineUser>,
    /// Open connections of the tenant in all.
    pub connections: u32,
}

impl Online {
    /// Groups `(user)` per live connection into the answer.
    fn from_users<'a>(users: impl Iterator<Item = &'a str>) -> Online {
        let mut counts = std::collections::BTreeMap::<&str, u32>::new();
        let mut connections = 0u32;
        for user in users {
            *counts.entry(user).or_default() += 1;
            connections += 1;
        }
        Online {
            users: counts
                .into_iter()
                .map(|(user, connections)| OnlineUser {
                    user: user.to_owned(),
                    connections,
                })
                .collect(),
            connections,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    #[error("presence store unavailable: {0}")]
    Unavailable(String),
    #[error("presence store failure: {0}")]
    Backend(String),
}

#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Registers a connection alive until `expires_ms`, unless a cap
    /// refuses it. Expired entries never count.
    async fn register(
        &self,
        entry: &Entry<'_>,
        caps: Caps,
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Admission, PresenceError>;
    /// Extends a live connection's entry. `false` if it is gone (replaced
    /// by close-oldest, or removed): the connection must end.
    async fn refresh(&self, entry: &Entry<'_>, expires_ms: u64) -> Result<bool, PresenceError>;
    /// Removes a connection's entry (nothing if it is already gone).
    async fn remove(&self, entry: &Entry<'_>) -> Result<(), PresenceError>;
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
    /// Whether the tenant's entries were removed by
    /// [`remove_tenant`](Self::remove_tenant) at or after `registered_ms`
    /// (and that is still remembered at `now_ms`): why a connection
    /// registered then lost its entry.
    async fn tenant_removed(
        &self,
        tenant: &str,
        registered_ms: u64,
        now_ms: u64,
    ) -> Result<bool, PresenceError>;
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

    fn admitted() -> Admission {
        Admission::Admitted {
            replaced: Vec::new(),
        }
    }

    pub async fn run_all(store: &dyn PresenceStore, prefix: &str) {
        let t = format!("{prefix}t");
        let other = format!("{prefix}other");
        let refuse = caps(2, 4, CapPolicy::RefuseNewest);
        let now = 1_000_000;
        // Per-user cap, refuse-newest.
        for c in ["a1", "a2"] {
            let got = store
                .register(&e(&t, "alice", c), refuse, now, now + TTL)
                .await;
            assert_eq!(got.unwrap(), admitted(), "{c}");
        }
        let got = store
            .register(&e(&t, "alice", "a3"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(got, Admission::UserFull { cap: 2 });
        // Another user, another tenant: their own counts.
        store
            .register(&e(&t, "bob", "b1"), refuse, now, now + TTL)
            .await
            .unwrap();
        store
            .register(&e(&other, "alice", "x1"), refuse, now, now + TTL)
            .await
            .unwrap();
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
        assert_eq!(got, Admission::TenantFull { cap: 4 });
        // Removal frees a slot; removing twice is fine.
        store.remove(&e(&t, "alice", "a1")).await.unwrap();
        store.remove(&e(&t, "alice", "a1")).await.unwrap();
        assert!(
            !store
                .refresh(&e(&t, "alice", "a1"), now + TTL)
                .await
                .unwrap()
        );
        let got = store
            .register(&e(&t, "alice", "a3"), refuse, now, now + TTL)
            .await
            .unwrap();
        assert_eq!(got, admitted());

        // Close-oldest replaces the oldest registration of that user.
        let u = format!("{prefix}u");
        let oldest = caps(2, 100, CapPolicy::CloseOldest);
        for (i, c) in ["o1", "o2"].into_iter().enumerate() {
            let at = now + i as u64;
            store
                .register(&e(&u, "eve", c), oldest, at, at + TTL)
                .await
                .unwrap();
        }
        // Refreshing does not make a connection younger.
        assert!(
            store
                .refresh(&e(&u, "eve", "o1"), now + 10 + TTL)
                .await
                .unwrap()
        );
        let got = store
            .register(&e(&u, "eve", "o3"), oldest, now + 10, now + 10 + TTL)
            .await
            .unwrap();
        assert_eq!(
            got,
            Admission::Admitted {
                replaced: vec!["o1".into()]
            }
        );
        assert!(
            !store
                .refresh(&e(&u, "eve", "o1"), now + 20 + TTL)
                .await
                .unwrap()
        );
        assert_eq!(store.online(&u, now + 20).await.unwrap().connections, 2);

        // Expiry: entries not refreshed stop counting after their expiry.
        let v = format!("{prefix}v");
        let one = caps(1, 100, CapPolicy::RefuseNewest);
        store
            .register(&e(&v, "zed", "z1"), one, now, now + TTL)
            .await
            .unwrap();
        let got = store
            .register(&e(&v, "zed", "z2"), one, now + TTL - 1, now + 2 * TTL)
            .await
            .unwrap();
        assert_eq!(got, Admission::UserFull { cap: 1 });
        assert_eq!(
            store.online(&v, now + TTL - 1).await.unwrap().connections,
            1
        );
        assert_eq!(store.online(&v, now + TTL).await.unwrap().connections, 0);
        let got = store
            .register(&e(&v, "zed", "z2"), one, now + TTL, now + 2 * TTL)
            .await
            .unwrap();
        assert_eq!(got, admitted());
        // A refreshed entry lives on.
        assert!(
            store
                .refresh(&e(&v, "zed", "z2"), now + 3 * TTL)
                .await
                .unwrap()
        );
        assert_eq!(
            store.online(&v, now + 2 * TTL).await.unwrap().connections,
            1
        );
        assert_eq!(
            store.online(&format!("{prefix}nobody"), now).await.unwrap(),
            Online {
                users: Vec::new(),
                connections: 0
            }
        );

        // A deleted tenant: every entry goes, other tenants keep theirs.
        let w = format!("{prefix}w");
        let many = caps(10, 100, CapPolicy::RefuseNewest);
        for (user, c) in [("alice", "w1"), ("alice", "w2"), ("bob", "w3")] {
            store
                .register(&e(&w, user, c), many, now, now + TTL)
                .await
                .unwrap();
        }
        let removed_at = now + 5;
        store.remove_tenant(&w, removed_at, TTL).await.unwrap();
        for (user, c) in [("alice", "w1"), ("alice", "w2"), ("bob", "w3")] {
            assert!(!store.refresh(&e(&w, user, c), now + TTL).await.unwrap());
        }
        assert_eq!(store.online(&w, now + 6).await.unwrap().connections, 0);
        assert_eq!(store.online(&t, now + 6).await.unwrap().connections, 4);
        assert!(store.tenant_removed(&w, now, now + 6).await.unwrap());
        assert!(
            !store.tenant_removed(&w, now + 10, now + 11).await.unwrap(),
            "a connection registered after the removal was not removed by it"
        );
        assert!(!store.tenant_removed(&t, now, now + 6).await.unwrap());
        store.remove_tenant(&w, removed_at, TTL).await.unwrap();
        // The id may have connections again (a new tenant of that name).
        let got = store
            .register(&e(&w, "alice", "w4"), many, now + 10, now + 10 + TTL)
            .await
            .unwrap();
        assert_eq!(got, admitted());
        assert_eq!(store.online(&w, now + 11).await.unwrap().connections, 1);
    }
}
