//! Tenants and their credentials.
//!
//! A tenant is an isolated namespace: its own event stream, its own API key
//! (for publishing) and its own signing secret (for subscriber tokens). The
//! store keeps the API key only as a SHA-256 hash; the signing secret must
//! be kept as is, since verifying an HS256 token needs it.
//!
//! [`TenantStore`] has an embedded backend (the redb file shared with the
//! log) and a Redis one, so that every node sees the same tenants.

pub mod embedded;
pub mod redis;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Longest tenant id.
pub const MAX_TENANT_ID_LEN: usize = 63;

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    /// Hex SHA-256 of the tenant's API key.
    pub api_key_hash: String,
    /// Secret for HS256 subscriber tokens.
    pub signing_secret: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Accept events of types that have no registered contract (they are
    /// stored unchecked). Off by default: every event needs a contract.
    #[serde(default)]
    pub allow_unregistered_types: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tenant {0:?} already exists")]
    Exists(String),
    #[error("tenant store unavailable: {0}")]
    Unavailable(String),
    #[error("tenant store failure: {0}")]
    Backend(String),
}

#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Stores a new tenant; fails with [`StoreError::Exists`] if the id is taken.
    async fn create(&self, tenant: &Tenant) -> Result<(), StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Tenant>, StoreError>;
    /// Finds the tenant owning an API key, by the key's hash.
    async fn by_key_hash(&self, hash: &str) -> Result<Option<Tenant>, StoreError>;
    /// Every tenant, ordered by id.
    async fn list(&self) -> Result<Vec<Tenant>, StoreError>;
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

    pub fn tenant(id: &str) -> Tenant {
        Tenant {
            id: id.to_owned(),
            api_key_hash: format!("hash-of-{id}"),
            signing_secret: format!("secret-of-{id}"),
            created_at: 1,
            allow_unregistered_types: false,
        }
    }

    pub async fn run_all(store: &dyn TenantStore, prefix: &str) {
        let a = tenant(&format!("{prefix}a"));
        let b = tenant(&format!("{prefix}b"));
        store.create(&a).await.unwrap();
        store.create(&b).await.unwrap();
        assert!(matches!(store.create(&a).await, Err(StoreError::Exists(_))));
        assert_eq!(store.get(&a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(store.get(&format!("{prefix}zz")).await.unwrap(), None);
        assert_eq!(
            store.by_key_hash(&b.api_key_hash).await.unwrap(),
            Some(b.clone())
        );
        assert_eq!(store.by_key_hash("nope").await.unwrap(), None);
        let ids: Vec<_> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert!(ids.contains(&a.id) && ids.contains(&b.id));
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
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
