//! Tenants in the embedded redb file.

use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::*;

/// id → JSON [`Tenant`].
const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
/// API key hash → tenant id.
const API_KEYS: TableDefinition<&str, &str> = TableDefinition::new("api_keys");

pub struct EmbeddedTenants {
    db: Arc<Database>,
}

impl EmbeddedTenants {
    pub fn open(db: Arc<Database>) -> Result<Self, StoreError> {
        let tx = db.begin_write().map_err(backend)?;
        tx.open_table(TENANTS).map_err(backend)?;
        tx.open_table(API_KEYS).map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(EmbeddedTenants { db })
    }

    fn read(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let table = tx.open_table(TENANTS).map_err(backend)?;
        let found = table.get(id).map_err(backend)?;
        found
            .map(|v| serde_json::from_slice(v.value()).map_err(backend))
            .transpose()
    }
}

#[async_trait]
impl TenantStore for EmbeddedTenants {
    async fn create(&self, tenant: &Tenant) -> Result<(), StoreError> {
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
            let mut keys = tx.open_table(API_KEYS).map_err(backend)?;
            keys.insert(tenant.api_key_hash.as_str(), tenant.id.as_str())
                .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    async fn get(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        self.read(id)
    }

    async fn by_key_hash(&self, hash: &str) -> Result<Option<Tenant>, StoreError> {
        let id = {
            let tx = self.db.begin_read().map_err(backend)?;
            let keys = tx.open_table(API_KEYS).map_err(backend)?;
            let found = keys.get(hash).map_err(backend)?;
            found.map(|v| v.value().to_owned())
        };
        match id {
            Some(id) => self.read(&id),
            None => Ok(None),
        }
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

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
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
