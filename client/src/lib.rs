//! A typed async client of Beacon's HTTP API, on `reqwest`, with the wire
//! types of [`beacon_protocol`] for every body and answer, and an event
//! stream that reconnects and resumes on its own.
//!
//! ```no_run
//! # async fn demo() -> Result<(), beacon_client::ClientError> {
//! use beacon_client::{Client, PublishOptions, StreamItem, StreamOptions};
//! use beacon_protocol::PublishEvent;
//! use futures::StreamExt;
//!
//! let tenant = Client::builder("http://127.0.0.1:8080").token("bk_...").build()?;
//! let event = PublishEvent::new("order.created", serde_json::json!({"orderId": "IE-4486"}));
//! let published = tenant.publish(&event, &PublishOptions::idempotency_key("IE-4486")).await?;
//!
//! let mut stream = tenant.stream(StreamOptions::new().types(["order.*"]).token("eyJ..."));
//! while let Some(item) = stream.next().await {
//!     if let StreamItem::Event(event) = item? {
//!         println!("{} {}", event.kind, event.data);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`client`]: [`Client`] and its settings; URLs, credentials, time
//!   limits, bounded reads of answers.
//! - [`error`]: [`ClientError`], and the node's refusals as [`HttpError`].
//! - `tenants`: tenants, API keys, subscriber-token keys (admin token).
//! - `tokens`: minting subscriber tokens (API key).
//! - [`publish`]: one event or a batch, with `Idempotency-Key` (API key).
//! - `schemas`: event contracts (admin token).
//! - [`plugins`]: upload, activate, list, logs, dry runs (API key).
//! - `dead_letters`, `presence`, `ops`: dead letters, who is online,
//!   stats, health and readiness.
//! - [`stream`]: `GET /v1/stream` as a [`futures::Stream`] that resumes
//!   with `Last-Event-ID` after drops, overflows, shutdowns and expired
//!   tokens.

pub mod client;
mod dead_letters;
pub mod error;
mod ops;
pub mod plugins;
mod presence;
pub mod publish;
mod schemas;
pub mod stream;
mod tenants;
mod tokens;

pub use beacon_protocol;
pub use client::{Client, ClientBuilder};
pub use error::{ClientError, HttpError};
pub use plugins::Upload;
pub use publish::{Publication, PublishAnswer, PublishOptions};
pub use reqwest::{StatusCode, Url};
pub use stream::{
    Backoff, Disconnect, Event, EventStream, MintTokens, Reconnect, StreamItem, StreamOptions,
    TokenSource,
};
