//! The event log: one ordered, durable, replayable stream per tenant.
//!
//! [`EventLog`] is deliberately small — append, read from a position, tail —
//! so that a backend is easy to write and easy to check: every backend runs
//! the same [`conformance`] suite. Two backends exist:
//!
//! - [`embedded::EmbeddedLog`]: the default, a redb file in the data directory;
//! - [`redis::RedisLog`]: Redis Streams, one stream per tenant, for several nodes.
//!
//! Fan-out is not the log's job: the hub (`crate::hub`) runs one tail per
//! tenant per node and shares each event with every local subscriber.

#[cfg(test)]
pub mod conformance;
pub mod embedded;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use beacon_protocol::position::{Epoch, Offset, Position, PositionError};

/// A fresh random epoch for a new stream (or a node's id).
pub fn new_epoch() -> Epoch {
    Epoch::from_random(rand::random())
}

/// An event ready to be appended. Built and checked by the publish path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Routing fields, stored beside the envelope so readers can filter
    /// without parsing it.
    pub meta: EventMeta,
    /// The CloudEvents envelope as a compact JSON object, **without** `id`
    /// (the id is only known once the log assigns it).
    pub envelope: String,
    /// De-duplication key: a second append with the same key within the
    /// idempotency window stores nothing and returns the first offset.
    pub dedup_key: Option<String>,
}

/// What fan-out needs to route an event, stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventMeta {
    /// The event type, e.g. `order.created`.
    pub kind: String,
    /// The routing subject, e.g. `order/IE-4486`.
    pub subject: Option<String>,
    /// User ids allowed to see the event; empty means everyone in the tenant.
    pub audience: Vec<String>,
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub offset: Offset,
    pub meta: EventMeta,
    /// The envelope JSON without `id`, exactly as appended.
    pub envelope: String,
}

/// The outcome of appending one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub offset: Offset,
    /// True when the event's dedup key was seen within the window: nothing
    /// was stored and `offset` is the original event's.
    pub duplicate: bool,
}

/// The outcome of one append call, in the order of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendBatch {
    pub epoch: Epoch,
    pub appended: Vec<Appended>,
}

/// Events read from a stream, with what a reader needs to detect gaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBatch {
    /// The stream's current epoch.
    pub epoch: Epoch,
    /// Events after the requested offset, oldest first, at most `limit`.
    pub events: Vec<StoredEvent>,
    /// The newest offset removed by retention (`Offset::ZERO` if none). A
    /// reader whose last seen offset is below it has missed events.
    pub trimmed_through: Offset,
    /// The newest offset in the stream when the read was made
    /// (`Offset::ZERO` if the stream is empty).
    pub head: Offset,
}

/// Retention of each tenant's stream. Both limits apply; whichever removes
/// more wins. Count trimming is approximate (like Redis `MAXLEN ~`): a stream
/// may briefly hold up to about 10% more than `max_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_events: u64,
    pub max_age: Duration,
}

/// Defaults: 100k events or 7 days per tenant, whichever is reached first.
pub const DEFAULT_RETENTION: Retention = Retention {
    max_events: 100_000,
    max_age: Duration::from_secs(7 * 24 * 3600),
};

/// Errors of a backend. Bad input never reaches the log: the publish path
/// checks it first, so everything here is an operational failure. An
/// unavailable log ([`LogError::Unavailable`]: Redis down, connection lost)
/// may be retried; the HTTP edge answers 503.
pub type LogError = crate::backend::BackendError;

/// One ordered, durable stream of events per tenant.
///
/// Offsets are assigned by the log, strictly increasing within an epoch.
/// Implementations must be safe to call concurrently from many tasks.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// A short name for logs and `/readyz` ("embedded", "redis").
    fn backend(&self) -> &'static str;

    /// Appends events atomically and durably: when this returns `Ok`, every
    /// event is stored (or was a duplicate) and will be read back by any
    /// reader on any node. Creates the stream (and its epoch) if needed.
    async fn append(&self, tenant: &str, events: Vec<NewEvent>) -> Result<AppendBatch, LogError>;

    /// Reads up to `limit` events with offset strictly greater than `after`.
    /// Does not wait. Creates the stream's epoch if the stream is new.
    async fn read(&self, tenant: &str, after: Offset, limit: usize) -> Result<ReadBatch, LogError>;

    /// Like [`read`](Self::read), but if nothing is there yet, waits up to
    /// `wait` for events to arrive (from this node or any other) and
    /// returns them; returns an empty batch when the wait runs out.
    async fn tail(
        &self,
        tenant: &str,
        after: Offset,
        limit: usize,
        wait: Duration,
    ) -> Result<ReadBatch, LogError>;

    /// Applies retention to one tenant's stream as of `now_ms`: removes
    /// events older than `max_age` and beyond `max_events`, expires old
    /// dedup keys. Returns how many events were removed. Nodes call it
    /// periodically; count limits are also applied on append.
    async fn trim(&self, tenant: &str, now_ms: u64) -> Result<u64, LogError>;

    /// Deletes one stream: every event, its epoch, its retention mark and
    /// its dedup keys. The next append or read starts a new stream with a
    /// **new epoch**, so a reader resuming with an id of the deleted one is
    /// told `epoch` rather than resumed into the new history. Deleting a
    /// stream that does not exist is not an error.
    async fn delete(&self, stream: &str) -> Result<(), LogError>;

    /// Checks that the backend is reachable and working.
    async fn health(&self) -> Result<(), LogError>;
}

/// A shared handle to whichever backend is configured.
pub type SharedLog = Arc<dyn EventLog>;

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
