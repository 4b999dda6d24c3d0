//! Server-Sent Events delivery. Frames are encoded by the wire protocol's
//! encoder ([`beacon_protocol::sse::encode`]).
//!
//! - [`filter`]: what a subscriber asked for (types, subjects) and may see (audience).
//! - [`view`]: version views (`type@N`), built once per (event, view).
//! - [`connection`]: one subscriber's stream: replay from the log, hand-off
//!   to live delivery with no gap and no duplicate, heartbeats, slow-consumer
//!   cut-off, shutdown.

pub mod connection;
pub mod filter;
pub mod view;

use beacon_protocol::sse::encode;
use bytes::Bytes;

use crate::log::{Position, StoredEvent};

/// The SSE frame of a stored event at `position`; `None` (and the caller
/// skips the event) if a stored value could break framing, which only data
/// not written by Beacon can do.
pub fn event_frame(position: &Position, event: &StoredEvent) -> Option<Bytes> {
    match encode::event(position, &event.meta.kind, &event.envelope) {
        Ok(frame) => Some(frame),
        Err(error) => {
            tracing::error!(id = %position, %error, "skipping a stored event that cannot be framed safely");
            None
        }
    }
}
