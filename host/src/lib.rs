//! Beacon: a multi-tenant real-time event platform.
//!
//! Tenants publish JSON events over HTTP; each tenant's events are stored
//! in a durable, replayable log and pushed to subscribers over Server-Sent
//! Events, with exact resume by `Last-Event-ID`.
//!
//! # Layout
//! - [`config`]: server settings (flags / `BEACON_*` env / TOML file) and their defaults.
//! - [`server`]: assembling a node and serving until shutdown.
//! - [`edge`]: the listener — routes each connection by its request head: event
//!   streams to the lean path (written straight onto the socket), the rest to hyper.
//! - [`state`]: the state shared by request handlers.
//! - [`api`]: the HTTP API v1 — routes, handlers, the JSON error type.
//! - [`auth`]: admin token, tenant API keys, subscriber JWTs.
//! - [`tenants`]: tenant records; embedded and Redis stores.
//! - [`event`]: the published event shape, its checks, the CloudEvents envelope.
//! - [`backend`]: the one error type of the storage backends, classified (unavailable, corrupt, internal).
//! - [`redis_conn`]: the lazy, self-reconnecting Redis connection of the small stores.
//! - [`log`]: the event log trait, positions with epochs, embedded (redb) and Redis backends.
//! - [`metrics`]: Prometheus metric names, the process recorder, hot-path handles.
//! - [`hub`]: per-tenant log tail, frames encoded once, broadcast to local subscribers;
//!   ends a deleted tenant's streams.
//! - [`schema`]: event contracts — JSON-Schema registry, compatibility rules, validation.
//! - [`presence`]: live connections across nodes — who is online, connection caps.
//! - [`limits`]: rate limits (publish per tenant, connection attempts per IP) and tenant overrides.
//! - [`sse`]: SSE frames, subscriber filters, one subscriber's replay-then-live stream.
//! - [`plugins`]: tenant WebAssembly plugins — runtime, store, pipeline.

// What the binary and the public API do not need is `pub(crate)`, so the
// compiler reports dead code; `unreachable_pub` keeps it that way.
#![warn(unreachable_pub)]

pub mod api;
pub(crate) mod auth;
pub mod backend;
pub mod config;
pub(crate) mod edge;
pub(crate) mod event;
pub mod hub;
pub mod limits;
pub mod log;
pub(crate) mod metrics;
pub mod plugins;
pub mod presence;
pub(crate) mod redis_conn;
pub mod schema;
pub mod server;
pub mod sse;
pub mod state;
pub mod tenants;
