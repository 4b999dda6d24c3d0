//! `POST /v1/events` (API key with the `publish` scope): the answers to
//! one published event or a batch. The events themselves are
//! [`PublishEvent`](crate::envelope::PublishEvent)s.

use serde::{Deserialize, Serialize};

use crate::envelope::FieldError;

/// The request header that makes a publish safe to retry: a request that
/// carries a key the node saw within its idempotency window gets the first
/// request's ids back and stores nothing twice. 1-192 printable ASCII
/// characters without spaces.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The answer header (`true`) of a request whose `Idempotency-Key` the node
/// had already accepted: nothing new was stored.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The answer to one published event (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Published {
    /// The event's id: opaque, ordered within the tenant, and the SSE
    /// `id:` subscribers see.
    pub id: String,
}

/// The answer to a batch (201): the ids in the order of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PublishedBatch {
    /// One id per event, in request order; `null` for an event a plugin
    /// dropped or sent to dead letters (listed in `skipped`).
    pub ids: Vec<Option<String>>,
    /// The events the tenant's plugins kept out of the log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// The answer to one event that a plugin kept out of the log (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NotStored {
    /// Always `null`: the event was not stored.
    pub id: Option<String>,
    pub outcome: SkipOutcome,
    /// The plugin that decided.
    pub plugin: String,
    /// Its reason, or the failure (`timeout: ...`).
    pub reason: String,
}

/// An event of a request that a plugin kept out of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Skipped {
    /// Its index in the request.
    pub index: usize,
    pub outcome: SkipOutcome,
    /// The plugin that decided.
    pub plugin: String,
    /// Its reason, or the failure (`timeout: ...`).
    pub reason: String,
}

/// Why an accepted event was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SkipOutcome {
    /// A plugin dropped it (its publish hook said so).
    Dropped,
    /// A `fail_closed` plugin failed on it (or is quarantined): it is in
    /// the tenant's dead letters (`GET /v1/dead-letters`).
    DeadLettered,
}

impl SkipOutcome {
    /// The wire name: `dropped`, `dead_lettered`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipOutcome::Dropped => "dropped",
            SkipOutcome::DeadLettered => "dead_lettered",
        }
    }
}

/// The answer to a batch published with `?partial=true` of which some
/// events were refused (207): the refused ones have `null` ids and their
/// problems in `errors`; the others were stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PartiallyPublished {
    /// One entry per event, in request order: its id, or `null` if refused.
    pub ids: Vec<Option<String>>,
    /// Every problem of the refused events, each with its pointer (`/3/data/total`).
    pub errors: Vec<FieldError>,
    /// The events the tenant's plugins kept out of the log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// `POST /v1/events` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishQuery {
    /// Store the valid events of a batch even if others are refused.
    #[serde(default)]
    pub partial: bool,
}
