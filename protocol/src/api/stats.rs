//! `GET /v1/stats`: with the admin token, a summary of the node that
//! answers; with a tenant API key (`read` scope), the tenant's plugin
//! counters on that node.

use serde::{Deserialize, Serialize};

use super::plugins::PluginStatsView;

/// `GET /v1/stats`: a summary of this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Stats {
    /// Open SSE connections.
    pub connections_open: u64,
    /// Events stored by publish requests since the process started.
    pub events_published: u64,
    /// Event frames sent to subscribers (live and replayed) since the process started.
    pub events_delivered: u64,
    /// Tenants with a live log tail on this node.
    pub active_tenants: u64,
    /// The event log backend: `embedded` or `redis`.
    pub log: String,
    /// Whether the event log and the tenant store answer, as `/readyz`.
    pub ready: bool,
    /// Seconds since the process started.
    pub uptime_s: u64,
}

/// `GET /v1/stats` with a tenant API key (`read` scope): the tenant's
/// plugins on the node that answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TenantStats {
    pub tenant: String,
    /// Every plugin of the tenant with counters on this node.
    pub plugins: Vec<PluginStatsEntry>,
}

/// One plugin's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PluginStatsEntry {
    pub name: String,
    #[serde(flatten)]
    pub stats: PluginStatsView,
}
