//! Tenants in Redis, shared by every node.
//!
//! Keys: `<prefix>:tenants` (hash id → JSON tenant) and `<prefix>:api-keys`
//! (hash key-hash → tenant id). A tenant is created with `HSETNX`, so two
//! nodes creating the same id at once cannot both succeed.

use ::redis::AsyncCommands;
use ::redis::aio::ConnectionManager;
use async_trait::async_trait;

use super::{StoreError, Tenant, TenantStore};
use crate::redis_conn::{LazyRedis, is_unavailable};

pub struct RedisTenants {
    redis: LazyRedis,
    tenants_key: String,
    keys_key: String,
}

impl RedisTenants {
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Ok(RedisTenants {
            redis: LazyRedis::new(url).map_err(StoreError::Backend)?,
            tenants_key: format!("{prefix}:tenants"),
            keys_key: format!("{prefix}:api-keys"),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        self.redis.get().await.map_err(unavailable)
    }
}

fn unavailable(e: ::redis::RedisError) -> StoreError {
    if is_unavailable(&e) {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

fn parse(json: Option<String>) -> Result<Option<Tenant>, StoreError> {
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| StoreError::Backend(format!("corrupt tenant record: {e}")))
    })
    .transpose()
}

#[async_trait]
impl TenantStore for RedisTenants {
    async fn create(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let json = serde_json::to_string(tenant).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut conn = self.conn().await?;
        let created: bool = conn
            .hset_nx(&self.tenants_key, &tenant.id, json)
            .await
            .map_err(unavailable)?;
        if !created {
            return Err(StoreError::Exists(tenant.id.clone()));
        }
        let () = conn
            .hset(&self.keys_key, &tenant.api_key_hash, &tenant.id)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let json: Option<String> = self
            .conn()
            .await?
            .hget(&self.tenants_key, id)
            .await
            .map_err(unavailable)?;
        parse(json)
    }

    async fn by_key_hash(&self, hash: &str) -> Result<Option<Tenant>, StoreError> {
        let id: Option<String> = self
            .conn()
            .await?
            .hget(&self.keys_key, hash)
            .await
            .map_err(unavailable)?;
        match id {
            Some(id) => self.get(&id).await,
            None => Ok(None),
        }
    }

    async fn health(&self) -> Result<(), StoreError> {
        let () = ::redis::cmd("PING")
            .query_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Tenant>, StoreError> {
        let all: Vec<String> = self
            .conn()
            .await?
            .hvals(&self.tenants_key)
            .await
            .map_err(unavailable)?;
        let mut tenants = Vec::with_capacity(all.len());
        for json in all {
            tenants.extend(parse(Some(json))?);
        }
        tenants.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tenants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::RedisServer;

    #[tokio::test]
    async fn conformance() {
        let redis = RedisServer::start();
        let store = RedisTenants::new(&redis.url(), "tenants-test").unwrap();
        super::super::conformance::run_all(&store, "").await;
    }

    #[tokio::test]
    async fn two_nodes_see_the_same_tenants_and_a_down_redis_is_unavailable() {
        let mut redis = RedisServer::start();
        let a = RedisTenants::new(&redis.url(), "shared").unwrap();
        let b = RedisTenants::new(&redis.url(), "shared").unwrap();
        let t = super::super::conformance::tenant("acme");
        a.create(&t).await.unwrap();
        assert_eq!(b.get("acme").await.unwrap(), Some(t.clone()));
        assert!(matches!(b.create(&t).await, Err(StoreError::Exists(_))));
        redis.stop();
        let down = RedisTenants::new(&redis.url(), "shared").unwrap();
        assert!(matches!(
            down.get("acme").await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            a.get("acme").await,
            Err(StoreError::Unavailable(_))
        ));
        redis.start_again();
        assert_eq!(down.get("acme").await.unwrap(), Some(t));
    }
}
