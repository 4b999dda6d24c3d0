//! Subscriber processes: the bench re-executes itself in a hidden `client`
//! mode, once per few thousand streams, so that no process runs out of file
//! descriptors and no source address runs out of ephemeral ports.
//!
//! - [`child`]: the subscriber process itself.
//! - [`pool`]: the bench's side — spawning, splitting, merging.
//! - [`wire`]: the JSON lines between them.

pub mod child;
pub mod pool;
pub mod wire;

pub use pool::{Opened, Pool, Subscribe};
pub use wire::FinishReport;
