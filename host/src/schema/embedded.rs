//! Contracts in the embedded redb file (the one the log and tenants use).
//!
//! Tables: `schema_contracts` (`(type, version)` → JSON [`Contract`]),
//! `schema_deprecated` (`(type, version)` → 1), `schema_modes` (type →
//! mode name) and `schema_meta` (`"revision"` → a counter bumped by every
//! write). Each write is one redb write transaction, and redb runs write
//! transactions one at a time, so "check the newest version, then insert
//! the next" cannot interleave with another registration. Writes are rare
//! admin operations; their commit (an fsync) runs on the calling task like
//! the tenant store's.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::store::{ContractStore, StoredCatalogue};
use super::{Contract, Mode, SchemaError};
use crate::backend::BackendError;

const CONTRACTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("schema_contracts");
const DEPRECATED: TableDefinition<(&str, u32), u8> = TableDefinition::new("schema_deprecated");
const MODES: TableDefinition<&str, &str> = TableDefinition::new("schema_modes");
const META: TableDefinition<&str, u64> = TableDefinition::new("schema_meta");
const REVISION: &str = "revision";

pub struct EmbeddedContracts {
    db: Arc<Database>,
}

impl EmbeddedContracts {
    /// Creates the tables if needed.
    pub fn open(db: Arc<Database>) -> Result<Self, SchemaError> {
        let tx = db.begin_write().map_err(backend)?;
        tx.open_table(CONTRACTS).map_err(backend)?;
        tx.open_table(DEPRECATED).map_err(backend)?;
        tx.open_table(MODES).map_err(backend)?;
        tx.open_table(META).map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(EmbeddedContracts { db })
    }
}

/// Bumps the revision inside a write transaction.
fn bump(tx: &WriteTransaction) -> Result<(), SchemaError> {
    let mut meta = tx.open_table(META).map_err(backend)?;
    let current = meta.get(REVISION).map_err(backend)?.map(|v| v.value());
    meta.insert(REVISION, current.unwrap_or(0) + 1)
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ContractStore for EmbeddedContracts {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn revision(&self) -> Result<u64, SchemaError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let meta = tx.open_table(META).map_err(backend)?;
        let found = meta.get(REVISION).map_err(backend)?;
        Ok(found.map(|v| v.value()).unwrap_or(0))
    }

    async fn load(&self) -> Result<StoredCatalogue, SchemaError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let meta = tx.open_table(META).map_err(backend)?;
        let revision = meta
            .get(REVISION)
            .map_err(backend)?
            .map(|v| v.value())
            .unwrap_or(0);
        let deprecated = tx.open_table(DEPRECATED).map_err(backend)?;
        let mut contracts = Vec::new();
        for entry in tx
            .open_table(CONTRACTS)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (key, value) = entry.map_err(backend)?;
            let (kind, version) = key.value();
            let mut contract: Contract = serde_json::from_slice(value.value())
                .map_err(|e| backend(BackendError::from(e).context("contract record")))?;
            contract.deprecated = deprecated.get((kind, version)).map_err(backend)?.is_some();
            contracts.push(contract);
        }
        let mut modes = BTreeMap::new();
        for entry in tx
            .open_table(MODES)
            .map_err(backend)?
            .iter()
            .map_err(backend)?
        {
            let (kind, mode) = entry.map_err(backend)?;
            let mode = Mode::parse(mode.value()).ok_or_else(|| {
                backend(BackendError::corrupt(format!("mode {:?}", mode.value())))
            })?;
            modes.insert(kind.value().to_owned(), mode);
        }
        Ok(StoredCatalogue {
            revision,
            modes,
            contracts,
        })
    }

    async fn append(&self, contract: &Contract) -> Result<bool, SchemaError> {
        let mut record = contract.clone();
        record.deprecated = false;
        let json = serde_json::to_vec(&record).map_err(backend)?;
        let kind = contract.kind.as_str();
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut table = tx.open_table(CONTRACTS).map_err(backend)?;
            let latest = table
                .range((kind, 0)..=(kind, u32::MAX))
                .map_err(backend)?
                .next_back()
                .transpose()
                .map_err(backend)?
                .map(|(key, _)| key.value().1)
                .unwrap_or(0);
            if contract.version != latest + 1 {
                return Ok(false);
            }
            table
                .insert((kind, contract.version), json.as_slice())
                .map_err(backend)?;
        }
        bump(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(true)
    }

    async fn set_mode(&self, kind: &str, mode: Mode) -> Result<(), SchemaError> {
        let tx = self.db.begin_write().map_err(backend)?;
        tx.open_table(MODES)
            .map_err(backend)?
            .insert(kind, mode.as_str())
            .map_err(backend)?;
        bump(&tx)?;
        tx.commit().map_err(backend)
    }

    async fn deprecate(&self, kind: &str, version: u32) -> Result<bool, SchemaError> {
        let tx = self.db.begin_write().map_err(backend)?;
        let exists = tx
            .open_table(CONTRACTS)
            .map_err(backend)?
            .get((kind, version))
            .map_err(backend)?
            .is_some();
        if !exists {
            return Ok(false);
        }
        tx.open_table(DEPRECATED)
            .map_err(backend)?
            .insert((kind, version), 1)
            .map_err(backend)?;
        bump(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(true)
    }
}

fn backend(e: impl Into<BackendError>) -> SchemaError {
    SchemaError::Backend(e.into())
}

/// A store in memory (redb's in-memory backend): for benchmarks and tests
/// that need a registry without a data directory. Not durable.
pub fn in_memory() -> Result<EmbeddedContracts, SchemaError> {
    let db = Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .map_err(backend)?;
    EmbeddedContracts::open(Arc::new(db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::log::embedded::open_database(&dir.path().join("s.redb")).unwrap();
        let store = EmbeddedContracts::open(db).unwrap();
        super::super::store::conformance::run_all(&store).await;
    }

    #[tokio::test]
    async fn contracts_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let db = crate::log::embedded::open_database(&path).unwrap();
            let store = EmbeddedContracts::open(db).unwrap();
            let c = super::super::store::conformance::contract("k.a", 1);
            assert!(store.append(&c).await.unwrap());
        }
        let db = crate::log::embedded::open_database(&path).unwrap();
        let store = EmbeddedContracts::open(db).unwrap();
        assert_eq!(store.load().await.unwrap().contracts.len(), 1);
    }
}
