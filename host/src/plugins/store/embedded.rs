//! Plugins in the embedded redb file (the one the log, tenants and
//! contracts use).
//!
//! Tables:
//!
//! | table                 | key                          | value                                   |
//! |-----------------------|------------------------------|-----------------------------------------|
//! | `plugin_states`       | `(tenant, name)`             | JSON activation and quarantine; one row per plugin |
//! | `plugin_versions`     | `(tenant, name, version)`    | JSON [`VersionRecord`]                  |
//! | `plugin_wasm`         | digest                       | the component's bytes                   |
//! | `plugin_wasm_refs`    | digest                       | how many versions (of any tenant) use it |
//! | `plugin_meta`         | `"revision"`                 | counter bumped by every change          |
//!
//! Each change is one redb write transaction; redb runs write transactions
//! one at a time, so "find the newest version, then insert the next" cannot
//! interleave with another upload. Every call runs on a blocking thread:
//! components are megabytes, and a commit is an fsync.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};

use super::{
    Activation, MAX_PLUGINS_PER_TENANT, MAX_VERSIONS, NewVersion, PluginRecord, PluginState,
    PluginStore, Quarantine, StoreError, VersionRecord,
};
use crate::backend::BackendError;
use crate::log::now_ms;

const STATES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_states");
const VERSIONS: TableDefinition<(&str, &str, u32), &[u8]> = TableDefinition::new("plugin_versions");
const WASM: TableDefinition<&str, &[u8]> = TableDefinition::new("plugin_wasm");
const REFS: TableDefinition<&str, u64> = TableDefinition::new("plugin_wasm_refs");
const META: TableDefinition<&str, u64> = TableDefinition::new("plugin_meta");
const REVISION: &str = "revision";

type VersionsTable<'txn> = Table<'txn, (&'static str, &'static str, u32), &'static [u8]>;

/// Upper bound of a tenant's range of names (names are ASCII).
const AFTER_ASCII: &str = "\u{7f}";

/// Plugins in the node's redb file; see the module docs for the tables.
pub struct EmbeddedPlugins {
    db: Arc<Database>,
}

impl EmbeddedPlugins {
    /// Creates the tables if needed.
    pub fn open(db: Arc<Database>) -> Result<Self, StoreError> {
        let tx = db.begin_write().map_err(backend)?;
        tx.open_table(STATES).map_err(backend)?;
        tx.open_table(VERSIONS).map_err(backend)?;
        tx.open_table(WASM).map_err(backend)?;
        tx.open_table(REFS).map_err(backend)?;
        tx.open_table(META).map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(EmbeddedPlugins { db })
    }

    /// A store in memory (redb's in-memory backend), for tests that need
    /// plugins without a data directory. Not durable.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(backend)?;
        EmbeddedPlugins::open(Arc::new(db))
    }

    /// Runs `f` on a blocking thread with the database.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| BackendError::internal(e).context("plugin store task"))?
    }
}

/// Bumps the revision inside a write transaction.
fn bump(tx: &WriteTransaction) -> Result<(), StoreError> {
    let mut meta = tx.open_table(META).map_err(backend)?;
    let current = meta.get(REVISION).map_err(backend)?.map(|v| v.value());
    meta.insert(REVISION, current.unwrap_or(0) + 1)
        .map_err(backend)?;
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| BackendError::from(e).context("plugin record").into())
}

fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(backend)
}

/// A plugin's versions, oldest first.
fn read_versions(
    table: &impl ReadableTable<(&'static str, &'static str, u32), &'static [u8]>,
    tenant: &str,
    name: &str,
) -> Result<Vec<VersionRecord>, StoreError> {
    let mut out = Vec::new();
    for entry in table
        .range((tenant, name, 0)..=(tenant, name, u32::MAX))
        .map_err(backend)?
    {
        let (_, value) = entry.map_err(backend)?;
        out.push(parse(value.value())?);
    }
    Ok(out)
}

/// Reads one plugin's state; `None` if there is no such plugin.
fn read_state(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    tenant: &str,
    name: &str,
) -> Result<Option<PluginState>, StoreError> {
    let found = table.get((tenant, name)).map_err(backend)?;
    found.map(|v| parse(v.value())).transpose()
}

/// Applies `change` to an existing plugin's state and bumps the revision.
fn change_state(
    db: &Database,
    tenant: &str,
    name: &str,
    change: impl FnOnce(&mut PluginState, &VersionsTable<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let tx = db.begin_write().map_err(backend)?;
    {
        let mut states = tx.open_table(STATES).map_err(backend)?;
        let versions = tx.open_table(VERSIONS).map_err(backend)?;
        let mut state = read_state(&states, tenant, name)?.ok_or(StoreError::NotFound("plugin"))?;
        change(&mut state, &versions)?;
        states
            .insert((tenant, name), to_json(&state)?.as_slice())
            .map_err(backend)?;
    }
    bump(&tx)?;
    tx.commit().map_err(backend)
}

/// Stores a new version in a write transaction (the caller commits).
/// Returns the version and whether it is new (false: the plugin already
/// had these bytes, and nothing was written).
fn insert_version(
    tx: &WriteTransaction,
    tenant: &str,
    name: &str,
    new: &NewVersion,
) -> Result<(VersionRecord, bool), StoreError> {
    let mut versions = tx.open_table(VERSIONS).map_err(backend)?;
    let existing = read_versions(&versions, tenant, name)?;
    if let Some(same) = existing.iter().find(|v| v.digest == new.digest) {
        return Ok((same.clone(), false));
    }
    let latest = existing.last().map(|v| v.version).unwrap_or(0);
    if latest >= MAX_VERSIONS {
        return Err(StoreError::too_many_versions());
    }
    let mut states = tx.open_table(STATES).map_err(backend)?;
    if read_state(&states, tenant, name)?.is_none() {
        let count = states
            .range((tenant, "")..(tenant, AFTER_ASCII))
            .map_err(backend)?
            .count();
        if count >= MAX_PLUGINS_PER_TENANT {
            return Err(StoreError::too_many_plugins());
        }
        states
            .insert((tenant, name), to_json(&PluginState::default())?.as_slice())
            .map_err(backend)?;
    }
    let mut wasm = tx.open_table(WASM).map_err(backend)?;
    let stored = wasm
        .get(new.digest.as_str())
        .map_err(backend)?
        .map(|bytes| bytes.value() == new.wasm.as_ref());
    match stored {
        Some(false) => return Err(StoreError::digest_conflict(&new.digest)),
        Some(true) => {}
        None => {
            wasm.insert(new.digest.as_str(), new.wasm.as_ref())
                .map_err(backend)?;
        }
    }
    let mut refs = tx.open_table(REFS).map_err(backend)?;
    let count = refs
        .get(new.digest.as_str())
        .map_err(backend)?
        .map(|v| v.value());
    refs.insert(new.digest.as_str(), count.unwrap_or(0) + 1)
        .map_err(backend)?;
    let record = VersionRecord {
        version: latest + 1,
        digest: new.digest.clone(),
        size: new.size,
        hooks: new.hooks,
        info: new.info.clone(),
        created_ms: now_ms(),
    };
    versions
        .insert((tenant, name, record.version), to_json(&record)?.as_slice())
        .map_err(backend)?;
    Ok((record, true))
}

#[async_trait]
impl PluginStore for EmbeddedPlugins {
    async fn put_version(
        &self,
        tenant: &str,
        name: &str,
        new: NewVersion,
    ) -> Result<VersionRecord, StoreError> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            let (record, created) = insert_version(&tx, &tenant, &name, &new)?;
            if !created {
                // An existing version with the same bytes: nothing changed.
                tx.abort().map_err(backend)?;
                return Ok(record);
            }
            bump(&tx)?;
            tx.commit().map_err(backend)?;
            Ok(record)
        })
        .await
    }

    async fn versions(&self, tenant: &str, name: &str) -> Result<Vec<VersionRecord>, StoreError> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            read_versions(&tx.open_table(VERSIONS).map_err(backend)?, &tenant, &name)
        })
        .await
    }

    async fn wasm(&self, digest: &str) -> Result<Option<Bytes>, StoreError> {
        let digest = digest.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let table = tx.open_table(WASM).map_err(backend)?;
            let found = table.get(digest.as_str()).map_err(backend)?;
            Ok(found.map(|v| Bytes::copy_from_slice(v.value())))
        })
        .await
    }

    async fn set_activation(
        &self,
        tenant: &str,
        name: &str,
        activation: Activation,
    ) -> Result<(), StoreError> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |db| {
            change_state(db, &tenant, &name, |state, versions| {
                let key = (tenant.as_str(), name.as_str(), activation.version);
                if versions.get(key).map_err(backend)?.is_none() {
                    return Err(StoreError::NotFound("version"));
                }
                state.activation = Some(activation);
                Ok(())
            })
        })
        .await
    }

    async fn set_quarantine(
        &self,
        tenant: &str,
        name: &str,
        quarantine: Option<Quarantine>,
    ) -> Result<(), StoreError> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |db| {
            change_state(db, &tenant, &name, |state, _| {
                state.quarantine = quarantine;
                Ok(())
            })
        })
        .await
    }

    async fn plugins(&self, tenant: &str) -> Result<Vec<PluginRecord>, StoreError> {
        let tenant = tenant.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let states = tx.open_table(STATES).map_err(backend)?;
            let versions = tx.open_table(VERSIONS).map_err(backend)?;
            let mut out = Vec::new();
            for entry in states
                .range((tenant.as_str(), "")..(tenant.as_str(), AFTER_ASCII))
                .map_err(backend)?
            {
                let (key, value) = entry.map_err(backend)?;
                let (_, name) = key.value();
                let state: PluginState = parse(value.value())?;
                out.push(PluginRecord {
                    name: name.to_owned(),
                    versions: read_versions(&versions, &tenant, name)?,
                    activation: state.activation,
                    quarantine: state.quarantine,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn plugin(&self, tenant: &str, name: &str) -> Result<Option<PluginRecord>, StoreError> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let states = tx.open_table(STATES).map_err(backend)?;
            let Some(state) = read_state(&states, &tenant, &name)? else {
                return Ok(None);
            };
            let versions = tx.open_table(VERSIONS).map_err(backend)?;
            Ok(Some(PluginRecord {
                versions: read_versions(&versions, &tenant, &name)?,
                name,
                activation: state.activation,
                quarantine: state.quarantine,
            }))
        })
        .await
    }

    async fn active(&self) -> Result<Vec<(String, PluginRecord)>, StoreError> {
        self.blocking(|db| {
            let tx = db.begin_read().map_err(backend)?;
            let states = tx.open_table(STATES).map_err(backend)?;
            let versions = tx.open_table(VERSIONS).map_err(backend)?;
            let mut out = Vec::new();
            for entry in states.iter().map_err(backend)? {
                let (key, value) = entry.map_err(backend)?;
                let (tenant, name) = key.value();
                let state: PluginState = parse(value.value())?;
                if state.activation.is_none() {
                    continue;
                }
                out.push((
                    tenant.to_owned(),
                    PluginRecord {
                        name: name.to_owned(),
                        versions: read_versions(&versions, tenant, name)?,
                        activation: state.activation,
                        quarantine: state.quarantine,
                    },
                ));
            }
            Ok(out)
        })
        .await
    }

    async fn delete(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |db| {
            let (tenant, name) = (tenant.as_str(), name.as_str());
            let tx = db.begin_write().map_err(backend)?;
            {
                let mut states = tx.open_table(STATES).map_err(backend)?;
                if states.remove((tenant, name)).map_err(backend)?.is_none() {
                    return Ok(false);
                }
                let mut versions = tx.open_table(VERSIONS).map_err(backend)?;
                let gone = read_versions(&versions, tenant, name)?;
                versions
                    .retain_in((tenant, name, 0)..=(tenant, name, u32::MAX), |_, _| false)
                    .map_err(backend)?;
                let mut refs = tx.open_table(REFS).map_err(backend)?;
                let mut wasm = tx.open_table(WASM).map_err(backend)?;
                for version in &gone {
                    let digest = version.digest.as_str();
                    let left = refs
                        .get(digest)
                        .map_err(backend)?
                        .map(|v| v.value())
                        .unwrap_or(0)
                        .saturating_sub(1);
                    if left == 0 {
                        refs.remove(digest).map_err(backend)?;
                        wasm.remove(digest).map_err(backend)?;
                    } else {
                        refs.insert(digest, left).map_err(backend)?;
                    }
                }
            }
            bump(&tx)?;
            tx.commit().map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        self.blocking(|db| {
            let tx = db.begin_read().map_err(backend)?;
            let meta = tx.open_table(META).map_err(backend)?;
            let found = meta.get(REVISION).map_err(backend)?;
            Ok(found.map(|v| v.value()).unwrap_or(0))
        })
        .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.db.begin_read().map(drop).map_err(backend)
    }
}

fn backend(e: impl Into<BackendError>) -> StoreError {
    StoreError::Backend(e.into())
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    fn open(dir: &tempfile::TempDir) -> EmbeddedPlugins {
        let db = crate::log::embedded::open_database(&dir.path().join("p.redb")).unwrap();
        EmbeddedPlugins::open(db).unwrap()
    }

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        conformance::run_all(&open(&dir)).await;
    }

    #[tokio::test]
    async fn conformance_in_memory() {
        conformance::run_all(&EmbeddedPlugins::in_memory().unwrap()).await;
    }

    #[tokio::test]
    async fn plugins_survive_reopening_and_share_the_file_with_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.redb");
        let wasm = conformance::component(3, 4096);
        {
            let db = crate::log::embedded::open_database(&path).unwrap();
            let _contracts = crate::schema::embedded::EmbeddedContracts::open(db.clone()).unwrap();
            let store = EmbeddedPlugins::open(db).unwrap();
            store
                .put_version("acme", "p", conformance::new_version(&wasm))
                .await
                .unwrap();
            let activation = conformance::activation(1);
            store.set_activation("acme", "p", activation).await.unwrap();
        }
        let db = crate::log::embedded::open_database(&path).unwrap();
        let store = EmbeddedPlugins::open(db).unwrap();
        let active = store.active().await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].0, "acme");
        assert_eq!(active[0].1.versions[0].version, 1);
        let digest = conformance::digest_of(&wasm);
        assert_eq!(store.wasm(&digest).await.unwrap().unwrap(), wasm);
        assert_eq!(store.revision().await.unwrap(), 2);
    }
}
