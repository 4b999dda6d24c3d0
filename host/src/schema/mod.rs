//! Event contracts: a JSON-Schema (draft 2020-12) contract per event type,
//! versioned, checked for compatibility, enforced at publish time.
//!
//! - [`store`]: the [`ContractStore`] trait (what a backend keeps) and its
//!   shared behaviour suite; [`embedded`] (the redb file shared with the log)
//!   and [`redis`] (shared by every node) implement it.
//! - [`registry`]: the [`Registry`] a node holds — an immutable snapshot of
//!   compiled validators swapped atomically, refreshed from the store.
//! - [`compat`]: the compatibility modes and the check a new version must
//!   pass (the rules table of `docs/contracts.md`, one test per row);
//!   [`subset`] decides "every document of A is valid under B".
//! - [`validate`]: compiling a schema, validating event data, the outcome
//!   of a failed validation ([`Invalid`]).
//! - [`project`]: version views — an event valid under a newer, additive
//!   version shown in the shape of an older one.
//! - [`catalog`]: the built-in catalogue of contracts in `schemas/catalog/`.
//! - `bench`: a micro-benchmark of the publish-time validation (an ignored test).
//!
//! # Bounds
//!
//! A schema is at most [`MAX_SCHEMA_BYTES`] of JSON, nested at most
//! [`MAX_SCHEMA_DEPTH`] deep; a type has at most [`MAX_VERSIONS`] versions;
//! a registry holds at most [`MAX_TYPES`] types. A failed validation reports
//! at most [`MAX_VIOLATIONS`] violations. So a whole catalogue is bounded
//! (in the worst case ~ 1000 × 100 × 64 KiB, in practice a few hundred KiB)
//! and a node may hold it in memory and reload it whole on every change.

#[cfg(test)]
mod bench;
pub mod catalog;
pub mod compat;
pub mod embedded;
pub mod project;
pub mod redis;
pub mod registry;
pub mod store;
pub mod subset;
pub mod validate;

use crate::backend::BackendError;
pub use beacon_protocol::api::schemas::{Contract, MAX_SCHEMA_BYTES, MAX_TYPES};
use beacon_protocol::envelope::FieldError;
pub use compat::{CheckResult, Mode};
pub use registry::{Registry, TypeInfo, TypeSummary};
pub use store::{ContractStore, SharedContracts, StoredCatalogue};
pub use validate::Invalid;

/// Deepest nesting of arrays/objects in a schema document; also bounds the
/// recursion of the compatibility checker and of projection.
pub const MAX_SCHEMA_DEPTH: usize = 32;
/// Most versions one event type may have.
pub const MAX_VERSIONS: u32 = 100;
/// Most violations reported for one event; further ones are dropped.
pub const MAX_VIOLATIONS: usize = 50;
/// The `$schema` URI of draft 2020-12, the only draft accepted.
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Errors of the registry and its stores. A publish-time validation failure
/// is not one of these: it is an expected outcome ([`Invalid`]).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The event type name is not a valid type (see [`beacon_protocol::envelope::valid_type`]).
    #[error("invalid event type {0:?}")]
    InvalidType(String),
    /// `presence.*` and `beacon.*` are Beacon's own types: no contracts.
    #[error("event type {0:?} is reserved")]
    ReservedType(String),
    /// The document is not an acceptable draft 2020-12 schema; every problem
    /// carries a JSON pointer into the document.
    #[error("invalid JSON Schema: {}", summary(.0))]
    InvalidSchema(Vec<FieldError>),
    /// The schema is compatible with none of what the type's mode demands;
    /// every reason carries a JSON pointer into the schemas compared.
    #[error("incompatible with the existing versions ({mode}): {}", summary(.reasons))]
    Incompatible {
        mode: Mode,
        reasons: Vec<FieldError>,
    },
    /// A bound was reached (versions per type, types, schema size).
    #[error("limit reached: {0}")]
    Limit(String),
    #[error("no event type {0:?} is registered")]
    UnknownType(String),
    #[error("event type {kind:?} has no version {version}")]
    UnknownVersion { kind: String, version: u32 },
    /// Another node registered a version at the same moment, more often than
    /// the registry retries; the caller may try again.
    #[error("concurrent registration for {0:?}; retry")]
    Conflict(String),
    /// The store failed: unreachable (callers may retry), corrupt data,
    /// an unreadable file, ...
    #[error("contract store {0}")]
    Backend(#[from] BackendError),
}

fn summary(items: &[FieldError]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&item.path);
        out.push_str(": ");
        out.push_str(&item.message);
    }
    out
}

/// Unix seconds from the system clock.
pub(crate) fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
