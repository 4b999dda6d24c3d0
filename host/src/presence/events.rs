//! `presence.joined` / `presence.left`: a tenant's presence changes as
//! events in its own log.
//!
//! Events in the log reach every node's subscribers by the path every
//! other event takes, keep their order with them, and are replayed after
//! a reconnect, so a subscriber that keeps a list of who is online misses
//! no change while it was away. They cost a log entry each, so a tenant
//! turns them on (`presence_events`); subscribers then ask for them by
//! type (`types=presence.*`) — a stream without a `types` filter, or with
//! `*`, does not get them.
//!
//! The `presence.` and `beacon.` types are Beacon's own: tenants cannot
//! publish them or register contracts for them.
//!
//! Appending is off the connection's path: changes go through a bounded
//! queue to one task per node, which appends them in the order they came,
//! a tenant's run of changes in one append. A change that finds the queue
//! full is dropped and counted (`beacon_presence_events_dropped_total`).

use tokio::sync::mpsc;

use super::Change;
pub use beacon_protocol::api::presence::PresenceChange;
use beacon_protocol::envelope::{PublishEvent, valid_subject};

use crate::event::{new_event, now_rfc3339};
use crate::log::{NewEvent, SharedLog};

/// A user's first connection opened.
pub const JOINED: &str = "presence.joined";
/// A user's last connection closed, or expired.
pub const LEFT: &str = "presence.left";
/// Changes waiting to be appended, per node.
pub const MAX_QUEUED: usize = 10_000;
/// Most changes appended per log call.
const MAX_BATCH: usize = 256;

/// A presence change as an event of the tenant's log. Its subject is
/// `user/<user>` when that is a valid subject, so subject filters and the
/// token's `subjects` allow-list apply to it like to any event.
pub fn event(tenant: &str, change: &Change, time: &str) -> NewEvent {
    let subject = format!("user/{}", change.user);
    let data = PresenceChange {
        user: change.user.clone(),
        seq: change.seq,
    };
    let kind = if change.joined { JOINED } else { LEFT };
    let mut event = PublishEvent::new(kind, serde_json::to_value(data).unwrap_or_default());
    event.subject = valid_subject(&subject).then_some(subject);
    new_event(event, tenant, time, None)
}

/// The node's queue of changes to append.
#[derive(Clone)]
pub struct Appender {
    queue: mpsc::Sender<(String, Change)>,
}

impl Appender {
    /// Starts the node's appending task; it ends when every `Appender`
    /// clone is dropped.
    pub fn start(log: SharedLog) -> Appender {
        let (queue, received) = mpsc::channel(MAX_QUEUED);
        tokio::spawn(append_loop(log, received));
        Appender { queue }
    }

    /// Queues a tenant's changes, in order.
    pub fn send(&self, tenant: &str, changes: Vec<Change>) {
        for change in changes {
            if self.queue.try_send((tenant.to_owned(), change)).is_err() {
                tracing::warn!(%tenant, "presence event queue full; change dropped");
                crate::metrics::presence_events_dropped(1);
            }
        }
    }
}

async fn append_loop(log: SharedLog, mut received: mpsc::Receiver<(String, Change)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while received.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let time = now_rfc3339();
        for run in batch.chunk_by(|a, b| a.0 == b.0) {
            let tenant = &run[0].0;
            let events = run.iter().map(|(_, c)| event(tenant, c, &time)).collect();
            if let Err(error) = log.append(tenant, events).await {
                tracing::warn!(%tenant, %error, "presence events not appended");
                crate::metrics::presence_events_dropped(run.len() as u64);
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_becomes_an_event_with_the_users_subject() {
        let change = Change {
            user: "alice".into(),
            joined: true,
            seq: 7,
        };
        let e = event("acme", &change, "2026-01-01T00:00:00Z");
        assert_eq!(e.meta.kind, JOINED);
        assert_eq!(e.meta.subject.as_deref(), Some("user/alice"));
        assert!(e.meta.audience.is_empty());
        let envelope: serde_json::Value = serde_json::from_str(&e.envelope).unwrap();
        assert_eq!(
            envelope["data"],
            serde_json::json!({"user": "alice", "seq": 7})
        );
        let odd = Change {
            user: "a b".into(),
            joined: false,
            seq: 8,
        };
        let e = event("acme", &odd, "2026-01-01T00:00:00Z");
        assert_eq!((e.meta.kind.as_str(), e.meta.subject), (LEFT, None));
    }
}
