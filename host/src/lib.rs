//! Beacon: a multi-tenant real-time event platform.
//!
//! # Layout
//! - [`log`]: the event log trait, positions with epochs, the embedded (redb) and Redis backends.
pub mod log;
