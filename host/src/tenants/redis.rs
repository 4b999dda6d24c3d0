//! Tenants in Redis, shared by every node.
//!
//! Keys, all under one hash tag so the scripts below may touch them
//! together on Redis Cluster (tenant data is small and admin-written):
//! `{<prefix>:tenants}:all` (hash id → JSON tenant),
//! `{<prefix>:tenants}:api-keys` (hash key-hash → JSON key) and
//! `{<prefix>:tenants}:keys:<tenant>` (hash key-id → key-hash).
//! Creating a tenant with its first key, adding a key under the per-tenant
//! cap, deleting a key, and deleting a tenant with all its keys are each
//! one Lua script, so they are atomic.

use ::redis::aio::ConnectionManager;
use ::redis::{AsyncCommands, Script};
use async_trait::async_trait;

use super::{ApiKey, MAX_KEYS_PER_TENANT, StoreError, Tenant, TenantStore};
use crate::backend::BackendError;
use crate::redis_conn::LazyRedis;

/// KEYS: tenants, api-keys, tenant's key index. ARGV: id, tenant JSON, key hash, key JSON, key id.
const CREATE_LUA: &str = include_str!("redis/create.lua");

/// KEYS: tenants. ARGV: id, tenant JSON.
const UPDATE_LUA: &str = include_str!("redis/update.lua");

/// KEYS: api-keys, tenant's key index. ARGV: key hash, key JSON, key id, cap.
const PUT_KEY_LUA: &str = include_str!("redis/put_key.lua");

/// KEYS: api-keys, tenant's key index. ARGV: key id.
const DELETE_KEY_LUA: &str = include_str!("redis/delete_key.lua");

/// KEYS: tenants, api-keys, tenant's key index. ARGV: id.
/// Returns 1 if the tenant existed.
const DELETE_TENANT_LUA: &str = include_str!("redis/delete_tenant.lua");

pub struct RedisTenants {
    redis: LazyRedis,
    tag: String,
    create: Script,
    update: Script,
    put_key: Script,
    delete_key: Script,
    delete_tenant: Script,
}

impl RedisTenants {
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Ok(RedisTenants {
            redis: LazyRedis::new(url).map_err(|e| BackendError::Internal(Box::new(e)))?,
            tag: format!("{{{prefix}:tenants}}"),
            create: Script::new(CREATE_LUA),
            update: Script::new(UPDATE_LUA),
            put_key: Script::new(PUT_KEY_LUA),
            delete_key: Script::new(DELETE_KEY_LUA),
            delete_tenant: Script::new(DELETE_TENANT_LUA),
        })
    }

    fn tenants_key(&self) -> String {
        format!("{}:all", self.tag)
    }

    fn api_keys_key(&self) -> String {
        format!("{}:api-keys", self.tag)
    }

    fn index_key(&self, tenant: &str) -> String {
        format!("{}:keys:{tenant}", self.tag)
    }

    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        self.redis.get().await.map_err(unavailable)
    }
}

fn unavailable(e: ::redis::RedisError) -> StoreError {
    BackendError::redis(e).into()
}

fn parse<T: serde::de::DeserializeOwned>(json: Option<String>) -> Result<Option<T>, StoreError> {
    json.map(|j| {
        serde_json::from_str(&j).map_err(|e| BackendError::from(e).context("tenant record").into())
    })
    .transpose()
}

fn to_json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| BackendError::internal(e).into())
}

#[async_trait]
impl TenantStore for RedisTenants {
    async fn create(&self, tenant: &Tenant, first_key: &ApiKey) -> Result<(), StoreError> {
        let created: i64 = self
            .create
            .key(self.tenants_key())
            .key(self.api_keys_key())
            .key(self.index_key(&tenant.id))
            .arg(&tenant.id)
            .arg(to_json(tenant)?)
            .arg(&first_key.hash)
            .arg(to_json(first_key)?)
            .arg(&first_key.id)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        if created == 0 {
            return Err(StoreError::Exists(tenant.id.clone()));
        }
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let json: Option<String> = self
            .conn()
            .await?
            .hget(self.tenants_key(), id)
            .await
            .map_err(unavailable)?;
        parse(json)
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let updated: i64 = self
            .update
            .key(self.tenants_key())
            .arg(&tenant.id)
            .arg(to_json(tenant)?)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        if updated == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let json: Option<String> = self
            .conn()
            .await?
            .hget(self.api_keys_key(), hash)
            .await
            .map_err(unavailable)?;
        parse(json)
    }

    async fn put_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let stored: i64 = self
            .put_key
            .key(self.api_keys_key())
            .key(self.index_key(&key.tenant))
            .arg(&key.hash)
            .arg(to_json(key)?)
            .arg(&key.id)
            .arg(MAX_KEYS_PER_TENANT)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        if stored == 0 {
            return Err(StoreError::Limit(format!(
                "a tenant holds at most {MAX_KEYS_PER_TENANT} API keys"
            )));
        }
        Ok(())
    }

    async fn keys(&self, tenant: &str) -> Result<Vec<ApiKey>, StoreError> {
        let mut conn = self.conn().await?;
        let index: Vec<(String, String)> = conn
            .hgetall(self.index_key(tenant))
            .await
            .map_err(unavailable)?;
        let mut out: Vec<ApiKey> = Vec::with_capacity(index.len());
        for (_, hash) in index {
            let json: Option<String> = conn
                .hget(self.api_keys_key(), &hash)
                .await
                .map_err(unavailable)?;
            out.extend(parse::<ApiKey>(json)?);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn delete_key(&self, tenant: &str, key_id: &str) -> Result<(), StoreError> {
        let deleted: i64 = self
            .delete_key
            .key(self.api_keys_key())
            .key(self.index_key(tenant))
            .arg(key_id)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        if deleted == 0 {
            return Err(StoreError::NotFound("API key"));
        }
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let existed: i64 = self
            .delete_tenant
            .key(self.tenants_key())
            .key(self.api_keys_key())
            .key(self.index_key(id))
            .arg(id)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        Ok(existed == 1)
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
            .hvals(self.tenants_key())
            .await
            .map_err(unavailable)?;
        let mut tenants = Vec::with_capacity(all.len());
        for json in all {
            tenants.extend(parse::<Tenant>(Some(json))?);
        }
        tenants.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tenants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beacon_test_support::RedisServer;

    #[tokio::test]
    async fn conformance() {
        let redis = RedisServer::start().await;
        let store = RedisTenants::new(&redis.url(), "tenants-test").unwrap();
        super::super::conformance::run_all(&store, "").await;
    }

    #[tokio::test]
    async fn two_nodes_see_the_same_tenants_and_a_down_redis_is_unavailable() {
        let mut redis = RedisServer::start().await;
        let a = RedisTenants::new(&redis.url(), "shared").unwrap();
        let b = RedisTenants::new(&redis.url(), "shared").unwrap();
        let t = super::super::conformance::tenant("acme");
        a.create(&t, &super::super::conformance::key("acme", 1))
            .await
            .unwrap();
        assert_eq!(b.get("acme").await.unwrap(), Some(t.clone()));
        let again = b
            .create(&t, &super::super::conformance::key("acme", 2))
            .await;
        assert!(matches!(again, Err(StoreError::Exists(_))));
        redis.kill().await;
        let down = RedisTenants::new(&redis.url(), "shared").unwrap();
        assert!(matches!(
            down.get("acme").await,
            Err(StoreError::Backend(BackendError::Unavailable(_)))
        ));
        assert!(matches!(
            a.get("acme").await,
            Err(StoreError::Backend(BackendError::Unavailable(_)))
        ));
        redis.start_again().await;
        assert_eq!(down.get("acme").await.unwrap(), Some(t));
    }
}
