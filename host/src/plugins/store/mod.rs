//! What the plugin store keeps: each tenant's plugins, their uploaded
//! versions (with the WebAssembly bytes, content-addressed by digest),
//! which version is active and how, and whether a plugin is quarantined.
//!
//! Like the contract store, the store is deliberately dumb: it numbers
//! versions atomically, enforces the per-tenant bounds, and exposes a
//! revision number that changes with every write so that every node can
//! notice a change made by another with one cheap read. Validating and
//! compiling components is the runtime's job; names are checked by the API.
//!
//! The records of versions, activations and quarantines are the shapes the
//! API shows, defined with the other wire types in
//! [`beacon_protocol::api::plugins`] and stored as they are.
//!
//! Two backends run the same [`conformance`] suite:
//! [`embedded::EmbeddedPlugins`] (the node's redb file) and
//! [`redis::RedisPlugins`] (shared by every node).

#[cfg(test)]
pub(crate) mod conformance;
pub mod embedded;
pub mod redis;

use std::sync::Arc;

use async_trait::async_trait;
pub use beacon_protocol::api::plugins::{
    Activation, HooksRecord, InfoRecord, LimitOverrides, OnError, Quarantine, VersionRecord,
};
use bytes::Bytes;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::backend::BackendError;

/// Most plugins one tenant may hold.
pub const MAX_PLUGINS_PER_TENANT: usize = 32;

/// Most versions one plugin may hold. Versions are immutable and never
/// removed one by one: a plugin at the bound must be deleted to start over.
pub const MAX_VERSIONS: u32 = 100;

/// A version about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    /// `sha256:<64 hex>` of `wasm`.
    pub digest: String,
    /// Size of `wasm` in bytes.
    pub size: u64,
    pub hooks: HooksRecord,
    pub info: InfoRecord,
    /// The component, already validated and bounded by the caller.
    pub wasm: Bytes,
}

/// Everything stored about one plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PluginRecord {
    pub name: String,
    /// Oldest first.
    pub versions: Vec<VersionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
}

/// What is kept of a plugin beside its versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PluginState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
}

/// Why a plugin store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The plugin, or the version named, does not exist.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The request contradicts what is stored (e.g. a digest already
    /// stored with other bytes), or the store kept changing under a
    /// multi-step change; the caller may retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A bound ([`MAX_PLUGINS_PER_TENANT`], [`MAX_VERSIONS`]) would be exceeded.
    #[error("limit reached: {0}")]
    Limit(String),
    /// The store failed: unreachable (callers may retry; HTTP 503),
    /// corrupt data, ...
    #[error("plugin store {0}")]
    Backend(#[from] BackendError),
}

impl StoreError {
    pub(crate) fn too_many_plugins() -> Self {
        StoreError::Limit(format!(
            "a tenant holds at most {MAX_PLUGINS_PER_TENANT} plugins"
        ))
    }

    pub(crate) fn too_many_versions() -> Self {
        StoreError::Limit(format!(
            "a plugin holds at most {MAX_VERSIONS} versions; delete it to start over"
        ))
    }

    pub(crate) fn digest_conflict(digest: &str) -> Self {
        StoreError::Conflict(format!(
            "a component with digest {digest} is already stored with other bytes"
        ))
    }
}

/// A backend for plugins. Implementations must be safe to call
/// concurrently from many tasks and, for shared backends, many nodes; every
/// change is one atomic step.
///
/// WebAssembly bytes are shared by digest across tenants: callers must only
/// ask [`wasm`](Self::wasm) for digests of the tenant's own versions.
#[async_trait]
pub trait PluginStore: Send + Sync + 'static {
    /// Adds a version of plugin `name` (numbered 1, 2, 3 … per tenant and
    /// name), creating the plugin if needed. Uploading bytes whose digest
    /// equals an existing version of the same plugin returns that version
    /// and changes nothing (idempotent). [`StoreError::Limit`] past
    /// [`MAX_PLUGINS_PER_TENANT`] or [`MAX_VERSIONS`];
    /// [`StoreError::Conflict`] if the digest is stored with other bytes.
    async fn put_version(
        &self,
        tenant: &str,
        name: &str,
        new: NewVersion,
    ) -> Result<VersionRecord, StoreError>;

    /// The plugin's versions, oldest first; empty if there is no such plugin.
    async fn versions(&self, tenant: &str, name: &str) -> Result<Vec<VersionRecord>, StoreError>;

    /// The component with this digest, byte for byte.
    async fn wasm(&self, digest: &str) -> Result<Option<Bytes>, StoreError>;

    /// Activates a version, replacing any earlier activation.
    /// [`StoreError::NotFound`] if the plugin or the version does not exist.
    async fn set_activation(
        &self,
        tenant: &str,
        name: &str,
        activation: Activation,
    ) -> Result<(), StoreError>;

    /// Sets (`Some`) or clears (`None`) the plugin's quarantine.
    /// [`StoreError::NotFound`] if the plugin does not exist.
    async fn set_quarantine(
        &self,
        tenant: &str,
        name: &str,
        quarantine: Option<Quarantine>,
    ) -> Result<(), StoreError>;

    /// Every plugin of the tenant, ordered by name, as one snapshot.
    async fn plugins(&self, tenant: &str) -> Result<Vec<PluginRecord>, StoreError>;

    /// One plugin, if it exists.
    async fn plugin(&self, tenant: &str, name: &str) -> Result<Option<PluginRecord>, StoreError>;

    /// Every activated plugin of every tenant, ordered by tenant then name
    /// (for a node starting or resynchronising).
    async fn active(&self) -> Result<Vec<(String, PluginRecord)>, StoreError>;

    /// Removes the plugin: its versions, activation and quarantine. Bytes
    /// no other version references are removed too. False if there was no
    /// such plugin.
    async fn delete(&self, tenant: &str, name: &str) -> Result<bool, StoreError>;

    /// A number that changes whenever anything in the store changes.
    /// Cheap: every node polls it.
    async fn revision(&self) -> Result<u64, StoreError>;

    /// Checks that the store answers.
    async fn health(&self) -> Result<(), StoreError>;
}

/// A shared handle to whichever backend is configured.
pub type SharedPlugins = Arc<dyn PluginStore>;
