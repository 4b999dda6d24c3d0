//! Liveness and readiness: `GET /healthz`, `GET /readyz` (no credential).

use serde::{Deserialize, Serialize};

/// `GET /healthz`: the process is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /readyz`: whether the node can serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Readiness {
    /// `ready` (200) or `unavailable` (503).
    pub status: String,
    /// The event log backend: `embedded` or `redis`.
    pub log: String,
    /// What cannot be reached, when unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
