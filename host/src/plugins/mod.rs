//! Tenant WebAssembly plugins: components that filter, enrich, convert
//! and gate a tenant's events (the contract is `wit/plugin.wit`).
//!
//! - [`runtime`]: wasmtime — one engine, upload checks, compile cache,
//!   sandboxed instances with limits, the hook calls.
//! - [`store`]: versions, activations and quarantines; embedded and Redis.
//! - [`registry`]: the node's snapshot of every tenant's active plugins,
//!   swapped whole on a change and followed across nodes.
//! - [`pipeline`]: the publish hook chain run on each accepted event.
//! - [`gate`]: the deliver hook on the fan-out path, batched per subscriber context.
//! - [`dead_letters`]: events a `fail_closed` plugin failed on, per tenant.
//! - [`dry_run`]: one hook of a stored version on a test event, checked like a publish.
//! - [`logs`], [`stats`]: each plugin's recent log lines and counters.
//! - `bench`: the pipeline's cost per event with one plugin (an ignored test).

mod bench;
pub mod dead_letters;
pub mod dry_run;
pub mod gate;
pub mod logs;
pub mod pipeline;
pub mod registry;
pub mod runtime;
pub mod stats;
pub mod store;
