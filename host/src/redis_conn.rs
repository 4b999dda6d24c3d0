//! A lazily opened, self-reconnecting Redis connection for the small
//! Redis-backed stores (tenants, contracts).
//!
//! Opened on first use, because a node starts while Redis is down; after
//! that, redis' `ConnectionManager` reconnects by itself. Every command is
//! bounded by [`TIMEOUT`], so a hung Redis is an error, not a stuck request.
//! (The event log has its own connections: see `log::redis`.)

use std::time::Duration;

use redis::RedisError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

/// Bound on connecting and on each command.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct LazyRedis {
    client: redis::Client,
    /// `None` until the first successful connection. A tokio mutex: held
    /// while connecting, so concurrent first callers share one attempt.
    manager: Mutex<Option<ConnectionManager>>,
}

impl LazyRedis {
    /// Checks the URL; does not connect.
    pub(crate) fn new(url: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        Ok(LazyRedis {
            client,
            manager: Mutex::new(None),
        })
    }

    /// A handle to the shared connection, connecting first if needed.
    pub(crate) async fn get(&self) -> Result<ConnectionManager, RedisError> {
        let mut slot = self.manager.lock().await;
        if let Some(manager) = slot.as_ref() {
            return Ok(manager.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let manager = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(manager.clone());
        Ok(manager)
    }
}

/// Whether an error means "Redis cannot be reached now" (retry later)
/// rather than a failure of the command itself.
pub(crate) fn is_unavailable(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}
