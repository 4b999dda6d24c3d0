//! Server-Sent Events: one encoder (the server) and one parser (every Rust
//! client), held to the same vectors as the JavaScript client's parser.
//!
//! - [`encode`]: frames for events, control events, heartbeats; untrusted
//!   text never reaches a field unchecked.
//! - [`parse`]: a streaming, bounded parser with `EventSource`'s rules.

pub mod encode;
pub mod parse;

pub use parse::{Item, LineTooLong, Message, Parser};
