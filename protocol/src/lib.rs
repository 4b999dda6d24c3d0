//! Beacon's wire protocol, shared by the server, the Rust client, the CLI
//! and the benchmark. Few dependencies: serde, bytes, memchr.
//!
//! # Layout
//! - [`position`]: event ids — `<epoch>_<ms>-<seq>`, ordered, with the epoch
//!   of the stream's incarnation.
//! - [`envelope`]: what a tenant publishes, the CloudEvents envelope
//!   subscribers receive, and the rules every event meets (charsets, limits,
//!   reserved types).
//! - [`error`]: the JSON body of every error answer.
//! - [`control`]: the `beacon.*` control events, typed.
//! - [`sse`]: the Server-Sent Events encoder and parser.
//! - [`api`]: the request and answer bodies of the HTTP API, one module per
//!   area (tenants, keys, tokens, publish, schemas, plugins, dead letters,
//!   stats, health, presence).

pub mod api;
pub mod control;
pub mod envelope;
pub mod error;
pub mod position;
pub mod sse;

pub use control::Control;
pub use envelope::{Envelope, FieldError, PublishEvent};
pub use error::ErrorBody;
pub use position::{Epoch, Offset, Position, PositionError};
