//! Server-Sent Events delivery.
//!
//! - [`frame`]: encoding of SSE frames; untrusted text never reaches a field unchecked.
//! - [`filter`]: what a subscriber asked for (types, subjects) and may see (audience).
//! - [`view`]: version views (`type@N`), built once per (event, view).
//! - [`connection`]: one subscriber's stream: replay from the log, hand-off
//!   to live delivery with no gap and no duplicate, heartbeats, slow-consumer
//!   cut-off, shutdown.

pub mod connection;
pub mod filter;
pub mod frame;
pub mod view;
