//! The plugins a node runs: every tenant's active plugins, loaded and
//! ready, in an immutable snapshot that is swapped whole.
//!
//! Publish requests (and the fan-out) take the current snapshot with one
//! atomic load and use it for everything they do: a request that started
//! before an activation runs wholly on the old pipeline, one that started
//! after, wholly on the new one. That is what makes a hot swap lose and
//! duplicate nothing: no event runs through half of each, and open streams
//! never depend on a pipeline to stay open.
//!
//! Rebuilding ([`Plugins::sync`]) reads every activation from the store,
//! keeps what did not change — the loaded plugin with its pool of warm
//! instances, its counters, its log — and loads what is new: the compiled
//! component is looked up by digest (shared by every tenant that uploaded
//! the same bytes, and cached on disk by the runtime), but each tenant gets
//! its own instances. Rebuilds are serialised by one async mutex.
//!
//! # Propagation between nodes
//!
//! The store keeps a revision bumped by every change; [`Plugins::watch`]
//! polls it every [`REFRESH_EVERY`] and rebuilds when it moved, so an
//! activation, a rollback or a quarantine on one node is live on every node
//! within about that period. A node that cannot reach the store keeps its
//! last snapshot.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::dead_letters::DeadLetters;
use super::gate::Contexts;
use super::logs::PluginLog;
use super::runtime::{Compiled, Limits, LogLevel, Plugin, Runtime, UploadError};
use super::stats::PluginStats;
use super::store::{Activation, LimitOverrides, OnError, PluginRecord, SharedPlugins, StoreError};
use crate::config::Settings;
use crate::limits::TenantLimits;
use crate::sse::filter::TypePatterns;
use crate::tenants::SharedTenants;

/// How often [`Plugins::watch`] polls the store's revision.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// One active plugin of one tenant, as the pipelines use it.
pub struct Active {
    pub tenant: String,
    pub name: String,
    pub version: u32,
    pub digest: String,
    pub order: i32,
    pub on_error: OnError,
    /// The event types it runs for.
    pub types: TypePatterns,
    /// The loaded plugin with its instances and this tenant's limits.
    pub plugin: Arc<Plugin>,
    /// The limits in force (defaults, tenant overrides, activation overrides).
    pub limits: Limits,
    /// When this activation was made ([`Activation::activated_ms`]): a
    /// rebuild that finds the same one keeps the failures in a row.
    pub activated_ms: u64,
    /// Failures in a row; reset by a success or a new activation.
    pub failures: AtomicU32,
    /// Quarantined: skipped per its policy until activated again.
    pub quarantined: AtomicBool,
    pub stats: Arc<PluginStats>,
    pub log: Arc<PluginLog>,
}

impl Active {
    pub fn is_quarantined(&self) -> bool {
        self.quarantined.load(Ordering::Relaxed)
    }
}

/// One tenant's active plugins, by ascending `order` (then name).
#[derive(Default)]
pub struct TenantPlugins {
    pub active: Vec<Arc<Active>>,
}

impl TenantPlugins {
    /// The plugins with the publish hook that run for `kind`, in order.
    pub fn publishers<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Arc<Active>> + 'a {
        self.active
            .iter()
            .filter(move |a| a.plugin.compiled().hooks.publish && a.types.matches(kind))
    }

    /// The plugins with the deliver hook that run for `kind`, in order.
    pub fn gates<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Arc<Active>> + 'a {
        self.active
            .iter()
            .filter(move |a| a.plugin.compiled().hooks.deliver && a.types.matches(kind))
    }

    /// The first plugin with the convert hook for `kind`.
    pub fn converter(&self, kind: &str) -> Option<&Arc<Active>> {
        self.active
            .iter()
            .find(|a| a.plugin.compiled().hooks.convert && a.types.matches(kind))
    }
}

#[derive(Default)]
struct Snapshot {
    tenants: HashMap<String, Arc<TenantPlugins>>,
}

/// The node's plugins: runtime, store, snapshot of active pipelines.
pub struct Plugins {
    pub runtime: Arc<Runtime>,
    pub store: SharedPlugins,
    pub dead_letters: DeadLetters,
    /// Subscriber contexts open on this node, for batched deliver calls.
    pub contexts: Arc<Contexts>,
    tenants: SharedTenants,
    /// Node defaults for limits and quarantine.
    defaults: Limits,
    max_memory_bytes: usize,
    pub quarantine_after: u32,
    snapshot: ArcSwap<Snapshot>,
    /// Compiled components by digest, shared by tenants. A `std` mutex:
    /// held only to look up or insert, never across an await.
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
    /// Logs and counters by (tenant, plugin name): they outlive versions,
    /// so a rollback keeps the history. Same locking as `compiled`.
    logs: Mutex<HashMap<(String, String), Arc<PluginLog>>>,
    stats: Mutex<HashMap<(String, String), Arc<PluginStats>>>,
    /// The store revision the snapshot was built from.
    revision: AtomicU64,
    /// Serialises rebuilds.
    syncing: tokio::sync::Mutex<()>,
}

impl Plugins {
    pub fn new(
        runtime: Arc<Runtime>,
        store: SharedPlugins,
        dead_letters: DeadLetters,
        tenants: SharedTenants,
        settings: &Settings,
    ) -> Arc<Plugins> {
        Arc::new(Plugins {
            runtime,
            store,
            dead_letters,
            contexts: Arc::default(),
            tenants,
            defaults: Limits {
                timeout: settings.plugin_timeout,
                fuel: settings.plugin_fuel,
                memory_bytes: settings.plugin_memory_bytes,
                output_bytes: settings.plugin_output_bytes,
            },
            max_memory_bytes: settings.plugin_memory_bytes,
            quarantine_after: settings.plugin_quarantine_after.max(1),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            compiled: Mutex::default(),
            logs: Mutex::default(),
            stats: Mutex::default(),
            revision: AtomicU64::new(u64::MAX),
            syncing: tokio::sync::Mutex::new(()),
        })
    }

    /// A tenant's active plugins (empty if none).
    pub fn tenant(&self, tenant: &str) -> Option<Arc<TenantPlugins>> {
        self.snapshot.load().tenants.get(tenant).cloned()
    }

    /// The log of a tenant's plugin (created on first use).
    pub fn log(&self, tenant: &str, name: &str) -> Arc<PluginLog> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.entry((tenant.to_owned(), name.to_owned()))
            .or_default()
            .clone()
    }

    /// The counters of a tenant's plugin (created on first use).
    pub fn stats(&self, tenant: &str, name: &str) -> Arc<PluginStats> {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats
            .entry((tenant.to_owned(), name.to_owned()))
            .or_insert_with(|| Arc::new(PluginStats::new(tenant, name)))
            .clone()
    }

    /// Every plugin of `tenant` with counters on this node.
    pub fn tenant_stats(&self, tenant: &str) -> Vec<(String, Arc<PluginStats>)> {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<_> = stats
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, name), s)| (name.clone(), s.clone()))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Forgets the log and counters of a deleted plugin.
    pub fn forget(&self, tenant: &str, name: &str) {
        let key = (tenant.to_owned(), name.to_owned());
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    /// Validates and compiles an uploaded component, keeping the result
    /// for the activation that usually follows.
    pub async fn load(&self, wasm: &[u8]) -> Result<Arc<Compiled>, UploadError> {
        let compiled = self.runtime.load(wasm).await?;
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(compiled.digest.clone(), compiled.clone());
        Ok(compiled)
    }

    /// The compiled component of `digest`: from memory, else from the
    /// store (and the runtime's disk cache).
    async fn compiled(&self, digest: &str) -> Result<Arc<Compiled>, String> {
        if let Some(found) = self
            .compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            return Ok(found.clone());
        }
        let wasm = match self.store.wasm(digest).await {
            Ok(Some(wasm)) => wasm,
            Ok(None) => return Err(format!("the component {digest} is not in the store")),
            Err(error) => return Err(error.to_string()),
        };
        let compiled = self
            .runtime
            .load(&wasm)
            .await
            .map_err(|e| e.reasons.join("; "))?;
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_owned(), compiled.clone());
        Ok(compiled)
    }

    /// The limits of one activation: the node's defaults, raised or
    /// lowered by the tenant's limits (set by an admin), then lowered (never
    /// raised) by the activation's own.
    pub fn limits(&self, tenant: Option<&TenantLimits>, own: &LimitOverrides) -> Limits {
        let d = &self.defaults;
        let t = tenant.cloned().unwrap_or_default();
        let ceiling = Limits {
            timeout: t.plugin_timeout_ms.map_or(d.timeout, Duration::from_millis),
            fuel: t.plugin_fuel.unwrap_or(d.fuel),
            memory_bytes: t
                .plugin_memory_bytes
                .map_or(d.memory_bytes, |b| usize::try_from(b).unwrap_or(usize::MAX))
                .min(self.max_memory_bytes),
            output_bytes: t
                .plugin_output_bytes
                .map_or(d.output_bytes, |b| usize::try_from(b).unwrap_or(usize::MAX)),
        };
        let lower = |own: Option<u64>, ceiling: u64| own.map_or(ceiling, |o| o.min(ceiling));
        Limits {
            timeout: own.timeout_ms.map_or(ceiling.timeout, |ms| {
                Duration::from_millis(ms).min(ceiling.timeout)
            }),
            fuel: lower(own.fuel, ceiling.fuel),
            memory_bytes: lower(own.memory_bytes, ceiling.memory_bytes as u64) as usize,
            output_bytes: lower(own.output_bytes, ceiling.output_bytes as u64) as usize,
        }
    }

    /// Rebuilds the snapshot from the store if its revision moved (or
    /// `force`). Returns whether it rebuilt.
    pub async fn sync(&self, force: bool) -> Result<bool, StoreError> {
        let _one_at_a_time = self.syncing.lock().await;
        let revision = self.store.revision().await?;
        if !force && revision == self.revision.load(Ordering::Acquire) {
            return Ok(false);
        }
        let records = self.store.active().await?;
        let old = self.snapshot.load_full();
        let mut tenants: HashMap<String, Vec<Arc<Active>>> = HashMap::new();
        let mut limits_of: HashMap<String, Option<TenantLimits>> = HashMap::new();
        for (tenant, record) in records {
            let Some(activation) = record.activation.clone() else {
                continue;
            };
            if !limits_of.contains_key(&tenant) {
                let limits = match self.tenants.get(&tenant).await {
                    Ok(found) => found.and_then(|t| t.limits),
                    Err(_) => None,
                };
                limits_of.insert(tenant.clone(), limits);
            }
            let tenant_limits = limits_of.get(&tenant).cloned().flatten();
            let limits = self.limits(tenant_limits.as_ref(), &activation.limits);
            match self
                .activate(
                    &tenant,
                    &record,
                    &activation,
                    limits,
                    old.tenants.get(&tenant),
                )
                .await
            {
                Ok(active) => tenants.entry(tenant).or_default().push(active),
                Err(reason) => {
                    tracing::error!(%tenant, plugin = %record.name, version = activation.version, %reason, "cannot load an active plugin; it is not running on this node");
                    self.log(&tenant, &record.name).host(
                        LogLevel::Error,
                        format!("cannot load version {}: {reason}", activation.version),
                    );
                }
            }
        }
        let tenants = tenants
            .into_iter()
            .map(|(tenant, mut active)| {
                active.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.name.cmp(&b.name)));
                (tenant, Arc::new(TenantPlugins { active }))
            })
            .collect();
        self.snapshot.store(Arc::new(Snapshot { tenants }));
        self.revision.store(revision, Ordering::Release);
        self.prune_compiled();
        Ok(true)
    }

    /// One activation, reusing the running plugin when only its routing
    /// (types, order, policy) changed.
    async fn activate(
        &self,
        tenant: &str,
        record: &PluginRecord,
        activation: &Activation,
        limits: Limits,
        old: Option<&Arc<TenantPlugins>>,
    ) -> Result<Arc<Active>, String> {
        let version = record
            .versions
            .iter()
            .find(|v| v.version == activation.version)
            .ok_or_else(|| format!("version {} does not exist", activation.version))?;
        let types = TypePatterns::parse(&activation.types)?;
        let reusable = old.and_then(|old| {
            old.active.iter().find(|a| {
                a.name == record.name
                    && a.version == version.version
                    && a.digest == version.digest
                    && a.limits == limits
            })
        });
        let plugin = match reusable {
            Some(running) => running.plugin.clone(),
            None => {
                let compiled = self.compiled(&version.digest).await?;
                let plugin =
                    self.runtime
                        .plugin(compiled, limits.clone(), self.log(tenant, &record.name));
                // A warm instance before the first event needs one.
                let warming = plugin.clone();
                tokio::spawn(async move { warming.warm().await });
                plugin
            }
        };
        // Failures in a row survive a rebuild caused by any other change
        // (another plugin, another tenant); a new activation starts over, as
        // does the lifting of a quarantine.
        let failures = reusable.map_or(0, |r| {
            let same_activation = r.activated_ms == activation.activated_ms;
            let lifted = r.is_quarantined() && record.quarantine.is_none();
            if record.quarantine.is_some() || (same_activation && !lifted) {
                r.failures.load(Ordering::Relaxed)
            } else {
                0
            }
        });
        Ok(Arc::new(Active {
            tenant: tenant.to_owned(),
            name: record.name.clone(),
            version: version.version,
            digest: version.digest.clone(),
            order: activation.order,
            on_error: activation.on_error,
            types,
            plugin,
            limits,
            activated_ms: activation.activated_ms,
            failures: AtomicU32::new(failures),
            quarantined: AtomicBool::new(record.quarantine.is_some()),
            stats: self.stats(tenant, &record.name),
            log: self.log(tenant, &record.name),
        }))
    }

    /// Drops compiled components no active plugin uses any more.
    fn prune_compiled(&self) {
        let snapshot = self.snapshot.load();
        let in_use: std::collections::HashSet<&str> = snapshot
            .tenants
            .values()
            .flat_map(|t| t.active.iter().map(|a| a.digest.as_str()))
            .collect();
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|digest, _| in_use.contains(digest.as_str()));
    }

    /// Follows changes made on other nodes.
    pub fn watch(self: &Arc<Self>, every: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
        let plugins = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                match plugins.sync(false).await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("plugin store reachable again");
                    }
                    Ok(_) => {}
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "plugin store unreachable; running the last plugins");
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// Records a failure of `active`; quarantines it after
    /// `quarantine_after` in a row (in the store, so every node skips it).
    pub async fn failed(&self, active: &Active, code: &str, reason: &str) {
        active.log.host(
            LogLevel::Error,
            format!("version {} failed ({code}): {reason}", active.version),
        );
        let in_a_row = active.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row < self.quarantine_after || active.quarantined.swap(true, Ordering::Relaxed) {
            return;
        }
        let reason = format!("{in_a_row} failures in a row; last: {code}: {reason}");
        tracing::warn!(tenant = %active.tenant, plugin = %active.name, version = active.version, %reason, "plugin quarantined");
        active.log.host(
            LogLevel::Error,
            format!("quarantined after {reason}; activate it again to resume"),
        );
        let quarantine = super::store::Quarantine {
            since_ms: crate::log::now_ms(),
            reason,
            failures: in_a_row,
        };
        if let Err(error) = self
            .store
            .set_quarantine(&active.tenant, &active.name, Some(quarantine))
            .await
        {
            tracing::warn!(tenant = %active.tenant, plugin = %active.name, %error, "cannot record the quarantine; it holds on this node only");
        }
    }

    /// Writes a dead letter of `tenant` and counts it for its plugin.
    /// `key` is the event's idempotency key, if it has one.
    pub async fn dead_letter(
        &self,
        tenant: &str,
        letter: super::dead_letters::DeadLetter,
        key: Option<String>,
    ) -> Result<(), crate::log::LogError> {
        let stats = self.stats(tenant, &letter.plugin);
        let code = letter.code.clone();
        self.dead_letters
            .put_once(tenant, letter, key)
            .await
            .map_err(|e| match e {
                super::dead_letters::DeadLetterError::Log(e) => e,
                other => crate::log::LogError::internal(other),
            })?;
        stats.dead_lettered(&code);
        Ok(())
    }

    /// Records a success of `active`: the failures in a row start over.
    pub fn succeeded(&self, active: &Active) {
        if active.failures.load(Ordering::Relaxed) != 0 {
            active.failures.store(0, Ordering::Relaxed);
        }
    }
}
