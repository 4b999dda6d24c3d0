//! The state every request handler shares.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::hub::Hub;
use crate::log::SharedLog;
use crate::schema::Registry;
use crate::tenants::SharedTenants;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub log: SharedLog,
    pub tenants: SharedTenants,
    pub hub: Arc<Hub>,
    /// Event contracts: compiled validators in a snapshot swapped
    /// atomically, so publishers never block on a registry change.
    pub schemas: Arc<Registry>,
    /// The platform admin token (compared in constant time).
    pub admin_token: Arc<str>,
    /// Cancelled when the node shuts down: open streams end.
    pub shutdown: CancellationToken,
    /// Counter for connection ids, unique per node run.
    pub connections: Arc<AtomicU64>,
    /// A random tag of this node run, part of every connection id.
    pub node: Arc<str>,
    /// Live connections on every node: presence and connection caps.
    pub presence: Arc<crate::presence::Tracker>,
    /// Publish rate per tenant, connection attempts per IP.
    pub limiters: Arc<crate::limits::Limiters>,
    /// Tenants' WebAssembly plugins: runtime, store, active pipelines.
    pub plugins: Arc<crate::plugins::registry::Plugins>,
}
