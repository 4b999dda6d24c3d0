//! Server settings: flags, each with a `BEACON_*` environment variable and a default.
//!
//! Defaults are named constants with the reason for their value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::log::Retention;
use crate::presence::CapPolicy;

pub mod file;

/// Heartbeat comment interval: below the 30–60 s idle timeouts of common proxies.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// Reconnect delay suggested to `EventSource` clients (`retry:`).
pub const DEFAULT_RETRY: Duration = Duration::from_secs(2);
/// Largest encoded event envelope.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024;
/// Most events in one publish request.
pub const DEFAULT_MAX_BATCH: usize = 100;
/// Largest request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// How far (in events) a subscriber may fall behind its tenant's live
/// stream before it is cut off and asked to resume by id.
pub const DEFAULT_QUEUE: usize = 1024;
/// Open streams per user: one device, two browser tabs, a few app instances.
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: u32 = 5;
/// Open streams per tenant, on all nodes: far above a normal tenant, low
/// enough that one tenant cannot take a node's file descriptors.
pub const DEFAULT_MAX_CONNECTIONS_PER_TENANT: u32 = 10_000;
/// Stream connection attempts per second per client IP (per node): a
/// reconnect storm of a whole office behind one NAT passes, a loop does not.
pub const DEFAULT_CONNECT_RATE_PER_IP: u32 = 20;
/// Attempts an IP may make at once.
pub const DEFAULT_CONNECT_BURST_PER_IP: u32 = 40;
/// Events published per second per tenant, sustained.
pub const DEFAULT_PUBLISH_RATE: u32 = 1000;
/// Events a tenant may publish at once (twice the rate: a one-second spike).
pub const DEFAULT_PUBLISH_BURST: u32 = 2000;
/// How long a connection counts without a refresh: a dead node's
/// connections stop counting after this.
pub const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(30);

/// Wall time one plugin call may take: a normal call takes microseconds;
/// 50 ms leaves room for a cold instance and a JavaScript plugin, and keeps
/// a stuck plugin from holding a publish request noticeably long.
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_millis(50);
/// Instructions (wasm fuel) one plugin call may use: about 50 ms of work
/// at a guest's usual speed, so both limits stop a runaway loop.
pub const DEFAULT_PLUGIN_FUEL: u64 = 100_000_000;
/// Linear memory of one plugin instance: a JavaScript engine needs tens of
/// MiB; a Rust plugin, a few.
pub const DEFAULT_PLUGIN_MEMORY_BYTES: usize = 128 * 1024 * 1024;
/// Largest event or answer a plugin may return (as JSON): the event size
/// limit, so a modified event can always be stored.
pub const DEFAULT_PLUGIN_OUTPUT_BYTES: usize = DEFAULT_MAX_EVENT_BYTES;
/// Largest plugin component: a JavaScript plugin with its engine is about
/// 12 MiB, a Rust one a few hundred KiB.
pub const DEFAULT_MAX_PLUGIN_BYTES: usize = 24 * 1024 * 1024;
/// Consecutive failures after which a plugin is quarantined.
pub const DEFAULT_PLUGIN_QUARANTINE_AFTER: u32 = 5;

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "BEACON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the embedded store (and the generated admin token).
    #[arg(long, env = "BEACON_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Redis URL: use Redis Streams as the shared log (several nodes).
    #[arg(long, env = "BEACON_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    #[arg(long, env = "BEACON_REDIS_PREFIX", default_value = "beacon")]
    pub redis_prefix: String,
    /// The platform admin token (at least 16 characters). Prefer the
    /// environment variable; if unset, one is generated and kept in the
    /// data directory.
    #[arg(long, env = "BEACON_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Browser origins allowed to call Beacon with credentials (the
    /// `beacon_token` cookie), comma-separated, e.g.
    /// `https://app.example.com`; on the stream, for every tenant in
    /// addition to the tenant's own `cors_origins`. Empty: any origin,
    /// without credentials (the stream then allows only the tenant's own
    /// origins with the cookie).
    #[arg(long, env = "BEACON_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Install the built-in event catalogue on the first start of an empty
    /// embedded store.
    #[arg(long, env = "BEACON_BUILTIN_CATALOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub builtin_catalog: bool,
    /// Interval of heartbeat comments on open streams.
    #[arg(long, env = "BEACON_HEARTBEAT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,
    /// Reconnect delay suggested to clients.
    #[arg(long, env = "BEACON_RETRY", default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry: Duration,
    /// Largest encoded event, in bytes.
    #[arg(long, env = "BEACON_MAX_EVENT_BYTES", default_value_t = DEFAULT_MAX_EVENT_BYTES)]
    pub max_event_bytes: usize,
    /// Most events in one publish request.
    #[arg(long, env = "BEACON_MAX_BATCH", default_value_t = DEFAULT_MAX_BATCH)]
    pub max_batch: usize,
    /// Largest request body, in bytes.
    #[arg(long, env = "BEACON_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Events kept per tenant.
    #[arg(long, env = "BEACON_RETENTION_EVENTS", default_value_t = 100_000)]
    pub retention_events: u64,
    /// Age after which events are removed.
    #[arg(long, env = "BEACON_RETENTION_AGE", default_value = "7d", value_parser = humantime::parse_duration)]
    pub retention_age: Duration,
    /// How many events a subscriber may fall behind before it is cut off.
    #[arg(long, env = "BEACON_QUEUE", default_value_t = DEFAULT_QUEUE)]
    pub queue: usize,
    /// How long idempotency keys are remembered.
    #[arg(long, env = "BEACON_IDEMPOTENCY_WINDOW", default_value = "1h", value_parser = humantime::parse_duration)]
    pub idempotency_window: Duration,
    /// Open streams per user (`sub`) on all nodes; a tenant's `limits` may override.
    #[arg(long, env = "BEACON_MAX_CONNECTIONS_PER_USER", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_USER)]
    pub max_connections_per_user: u32,
    /// A user's connection above the cap: refuse it, or close their oldest.
    #[arg(long, env = "BEACON_USER_CAP_POLICY", value_parser = cap_policy(), default_value_t = CapPolicy::RefuseNewest)]
    pub user_cap_policy: CapPolicy,
    /// Addresses of reverse proxies in front of Beacon, comma-separated:
    /// for connections from them, the per-IP limit uses the client address
    /// in `X-Forwarded-For` (the right-most one that is not a listed proxy).
    #[arg(long, env = "BEACON_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Open streams per tenant on all nodes.
    #[arg(long, env = "BEACON_MAX_CONNECTIONS_PER_TENANT", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_TENANT)]
    pub max_connections_per_tenant: u32,
    /// Stream connection attempts per second per client IP (per node).
    #[arg(long, env = "BEACON_CONNECT_RATE_PER_IP", default_value_t = DEFAULT_CONNECT_RATE_PER_IP)]
    pub connect_rate_per_ip: u32,
    /// Connection attempts an IP may make at once.
    #[arg(long, env = "BEACON_CONNECT_BURST_PER_IP", default_value_t = DEFAULT_CONNECT_BURST_PER_IP)]
    pub connect_burst_per_ip: u32,
    /// Events published per second per tenant (global with Redis).
    #[arg(long, env = "BEACON_PUBLISH_RATE", default_value_t = DEFAULT_PUBLISH_RATE)]
    pub publish_rate: u32,
    /// Events a tenant may publish at once.
    #[arg(long, env = "BEACON_PUBLISH_BURST", default_value_t = DEFAULT_PUBLISH_BURST)]
    pub publish_burst: u32,
    /// How long a connection counts as present without a refresh.
    #[arg(long, env = "BEACON_PRESENCE_TTL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub presence_ttl: Duration,
    /// Wall time one plugin call may take; a tenant's limits may override.
    #[arg(long, env = "BEACON_PLUGIN_TIMEOUT", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub plugin_timeout: Duration,
    /// Instructions (wasm fuel) one plugin call may use.
    #[arg(long, env = "BEACON_PLUGIN_FUEL", default_value_t = DEFAULT_PLUGIN_FUEL)]
    pub plugin_fuel: u64,
    /// Linear memory of one plugin instance, in bytes.
    #[arg(long, env = "BEACON_PLUGIN_MEMORY_BYTES", default_value_t = DEFAULT_PLUGIN_MEMORY_BYTES)]
    pub plugin_memory_bytes: usize,
    /// Largest event or answer a plugin may return, in bytes of JSON.
    #[arg(long, env = "BEACON_PLUGIN_OUTPUT_BYTES", default_value_t = DEFAULT_PLUGIN_OUTPUT_BYTES)]
    pub plugin_output_bytes: usize,
    /// Largest plugin component that may be uploaded, in bytes.
    #[arg(long, env = "BEACON_MAX_PLUGIN_BYTES", default_value_t = DEFAULT_MAX_PLUGIN_BYTES)]
    pub max_plugin_bytes: usize,
    /// Consecutive failures after which a plugin is quarantined.
    #[arg(long, env = "BEACON_PLUGIN_QUARANTINE_AFTER", default_value_t = DEFAULT_PLUGIN_QUARANTINE_AFTER)]
    pub plugin_quarantine_after: u32,
    /// Where compiled plugins are cached (default: `plugin-cache` in the
    /// data directory). Several nodes on one machine may share it.
    #[arg(long, env = "BEACON_PLUGIN_CACHE_DIR")]
    pub plugin_cache_dir: Option<PathBuf>,
    /// How long a new connection may take to send its request head (a
    /// slower one is answered 408 and closed).
    #[arg(long, env = "BEACON_HEAD_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub head_timeout: Duration,
    /// On shutdown, how long to wait for requests to finish.
    #[arg(long, env = "BEACON_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

/// `--user-cap-policy`: the policies by their wire names, each with its
/// description in `--help`. (The policy is a wire type of the protocol
/// crate, which does not depend on clap.)
fn cap_policy() -> impl TypedValueParser<Value = CapPolicy> {
    PossibleValuesParser::new(
        CapPolicy::ALL.map(|p| PossibleValue::new(p.as_str()).help(p.description())),
    )
    .map(|name| CapPolicy::parse(&name).unwrap_or_default())
}

/// Whether `origin` can be listed as a browser origin allowed CORS with
/// credentials (`--cors-origins`, a tenant's `cors_origins`): a valid header
/// value of the form `scheme://host[:port]`, e.g. `https://app.example.com`.
/// Wildcards are refused: browsers never grant credentials to `*`, and
/// origins are compared exactly.
pub fn valid_origin(origin: &str) -> bool {
    axum::http::HeaderValue::from_str(origin).is_ok()
        && origin.contains("://")
        && !origin.contains('*')
}

impl Settings {
    pub fn retention(&self) -> Retention {
        Retention {
            max_events: self.retention_events,
            max_age: self.retention_age,
        }
    }

    /// The defaults, as `beacon serve` with no flags (used by tests).
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: Settings,
        }
        let parsed = <Wrapper as clap::Parser>::try_parse_from(["beacon"]);
        match parsed {
            Ok(w) => w.settings,
            Err(e) => unreachable!("defaults must parse: {e}"),
        }
    }

    /// Rejects settings that cannot work.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("--max-event-bytes", self.max_event_bytes as u64),
            ("--max-batch", self.max_batch as u64),
            ("--max-body-bytes", self.max_body_bytes as u64),
            ("--retention-events", self.retention_events),
            ("--queue", self.queue as u64),
            (
                "--max-connections-per-user",
                self.max_connections_per_user.into(),
            ),
            (
                "--max-connections-per-tenant",
                self.max_connections_per_tenant.into(),
            ),
            ("--connect-rate-per-ip", self.connect_rate_per_ip.into()),
            ("--connect-burst-per-ip", self.connect_burst_per_ip.into()),
            ("--publish-rate", self.publish_rate.into()),
            ("--publish-burst", self.publish_burst.into()),
            ("--plugin-fuel", self.plugin_fuel),
            ("--plugin-memory-bytes", self.plugin_memory_bytes as u64),
            ("--plugin-output-bytes", self.plugin_output_bytes as u64),
            ("--max-plugin-bytes", self.max_plugin_bytes as u64),
            (
                "--plugin-quarantine-after",
                self.plugin_quarantine_after.into(),
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for origin in &self.cors_origins {
            if !valid_origin(origin) {
                return Err(format!(
                    "--cors-origins: {origin:?} is not an origin such as https://app.example.com"
                ));
            }
        }
        if self.heartbeat.is_zero() {
            return Err("--heartbeat must be longer than 0s".into());
        }
        if self.head_timeout < Duration::from_millis(100) {
            return Err("--head-timeout must be at least 100ms".into());
        }
        if self.plugin_timeout < Duration::from_millis(1) {
            return Err("--plugin-timeout must be at least 1ms".into());
        }
        if self.presence_ttl < Duration::from_secs(1) {
            return Err("--presence-ttl must be at least 1s".into());
        }
        Ok(())
    }
}
