//! The request and answer bodies of the HTTP API (`docs/api.md`), one
//! module per area. Requests serialise and deserialise (the server reads
//! them, clients write them, unknown fields are refused); answers too
//! (clients read them, and tolerate fields they do not know).
//!
//! - [`tenants`]: tenants and their own limits (admin token).
//! - [`keys`]: a tenant's API keys and subscriber-token signing keys (admin token).
//! - [`tokens`]: minting subscriber tokens.
//! - [`publish`]: the answers of `POST /v1/events`.
//! - [`schemas`]: event contracts, versions, compatibility modes (admin token).
//! - [`plugins`]: plugin versions, activations, counters, logs, dry runs.
//! - [`dead_letters`]: events plugins failed on.
//! - [`stats`]: node and per-tenant counters.
//! - [`health`]: liveness and readiness.
//! - [`presence`]: who is online, and presence events.

pub mod dead_letters;
pub mod health;
pub mod keys;
pub mod plugins;
pub mod presence;
pub mod publish;
pub mod schemas;
pub mod stats;
pub mod tenants;
pub mod tokens;
