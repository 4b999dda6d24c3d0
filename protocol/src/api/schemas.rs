//! Event contracts (admin token): `/v1/schemas/...` — registered JSON
//! Schemas per event type, their versions and compatibility modes.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::FieldError;

/// Largest schema accepted, in bytes of compact JSON.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Most event types in one registry (the catalogue of the whole platform).
pub const MAX_TYPES: usize = 1000;

/// How a type's new versions must relate to its existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// The default: readers of the new version can read every event valid
    /// under the newest existing one.
    #[default]
    Backward,
    /// Readers still on the newest existing version can read every event
    /// valid under the new one.
    Forward,
    /// Both `BACKWARD` and `FORWARD`, against the newest existing version.
    Full,
    /// `BACKWARD` against every existing version.
    BackwardTransitive,
    /// `FORWARD` against every existing version.
    ForwardTransitive,
    /// `FULL` against every existing version.
    FullTransitive,
    /// No check.
    None,
}

impl Mode {
    pub const ALL: [Mode; 7] = [
        Mode::Backward,
        Mode::Forward,
        Mode::Full,
        Mode::BackwardTransitive,
        Mode::ForwardTransitive,
        Mode::FullTransitive,
        Mode::None,
    ];

    /// The wire name, e.g. `"BACKWARD_TRANSITIVE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Backward => "BACKWARD",
            Mode::Forward => "FORWARD",
            Mode::Full => "FULL",
            Mode::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Mode::ForwardTransitive => "FORWARD_TRANSITIVE",
            Mode::FullTransitive => "FULL_TRANSITIVE",
            Mode::None => "NONE",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of one event type's contract. Versions are immutable: only
/// `deprecated` may change after registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Contract {
    /// The event type, e.g. `order.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 1, 2, … in registration order.
    pub version: u32,
    /// The JSON Schema (draft 2020-12) the event's `data` must match.
    pub schema: Value,
    /// A deprecated version is not used for new events (publishing against
    /// it is rejected, and it is skipped when the publisher names no
    /// version); subscribers may still ask for its view.
    #[serde(default)]
    pub deprecated: bool,
    /// Unix seconds.
    pub created_at: u64,
}

/// The answer to "could this schema be registered now?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckResult {
    /// Whether registering it now would succeed.
    pub compatible: bool,
    /// Every reason it could not, each with the JSON pointer concerned
    /// (into the candidate schema, or into the old version for what the
    /// candidate no longer declares).
    pub messages: Vec<FieldError>,
}

/// One event type in the catalogue listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TypeSummary {
    /// The event type, e.g. `order.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its compatibility mode.
    pub mode: Mode,
    /// The newest version, deprecated or not (`null`: only a mode is set).
    pub latest: Option<u32>,
    /// The version used when a publisher names none: the newest not
    /// deprecated (`null`: none).
    pub default_version: Option<u32>,
    /// Every registered version, oldest first.
    pub versions: Vec<u32>,
    /// The deprecated versions.
    pub deprecated: Vec<u32>,
}

/// One event type with every version's contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TypeInfo {
    /// The event type, e.g. `order.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its compatibility mode.
    pub mode: Mode,
    /// Every version's contract, oldest first.
    pub versions: Vec<Contract>,
}

/// A contract version was registered (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Registered {
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The new version number (1, 2, ... in registration order).
    pub version: u32,
}

/// `GET /v1/schemas`: the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SchemaList {
    /// One summary per event type.
    pub schemas: Vec<TypeSummary>,
}

/// `PUT /v1/schemas/{type}/compatibility`: the new mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetMode {
    /// How future versions of the type must relate to the existing ones.
    pub mode: Mode,
}

/// The compatibility mode now in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ModeSet {
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its compatibility mode.
    pub mode: Mode,
}

/// A contract version was deprecated (it is kept, never removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deprecated {
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The deprecated version.
    pub version: u32,
    /// Always true.
    pub deprecated: bool,
}
