//! What a contract backend keeps, and the behaviour every backend must have.
//!
//! The store is deliberately dumb: it keeps contracts, modes and deprecation
//! marks, assigns version numbers atomically, and exposes a revision number
//! that changes with every write, so a node can notice a change made by
//! another node with one cheap read. Schema checks, compatibility and
//! compiled validators are the [`Registry`](super::Registry)'s job.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Contract, Mode, SchemaError};

/// Everything a store holds, read as one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredCatalogue {
    /// The store's revision when the snapshot was taken.
    pub revision: u64,
    /// Modes set explicitly; a type without one uses [`Mode::default`].
    pub modes: BTreeMap<String, Mode>,
    /// Every contract, ordered by type then version, with `deprecated` set.
    pub contracts: Vec<Contract>,
}

/// A backend for contracts. Implementations must be safe to call
/// concurrently from many tasks and, for shared backends, many nodes.
#[async_trait]
pub trait ContractStore: Send + Sync + 'static {
    /// A short name for logs ("embedded", "redis").
    fn backend(&self) -> &'static str;

    /// A number that changes whenever anything in the store changes. Cheap:
    /// every node polls it.
    async fn revision(&self) -> Result<u64, SchemaError>;

    /// The whole catalogue, as one consistent snapshot.
    async fn load(&self) -> Result<StoredCatalogue, SchemaError>;

    /// Stores `contract` if, and only if, its version is exactly one more
    /// than the type's newest stored version (1 for a new type). Returns
    /// false, storing nothing, when another writer got there first; the
    /// check and the write are one atomic step.
    async fn append(&self, contract: &Contract) -> Result<bool, SchemaError>;

    /// Sets a type's compatibility mode (the type need not have versions yet).
    async fn set_mode(&self, kind: &str, mode: Mode) -> Result<(), SchemaError>;

    /// Marks a version deprecated (idempotent). Returns false if the
    /// version does not exist.
    async fn deprecate(&self, kind: &str, version: u32) -> Result<bool, SchemaError>;
}

/// A shared handle to whichever backend is configured.
pub type SharedContracts = Arc<dyn ContractStore>;

#[cfg(test)]
pub(crate) mod conformance {
    //! Behaviour every contract store must have; run by each backend's tests.
    use serde_json::json;

    use super::*;

    pub(crate) fn contract(kind: &str, version: u32) -> Contract {
        Contract {
            kind: kind.to_owned(),
            version,
            schema: json!({"type": "object", "properties": {"v": {"const": version}}}),
            deprecated: false,
            created_at: 7,
        }
    }

    pub(crate) async fn run_all(store: &dyn ContractStore) {
        let empty = store.load().await.unwrap();
        assert!(empty.contracts.is_empty() && empty.modes.is_empty());
        let r0 = store.revision().await.unwrap();

        // Versions are assigned in order, without gaps, and never twice.
        assert!(!store.append(&contract("a.b", 2)).await.unwrap());
        assert!(store.append(&contract("a.b", 1)).await.unwrap());
        assert!(!store.append(&contract("a.b", 1)).await.unwrap());
        assert!(store.append(&contract("a.b", 2)).await.unwrap());
        assert!(store.append(&contract("a.a", 1)).await.unwrap());
        let r1 = store.revision().await.unwrap();
        assert_ne!(r0, r1);

        store.set_mode("a.b", Mode::Full).await.unwrap();
        store.set_mode("z.none", Mode::None).await.unwrap();
        assert!(store.deprecate("a.b", 1).await.unwrap());
        assert!(store.deprecate("a.b", 1).await.unwrap());
        assert!(!store.deprecate("a.b", 9).await.unwrap());
        assert!(!store.deprecate("nope", 1).await.unwrap());
        let r2 = store.revision().await.unwrap();
        assert_ne!(r1, r2);

        let all = store.load().await.unwrap();
        assert_eq!(all.revision, r2);
        let mut b1 = contract("a.b", 1);
        b1.deprecated = true;
        assert_eq!(
            all.contracts,
            vec![contract("a.a", 1), b1, contract("a.b", 2)]
        );
        assert_eq!(all.modes.get("a.b"), Some(&Mode::Full));
        assert_eq!(all.modes.get("z.none"), Some(&Mode::None));
        assert_eq!(all.modes.len(), 2);

        // Concurrent appends of the same version: exactly one wins.
        let results = futures::future::join_all(
            (0..8).map(|_| async { store.append(&contract("race.x", 1)).await.unwrap() }),
        )
        .await;
        assert_eq!(results.iter().filter(|won| **won).count(), 1);
    }
}
