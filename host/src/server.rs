//! Assembling a node: stores, hub, background tasks, and serving HTTP
//! until shutdown.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::secrets;
use crate::config::Settings;
use crate::hub::Hub;
use crate::limits::Limiters;
use crate::limits::memory::MemoryLimiter;
use crate::limits::redis::RedisLimiter;
use crate::log::embedded::{EmbeddedLog, open_database};
use crate::log::redis::RedisLog;
use crate::log::{LogError, SharedLog, now_ms};
use crate::plugins::dead_letters::DeadLetters;
use crate::plugins::registry::Plugins;
use crate::plugins::runtime::{Runtime, RuntimeConfig};
use crate::plugins::store::SharedPlugins;
use crate::plugins::store::embedded::EmbeddedPlugins;
use crate::plugins::store::redis::RedisPlugins;
use crate::presence::memory::MemoryPresence;
use crate::presence::redis::RedisPresence;
use crate::presence::{SharedPresence, Tracker};
use crate::schema::{self, Registry, SchemaError};
use crate::state::AppState;
use crate::tenants::embedded::EmbeddedTenants;
use crate::tenants::redis::RedisTenants;
use crate::tenants::{SharedTenants, StoreError};

/// How often retention runs over every tenant's stream.
const RETENTION_EVERY: Duration = Duration::from_secs(30);
/// How often the log backend's health and the hub's gauges are refreshed
/// for `/metrics` (also on every `/readyz`).
const HEALTH_EVERY: Duration = Duration::from_secs(15);
/// File (in the data directory) holding a generated admin token.
const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The embedded store's file in the data directory.
const EMBEDDED_FILE: &str = "beacon.redb";
/// Compiled plugins, in the data directory unless `--plugin-cache-dir` says otherwise.
const PLUGIN_CACHE_DIR: &str = "plugin-cache";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: io::Error },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("plugin store: {0}")]
    Plugins(#[from] crate::plugins::store::StoreError),
    #[error("plugin runtime: {0}")]
    Runtime(String),
}

/// Opens the configured backends and builds the shared state.
pub async fn start(
    settings: Settings,
    shutdown: CancellationToken,
) -> Result<AppState, StartError> {
    settings.check().map_err(StartError::Settings)?;
    let data_dir = &settings.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let admin_token = admin_token(settings.admin_token.as_deref(), data_dir)?;
    let (log, tenants, contracts, plugin_store, fresh_store): (
        SharedLog,
        SharedTenants,
        schema::SharedContracts,
        SharedPlugins,
        bool,
    ) = match &settings.redis_url {
        Some(url) => {
            let prefix = &settings.redis_prefix;
            let log = RedisLog::connect(
                url,
                prefix,
                settings.retention(),
                settings.idempotency_window,
            )
            .await?;
            let contracts = schema::redis::RedisContracts::new(url, prefix)?;
            (
                Arc::new(log),
                Arc::new(RedisTenants::new(url, prefix)?),
                Arc::new(contracts),
                Arc::new(RedisPlugins::new(url, prefix)?),
                false,
            )
        }
        None => {
            let path = data_dir.join(EMBEDDED_FILE);
            let fresh = !path.exists();
            let db = open_database(&path)?;
            let log = EmbeddedLog::open(
                db.clone(),
                settings.retention(),
                settings.idempotency_window,
            )?;
            let contracts = schema::embedded::EmbeddedContracts::open(db.clone())?;
            let plugins = EmbeddedPlugins::open(db.clone())?;
            (
                Arc::new(log),
                Arc::new(EmbeddedTenants::open(db)?),
                Arc::new(contracts),
                Arc::new(plugins),
                fresh,
            )
        }
    };
    if let Err(error) = log.health().await {
        tracing::warn!(%error, "the event log is not reachable yet; serving anyway and retrying");
    }
    let (presence, publish_limiter) = limit_stores(&settings)?;
    let schemas = Arc::new(Registry::new(contracts));
    if let Err(error) = schemas.refresh().await {
        tracing::warn!(%error, "the contract store is not reachable yet; retrying");
    }
    if fresh_store && settings.builtin_catalog {
        install_builtin_catalog(&schemas).await?;
    }
    schemas.watch(schema::registry::REFRESH_EVERY, shutdown.clone());
    let plugins = start_plugins(&settings, plugin_store, &log, &tenants).await?;
    plugins.watch(crate::plugins::registry::REFRESH_EVERY, shutdown.clone());
    let hub = Hub::new(log.clone(), settings.queue, shutdown.clone());
    tokio::spawn(retention_loop(
        log.clone(),
        tenants.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(health_loop(log.clone(), hub.clone(), shutdown.clone()));
    let presence = Tracker::new(
        presence,
        settings.presence_ttl,
        settings.heartbeat,
        Some(crate::presence::events::Appender::start(log.clone())),
    );
    let limiters = Arc::new(Limiters {
        publish: publish_limiter,
        connect: MemoryLimiter::new(),
    });
    tracing::info!(log = log.backend(), data_dir = %data_dir.display(), "node started");
    Ok(AppState {
        settings: Arc::new(settings),
        log,
        tenants,
        hub,
        schemas,
        admin_token: admin_token.into(),
        shutdown,
        connections: Arc::default(),
        node: crate::log::new_epoch().to_string().into(),
        presence,
        limiters,
        plugins,
    })
}

/// The plugin runtime (one wasmtime engine for the process) and the
/// tenants' active plugins, loaded from the store.
async fn start_plugins(
    settings: &Settings,
    store: SharedPlugins,
    log: &SharedLog,
    tenants: &SharedTenants,
) -> Result<Arc<Plugins>, StartError> {
    let cache_dir = settings
        .plugin_cache_dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.join(PLUGIN_CACHE_DIR));
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir),
        max_component_bytes: settings.max_plugin_bytes,
        max_memory_bytes: settings.plugin_memory_bytes,
        ..RuntimeConfig::default()
    })
    .map_err(|e| StartError::Runtime(e.to_string()))?;
    let plugins = Plugins::new(
        runtime,
        store,
        DeadLetters::new(log.clone()),
        tenants.clone(),
        settings,
    );
    if let Err(error) = plugins.sync(true).await {
        tracing::warn!(%error, "the plugin store is not reachable yet; retrying");
    }
    Ok(plugins)
}

/// Presence and the publish limiter: in Redis (global across nodes) when
/// configured, else in this process.
fn limit_stores(
    settings: &Settings,
) -> Result<(SharedPresence, crate::limits::SharedLimiter), StartError> {
    Ok(match &settings.redis_url {
        Some(url) => {
            let prefix = &settings.redis_prefix;
            let invalid = |e: String| StartError::Settings(e);
            (
                Arc::new(RedisPresence::new(url, prefix).map_err(|e| invalid(e.to_string()))?),
                Arc::new(RedisLimiter::new(url, prefix).map_err(|e| invalid(e.to_string()))?),
            )
        }
        None => (
            Arc::new(MemoryPresence::new()),
            Arc::new(MemoryLimiter::new()),
        ),
    })
}

/// Registers the contracts shipped in the binary, on the first start of an
/// empty embedded store (so the quick start works out of the box). With
/// Redis, admins load a catalogue explicitly (`POST /v1/schemas/...`).
async fn install_builtin_catalog(schemas: &Registry) -> Result<(), StartError> {
    let entries = schema::catalog::builtin()?;
    let mut installed = 0;
    for (kind, result) in schema::catalog::install(schemas, &entries).await {
        match result {
            Ok(_) => installed += 1,
            Err(error) => tracing::error!(%kind, %error, "built-in contract not installed"),
        }
    }
    tracing::info!(installed, "built-in event catalogue installed");
    Ok(())
}

/// Serves until `state.shutdown` is cancelled, then lets open requests
/// finish (streams end at once with `beacon.shutdown`) for at most the
/// shutdown grace period. See [`crate::edge`].
pub async fn serve(listener: TcpListener, state: AppState) -> io::Result<()> {
    crate::edge::serve(listener, state).await
}

/// The admin token: the configured one (`BEACON_ADMIN_TOKEN`), else the one
/// stored in the data directory, else a new one (stored, printed once on stderr).
fn admin_token(configured: Option<&str>, data_dir: &Path) -> Result<String, StartError> {
    if let Some(token) = configured {
        if token.len() < 16 {
            return Err(StartError::Settings(
                "BEACON_ADMIN_TOKEN must be at least 16 characters".into(),
            ));
        }
        return Ok(token.to_owned());
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let io_err = |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let token = format!("ba_{}", secrets::random_hex32());
    write_private(&path, &token).map_err(io_err)?;
    eprintln!(
        "Generated admin token (stored in {}): {token}",
        path.display()
    );
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

/// Refreshes the log backend health and hub gauges, and drains histogram
/// samples, periodically.
async fn health_loop(log: SharedLog, hub: Arc<Hub>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(HEALTH_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let up = log.health().await.is_ok();
        crate::metrics::log_backend_up(log.backend(), up);
        crate::metrics::handles()
            .hub_tails
            .set(hub.active_tenants() as f64);
        crate::metrics::upkeep();
    }
}

/// Applies retention to every tenant's stream, periodically.
async fn retention_loop(log: SharedLog, tenants: SharedTenants, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(RETENTION_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let list = match tenants.list().await {
            Ok(list) => list,
            Err(error) => {
                tracing::warn!(%error, "retention: cannot list tenants");
                continue;
            }
        };
        for tenant in list {
            // The tenant's events, then its dead letters (a stream of their own).
            let dead_letters = crate::plugins::dead_letters::stream(&tenant.id);
            for stream in [tenant.id.as_str(), dead_letters.as_str()] {
                match log.trim(stream, now_ms()).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::debug!(%stream, removed, "retention applied"),
                    Err(error) => tracing::warn!(%stream, %error, "retention failed"),
                }
            }
        }
    }
}
