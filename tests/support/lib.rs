//! Test support for Beacon: the real processes under test and, for the
//! end-to-end tests, real clients of a node.
//!
//! Everything here drives real processes over real sockets: a real
//! `redis-server` ([`RedisServer`]), a real Redis Cluster ([`RedisCluster`]),
//! the `beacon` binary ([`Beacon`]) and, with the `client` feature (on by
//! default), plain HTTP requests ([`Tenant`], [`Reply`]) and a real
//! Server-Sent Events client ([`Subscriber`]). Each test gets its own
//! processes, ports and temporary directories, and [`unique_name`] gives it
//! its own Redis key prefix, so tests run in parallel.
//!
//! Starting a process has two forms: `spawn` returns a [`LaunchError`] for
//! callers that report errors; `start` panics with the same message, for
//! tests. When a test fails, every process it started prints its output.
//!
//! # Layout
//!
//! - `process.rs`: what every launched process shares: free ports, the
//!   output log, signals, exit checks, CPU and memory from `/proc` ([`ProcStats`]).
//! - `programs.rs`: finding `redis-server`, `redis-cli` and the `beacon` binary.
//! - `redis.rs`: one `redis-server` ([`RedisServer`], [`Persistence`]): kill,
//!   stop, pause, resume, start again on the same port and data.
//! - `redis_cluster.rs`: three primaries and three replicas ([`RedisCluster`]).
//! - `server.rs`: `beacon serve` ([`Beacon`], [`BeaconBuilder`]): flags and
//!   environment, the listening address, kill, terminate, start again.
//! - `names.rs`: names unique to one test ([`unique_name`]).
//! - `error.rs`: [`LaunchError`].
//! - With `client`: `api.rs` (requests, [`Tenant`], [`Reply`]), `sse.rs`
//!   ([`StreamRequest`], [`Subscriber`]), `jwt.rs` (subscriber tokens),
//!   `plugins.rs` (example components, plugin nodes, plugin calls).

#[cfg(feature = "client")]
pub mod api;
mod error;
#[cfg(feature = "client")]
pub mod jwt;
mod names;
#[cfg(feature = "client")]
pub mod plugins;
mod process;
mod programs;
pub mod redis;
pub mod redis_cluster;
pub mod server;
#[cfg(feature = "client")]
pub mod sse;

pub use error::LaunchError;
pub use names::unique_name;
pub use process::{ProcStats, free_port};
pub use programs::{beacon_bin, redis_cli_bin, redis_server_bin};
pub use redis::{Persistence, RedisBuilder, RedisServer};
pub use redis_cluster::RedisCluster;
pub use server::{Beacon, BeaconBuilder};

#[cfg(feature = "client")]
pub use api::{Reply, Tenant, ev, http_client, ids_of, send, send_within};
#[cfg(feature = "client")]
pub use plugins::{Counters, Patience, activation, plugin, plugin_cache_dir, plugin_node};
#[cfg(feature = "client")]
pub use sse::{SseEvent, StreamRequest, Subscriber};

use std::time::Duration;

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);
