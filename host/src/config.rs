//! Server settings: flags, each with a `BEACON_*` environment variable and a default.
//!
//! Defaults are named constants with the reason for their value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::log::Retention;

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
    /// `https://app.example.com`. Empty: any origin, without credentials.
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
    /// On shutdown, how long to wait for requests to finish.
    #[arg(long, env = "BEACON_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
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
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for origin in &self.cors_origins {
            if axum::http::HeaderValue::from_str(origin).is_err() || !origin.contains("://") {
                return Err(format!(
                    "--cors-origins: {origin:?} is not an origin such as https://app.example.com"
                ));
            }
        }
        if self.heartbeat.is_zero() {
            return Err("--heartbeat must be longer than 0s".into());
        }
        Ok(())
    }
}
