//! `GET /v1/dead-letters` (API key with the `read` scope): the events a
//! tenant's plugins failed on under `fail_closed`, oldest first, page by
//! page.

use serde::{Deserialize, Serialize};

/// Most dead letters one page holds.
pub const MAX_PAGE: usize = 100;
/// Letters per page unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 50;

/// One event the plugin pipeline could not process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeadLetter {
    /// The event as received.
    pub event: serde_json::Value,
    /// The plugin that failed on it.
    pub plugin: String,
    /// The plugin's version that ran.
    pub version: u32,
    /// What went wrong, as a short code: `timeout`, `out_of_fuel`, `trap`,
    /// `quarantined` …
    pub code: String,
    /// What went wrong, for people.
    pub reason: String,
    /// When, in RFC 3339.
    pub time: String,
}

/// A stored dead letter with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeadLetterEntry {
    /// Its position in the tenant's dead-letter log (also a cursor: list
    /// with `after` set to it for the letters that came next).
    pub id: String,
    #[serde(flatten)]
    pub letter: DeadLetter,
}

/// One page of a tenant's dead letters, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeadLetterPage {
    /// The letters of this page, oldest first.
    pub dead_letters: Vec<DeadLetterEntry>,
    /// The cursor of the next page; absent when this page reached the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /v1/dead-letters` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next` cursor of the previous page.
    #[serde(default)]
    pub after: Option<String>,
    /// 1-100 letters (default 50).
    #[serde(default)]
    pub limit: Option<usize>,
}
