//! Tenants and their credentials.
//!
//! A tenant is an isolated namespace: its own event stream, its API keys
//! (each with scopes: publish, plugins, read) and its signing secret (for
//! subscriber tokens). The store keeps API keys only as SHA-256 hashes; the
//! signing secret must be kept as is, since verifying an HS256 token needs it.
//!
//! [`TenantStore`] has an embedded backend (the redb file shared with the
//! log) and a Redis one, so that every node sees the same tenants.

pub mod embedded;
pub mod redis;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::backend::BackendError;

pub use beacon_protocol::api::keys::Scope;
pub use beacon_protocol::api::tenants::{MAX_CORS_ORIGINS, MAX_ORIGIN_LEN, MAX_TENANT_ID_LEN};

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    /// Secret for HS256 subscriber tokens.
    pub signing_secret: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Accept events of types that have no registered contract (they are
    /// stored unchecked). Off by default: every event needs a contract.
    #[serde(default)]
    pub allow_unregistered_types: bool,
    /// Public keys the tenant registered to sign subscriber tokens itself
    /// (EdDSA / RS256), matched by `kid`.
    #[serde(default)]
    pub jwt_keys: Vec<crate::auth::jwt::PublicKey>,
    /// The tenant's own connection caps and publish rate; absent fields
    /// (and records stored before limits existed) take the server defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::limits::TenantLimits>,
    /// A disabled tenant can neither publish nor open streams.
    #[serde(default)]
    pub disabled: bool,
    /// Browser origins (`https://app.example.com`) that may read this
    /// tenant's subscriber stream with credentials (the `beacon_token`
    /// cookie), besides the node-wide `--cors-origins`.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Append `presence.joined` / `presence.left` to the tenant's stream
    /// (see [`crate::presence::events`]). Off by default.
    #[serde(default)]
    pub presence_events: bool,
}

/// Most API keys one tenant may hold (rotation needs two at a time).
pub const MAX_KEYS_PER_TENANT: usize = 20;

/// One API key of a tenant, as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public identifier (`k_…`), for listing, rotating and revoking.
    pub id: String,
    pub tenant: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    pub scopes: Vec<Scope>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds after which the key no longer works (set by rotation).
    #[serde(default)]
    pub expires_at: Option<u64>,
}

impl ApiKey {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn expired(&self, now_s: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_s)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tenant {0:?} already exists")]
    Exists(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("limit reached: {0}")]
    Limit(String),
    /// The store failed (unreachable, corrupt data, ...).
    #[error("tenant store {0}")]
    Backend(#[from] BackendError),
}

#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Stores a new tenant with its first API key; fails with
    /// [`StoreError::Exists`] if the id is taken.
    async fn create(&self, tenant: &Tenant, first_key: &ApiKey) -> Result<(), StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Tenant>, StoreError>;
    /// Replaces an existing tenant's record; [`StoreError::NotFound`] if
    /// there is no such tenant.
    async fn update(&self, tenant: &Tenant) -> Result<(), StoreError>;
    /// Finds an API key by its hash.
    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Stores a key, or replaces the one with the same hash (rotation sets
    /// an expiry). At most [`MAX_KEYS_PER_TENANT`] keys per tenant.
    async fn put_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// The tenant's keys, ordered by id.
    async fn keys(&self, tenant: &str) -> Result<Vec<ApiKey>, StoreError>;
    /// Removes a key; [`StoreError::NotFound`] if the tenant has no such key.
    async fn delete_key(&self, tenant: &str, key_id: &str) -> Result<(), StoreError>;
    /// Every tenant, ordered by id.
    async fn list(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Removes the tenant's record (with its signing secret and registered
    /// JWT keys) and every API key it holds, in one atomic step. False if
    /// there was no such tenant (keys left without one are removed anyway).
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Checks that the store answers.
    async fn health(&self) -> Result<(), StoreError>;
}

pub type SharedTenants = Arc<dyn TenantStore>;

/// Checks a tenant id: 1–63 chars of `a-z 0-9 -`, starting with a letter or digit.
pub fn valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TENANT_ID_LEN
        && id.as_bytes()[0] != b'-'
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
pub(crate) mod conformance {
    //! Behaviour every tenant store must have.
    use super::*;

    pub(crate) fn key(tenant: &str, n: u32) -> ApiKey {
        ApiKey {
            id: format!("k_{n:03}"),
            tenant: tenant.to_owned(),
            hash: format!("hash-{n}-of-{tenant}"),
            scopes: vec![Scope::Publish],
            created_at: 1,
            expires_at: None,
        }
    }

    pub(crate) fn tenant(id: &str) -> Tenant {
        Tenant {
            id: id.to_owned(),
            signing_secret: format!("secret-of-{id}"),
            created_at: 1,
            allow_unregistered_types: false,
            jwt_keys: Vec::new(),
            limits: None,
            disabled: false,
            cors_origins: Vec::new(),
            presence_events: false,
        }
    }

    pub(crate) async fn run_all(store: &dyn TenantStore, prefix: &str) {
        let a = tenant(&format!("{prefix}a"));
        let b = tenant(&format!("{prefix}b"));
        store.create(&a, &key(&a.id, 1)).await.unwrap();
        store.create(&b, &key(&b.id, 1)).await.unwrap();
        let refused = store.create(&a, &key(&a.id, 9)).await;
        assert!(matches!(refused, Err(StoreError::Exists(_))));
        assert_eq!(
            store.key_by_hash(&key(&a.id, 9).hash).await.unwrap(),
            None,
            "a refused create stores no key"
        );
        assert_eq!(store.get(&a.id).await.unwrap(), Some(a.clone()));
        let mut changed = a.clone();
        changed.allow_unregistered_types = true;
        changed.presence_events = true;
        changed.cors_origins = vec![
            "https://app.example.com".into(),
            "http://localhost:3000".into(),
        ];
        store.update(&changed).await.unwrap();
        assert_eq!(store.get(&a.id).await.unwrap(), Some(changed.clone()));
        store.update(&a).await.unwrap();
        let missing = tenant(&format!("{prefix}missing"));
        assert!(matches!(
            store.update(&missing).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.get(&missing.id).await.unwrap(), None);
        assert_eq!(store.get(&format!("{prefix}zz")).await.unwrap(), None);
        assert_eq!(
            store.key_by_hash(&key(&b.id, 1).hash).await.unwrap(),
            Some(key(&b.id, 1))
        );
        assert_eq!(store.key_by_hash("nope").await.unwrap(), None);
        // More keys: replaced in place, listed per tenant, deleted, bounded.
        let mut second = key(&a.id, 2);
        second.scopes = vec![Scope::Read];
        store.put_key(&second).await.unwrap();
        second.expires_at = Some(99);
        store.put_key(&second).await.unwrap();
        assert_eq!(
            store.keys(&a.id).await.unwrap(),
            vec![key(&a.id, 1), second.clone()]
        );
        assert_eq!(store.keys(&b.id).await.unwrap(), vec![key(&b.id, 1)]);
        store.delete_key(&a.id, "k_002").await.unwrap();
        assert_eq!(store.key_by_hash(&second.hash).await.unwrap(), None);
        assert!(matches!(
            store.delete_key(&a.id, "k_002").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(store.delete_key(&b.id, "k_001").await, Ok(())));
        assert!(store.keys(&b.id).await.unwrap().is_empty());
        for n in 10..10 + MAX_KEYS_PER_TENANT as u32 - 1 {
            store.put_key(&key(&a.id, n)).await.unwrap();
        }
        assert!(matches!(
            store.put_key(&key(&a.id, 99)).await,
            Err(StoreError::Limit(_))
        ));
        let ids: Vec<_> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert!(ids.contains(&a.id) && ids.contains(&b.id));
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        deleting(store, prefix).await;
    }

    /// Deleting a tenant takes its keys with it and nothing of another's.
    async fn deleting(store: &dyn TenantStore, prefix: &str) {
        let gone = tenant(&format!("{prefix}gone"));
        // A tenant whose id extends the deleted one's keeps everything.
        let kept = tenant(&format!("{prefix}gone-2"));
        let mut disabled = gone.clone();
        disabled.disabled = true;
        store.create(&gone, &key(&gone.id, 1)).await.unwrap();
        store.update(&disabled).await.unwrap();
        store.put_key(&key(&gone.id, 2)).await.unwrap();
        store.create(&kept, &key(&kept.id, 1)).await.unwrap();

        assert!(store.delete(&gone.id).await.unwrap());
        assert_eq!(store.get(&gone.id).await.unwrap(), None);
        assert!(store.keys(&gone.id).await.unwrap().is_empty());
        for n in [1, 2] {
            assert_eq!(
                store.key_by_hash(&key(&gone.id, n).hash).await.unwrap(),
                None,
                "key {n} of a deleted tenant still works"
            );
        }
        let ids: Vec<_> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert!(!ids.contains(&gone.id));
        assert_eq!(store.get(&kept.id).await.unwrap(), Some(kept.clone()));
        assert_eq!(store.keys(&kept.id).await.unwrap(), vec![key(&kept.id, 1)]);
        assert!(!store.delete(&gone.id).await.unwrap(), "already gone");
        assert!(!store.delete(&format!("{prefix}never")).await.unwrap());

        // The id can be taken again, from nothing.
        store.create(&gone, &key(&gone.id, 3)).await.unwrap();
        assert_eq!(store.get(&gone.id).await.unwrap(), Some(gone.clone()));
        assert_eq!(store.keys(&gone.id).await.unwrap(), vec![key(&gone.id, 3)]);
    }

    #[test]
    fn records_stored_before_cors_origins_still_load() {
        let old = r#"{"id":"acme","signing_secret":"s","created_at":1,"disabled":true}"#;
        let tenant: Tenant = serde_json::from_str(old).unwrap();
        assert!(tenant.cors_origins.is_empty() && !tenant.presence_events && tenant.disabled);
        let mut listed = tenant.clone();
        listed.cors_origins = vec!["https://app.example.com".into()];
        let text = serde_json::to_string(&listed).unwrap();
        assert_eq!(serde_json::from_str::<Tenant>(&text).unwrap(), listed);
    }

    #[test]
    fn tenant_ids() {
        for ok in ["acme", "a", "a-1", "0day", &"x".repeat(63)] {
            assert!(valid_tenant_id(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "Acme",
            "a_b",
            "a b",
            "a/b",
            "a\n",
            &"x".repeat(64),
        ] {
            assert!(!valid_tenant_id(bad), "{bad:?}");
        }
    }
}
