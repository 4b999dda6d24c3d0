//! Tenants in the embedded redb file.

use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::*;

/// id → JSON [`Tenant`].
const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
/// API key hash → JSON [`ApiKey`].
const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
/// `(tenant, key id)` → key hash: a tenant's keys without a full scan.
const KEY_INDEX: TableDefinition<(&str, &str), &str> = TableDefinition::new("api_key_index");

pub struct EmbeddedTenants {
    db: Arc<Database>,
}

impl EmbeddedTenants {
    pub fn open(db: Arc<Database>) -> Result<Self, StoreError> {
        let tx = db.begin_write().map_err(backend)?;
        tx.open_table(TENANTS).map_err(backend)?;
        tx.open_table(API_KEYS).map_err(backend)?;
        tx.open_table(KEY_INDEX).map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(EmbeddedTenants { db })
    }
}

/// Writes a key into both key tables of a write transaction.
fn insert_key(tx: &redb::WriteTransaction, key: &ApiKey) -> Result<(), StoreError> {
    let json = serde_json::to_vec(key).map_err(backend)?;
    let mut keys = tx.open_table(API_KEYS).map_err(backend)?;
    keys.insert(key.hash.as_str(), json.as_slice())
        .map_err(backend)?;
    let mut index = tx.open_table(KEY_INDEX).map_err(backend)?;
    index
        .insert((key.tenant.as_str(), key.id.as_str()), key.hash.as_str())
        .map_err(backend)?;
    Ok(())
}

/// Upper bound of a tenant's range in [`KEY_INDEX`] (key ids are ASCII).
const AFTER_ASCII: &str = "\u{7f}";

#[async_trait]
impl TenantStore for EmbeddedTenants {
    async fn create(&self, tenant: &Tenant, first_key: &ApiKey) -> Result<(), StoreError> {
        let json = serde_json::to_vec(tenant).map_err(backend)?;
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut tenants = tx.open_table(TENANTS).map_err(backend)?;
            if tenants.get(tenant.id.as_str()).map_err(backend)?.is_some() {
                return Err(StoreError::Exists(tenant.id.clone()));
            }
            tenants
                .insert(tenant.id.as_str(), json.as_slice())
                .map_err(backend)?;
        }
        insert_key(&tx, first_key)?;
        tx.commit().map_err(backend)
    }

    async fn get(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let table = tx.open_table(TENANTS).map_err(backend)?;
        let found = table.get(id).map_err(backend)?;
        found
            .map(|v| serde_json::from_slice(v.value()).map_err(backend))
            .transpose()
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let json = serde_json::to_vec(tenant).map_err(backend)?;
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut tenants = tx.open_table(TENANTS).map_err(backend)?;
            if tenants.get(tenant.id.as_str()).map_err(backend)?.is_none() {
                return Err(StoreError::NotFound("tenant"));
            }
            tenants
                .insert(tenant.id.as_str(), json.as_slice())
                .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let keys = tx.open_table(API_KEYS).map_err(backend)?;
        let found = keys.get(hash).map_err(backend)?;
        found
            .map(|v| serde_json::from_slice(v.value()).map_err(backend))
            .transpose()
    }

    async fn put_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let index = tx.open_table(KEY_INDEX).map_err(backend)?;
            let mut count = 0;
            let mut present = false;
            for entry in index
                .range((key.tenant.as_str(), "")..(key.tenant.as_str(), AFTER_ASCII))
                .map_err(backend)?
            {
                let (k, _) = entry.map_err(backend)?;
                present |= k.value().1 == key.id;
                count += 1;
            }
            if !present && count >= MAX_KEYS_PER_TENANT {
                return Err(StoreError::Limit(format!(
                    "a tenant holds at most {MAX_KEYS_PER_TENANT} API keys"
                )));
            }
        }
        insert_key(&tx, key)?;
        tx.commit().map_err(backend)
    }

    async fn keys(&self, tenant: &str) -> Result<Vec<ApiKey>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let index = tx.open_table(KEY_INDEX).map_err(backend)?;
        let keys = tx.open_table(API_KEYS).map_err(backend)?;
        let mut out = Vec::new();
        for entry in index
            .range((tenant, "")..(tenant, AFTER_ASCII))
            .map_err(backend)?
        {
            let (_, hash) = entry.map_err(backend)?;
            if let Some(json) = keys.get(hash.value()).map_err(backend)? {
                out.push(serde_json::from_slice(json.value()).map_err(backend)?);
            }
        }
        Ok(out)
    }

    async fn delete_key(&self, tenant: &str, key_id: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut index = tx.open_table(KEY_INDEX).map_err(backend)?;
            let hash = index
                .remove((tenant, key_id))
                .map_err(backend)?
                .map(|h| h.value().to_owned())
                .ok_or(StoreError::NotFound("API key"))?;
            let mut keys = tx.open_table(API_KEYS).map_err(backend)?;
            keys.remove(hash.as_str()).map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(backend)?;
        let existed = {
            let mut tenants = tx.open_table(TENANTS).map_err(backend)?;
            let existed = tenants.remove(id).map_err(backend)?.is_some();
            let mut index = tx.open_table(KEY_INDEX).map_err(backend)?;
            let mut keys = tx.open_table(API_KEYS).map_err(backend)?;
            // `id + "\0"` is the smallest string above `id`: the range holds
            // exactly this tenant's keys.
            let next = format!("{id}\0");
            let mut hashes = Vec::new();
            index
                .retain_in((id, "")..(next.as_str(), ""), |_, hash| {
                    hashes.push(hash.to_owned());
                    false
                })
                .map_err(backend)?;
            for hash in hashes {
                keys.remove(hash.as_str()).map_err(backend)?;
            }
            existed
        };
        tx.commit().map_err(backend)?;
        Ok(existed)
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.db.begin_read().map(drop).map_err(backend)
    }

    async fn list(&self) -> Result<Vec<Tenant>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let table = tx.open_table(TENANTS).map_err(backend)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(backend)? {
            let (_, v) = entry.map_err(backend)?;
            out.push(serde_json::from_slice(v.value()).map_err(backend)?);
        }
        Ok(out)
    }
}

fn backend(e: impl Into<crate::backend::BackendError>) -> StoreError {
    StoreError::Backend(e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::log::embedded::open_database(&dir.path().join("t.redb")).unwrap();
        let store = EmbeddedTenants::open(db).unwrap();
        super::conformance::run_all(&store, "").await;
    }
}
