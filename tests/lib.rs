//! Support code for Beacon's end-to-end tests.
//!
//! Everything here drives real processes over real sockets: the `beacon` binary
//! ([`Beacon`]), a real `redis-server` ([`RedisServer`]), plain HTTP requests
//! ([`Tenant`], [`Reply`]) and a real Server-Sent Events client ([`Subscriber`]).

pub mod support;

pub use support::api::{Reply, Tenant, ev, ids_of, send, send_within};
pub use support::jwt;
pub use support::plugins::{Counters, Patience, activation, plugin, plugin_cache_dir, plugin_node};
pub use support::redis::RedisServer;
pub use support::server::{Beacon, BeaconBuilder, beacon_bin, unique_name};
pub use support::sse::{SseEvent, StreamRequest, Subscriber};

use std::time::Duration;

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);
