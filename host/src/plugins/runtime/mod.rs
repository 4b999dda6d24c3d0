//! The WebAssembly runtime of tenant plugins: one wasmtime [`Engine`] per
//! process (async, fuel, epoch interruption, pooling allocator), upload
//! validation and compilation ([`Runtime::load`]), and per-tenant
//! [`Plugin`]s that call a component's hooks under limits.
//!
//! # Layout
//! - `types.rs`: plain host types — events, outcomes, [`Limits`],
//!   [`Failure`], [`LogSink`].
//! - `wit.rs`: the only `bindgen!` (world `host` of `wit/plugin.wit`) and
//!   conversions to and from the host types.
//! - `inspect.rs`: upload checks before compiling — size, component or
//!   not, imports allow-list, required exports.
//! - `cache.rs`: compiled artifacts on disk by digest.
//! - `sandbox.rs`: what a `Store` holds — locked-down WASI, bounded
//!   stdout/stderr capture, memory limiter, per-call deadline and log budget.
//! - `instance.rs`: [`Plugin`] — the idle-instance pool and calls with limits.

mod cache;
mod inspect;
mod instance;
mod sandbox;
mod types;
mod wit;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::{ARTIFACT_EXTENSION, MAX_ARTIFACT_BYTES};
pub use inspect::{ALLOWED_BEACON, ALLOWED_WASI, MAX_REASONS};
pub use instance::{MAX_ACTIVE_PER_PLUGIN, MAX_IDLE_PER_PLUGIN, Plugin};
pub use sandbox::{MAX_CAPTURE_BYTES, MAX_LINE_BYTES, MAX_LINES_PER_CALL, MAX_TABLE_ELEMENTS};
pub use types::{
    Call, DEFAULT_FUEL, DEFAULT_MEMORY_BYTES, DEFAULT_OUTPUT_BYTES, DEFAULT_TIMEOUT, Failure, Hook,
    Hooks, Info, Limits, LogLevel, LogLine, LogSink, LogSource, MAX_REASON_BYTES, PluginEvent,
    PublishOutcome, Subscriber,
};

use instance::{IdleBudget, Instance};
use sandbox::Sandbox;

/// Default largest upload: the node's default (see `config`).
pub const DEFAULT_MAX_COMPONENT_BYTES: usize = crate::config::DEFAULT_MAX_PLUGIN_BYTES;

/// Default number of component instances alive at once, idle ones
/// included (slots of the pooling allocator).
pub const DEFAULT_MAX_INSTANCES: u32 = 1000;

/// Default ceiling of any plugin's memory limit (the pool's slot size).
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 256 * 1024 * 1024;

/// How often the epoch ticker thread advances the engine's epoch. Every
/// tick, a running guest yields to the async executor (so a long call
/// never holds a tokio worker for more than a tick) and checks its
/// deadline, so a timeout is precise to about a tick. 2 ms keeps both
/// tight for a 50 ms default timeout while the thread wakes only 500
/// times a second.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Compilations running at once (each is itself parallel and CPU-bound).
pub const MAX_CONCURRENT_COMPILES: usize = 2;

/// Core instances per component: a Rust component has its main module
/// plus a few small adapter modules; JavaScript components a few more.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 16;

/// Average core instances per component, to size the pool's total.
const AVERAGE_CORE_INSTANCES_PER_COMPONENT: u32 = 4;

/// Linear memories per component (the main module's, and one spare).
const MAX_MEMORIES_PER_COMPONENT: u32 = 2;

/// Tables per component (the main module's and the adapters').
const MAX_TABLES_PER_COMPONENT: u32 = 8;

/// Average tables per component, to size the pool's total.
const AVERAGE_TABLES_PER_COMPONENT: u32 = 3;

/// Tables per core module (reference types allow several).
const MAX_TABLES_PER_MODULE: u32 = 2;

/// Share of the instance slots idle instances may hold, in percent; the
/// rest stays free for instances being created.
const MAX_IDLE_SHARE_PERCENT: u32 = 50;

/// Wall time for instantiating and describing a component at upload
/// (generous: uploads are rare, and a busy node must not refuse a good
/// plugin).
const UPLOAD_DESCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most bytes of a plugin's `describe` strings.
const MAX_INFO_NAME_BYTES: usize = 128;
const MAX_INFO_VERSION_BYTES: usize = 64;
const MAX_INFO_TYPES: usize = 64;
const MAX_INFO_TYPE_BYTES: usize = 256;

/// The runtime's settings (from the node's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled artifacts are kept (`<dir>/<digest hex>-<engine>.cwasm`);
    /// `None`: compile every load.
    pub cache_dir: Option<PathBuf>,
    /// Largest component accepted by [`Runtime::load`].
    pub max_component_bytes: usize,
    /// Component instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Ceiling of any [`Limits::memory_bytes`]: the size of a memory slot.
    pub max_memory_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
            max_instances: DEFAULT_MAX_INSTANCES,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
        }
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid plugin runtime settings: {0}")]
    Config(String),
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),
    #[error("cannot open the compiled-plugin cache in {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
}

/// Why an upload was refused: every problem found, as sentences.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", reasons.join("; "))]
pub struct UploadError {
    /// One sentence per problem (at most [`MAX_REASONS`]).
    pub reasons: Vec<String>,
    /// The upload is larger than [`RuntimeConfig::max_component_bytes`]
    /// (answer 413 rather than 400).
    pub too_large: bool,
}

impl UploadError {
    fn one(reason: String) -> UploadError {
        UploadError {
            reasons: vec![reason],
            too_large: false,
        }
    }
}

/// A validated, compiled component and what it said about itself; shared
/// by every [`Plugin`] (of any tenant) made from the same bytes.
pub struct Compiled {
    /// `sha256:<64 hex>` of the uploaded bytes.
    pub digest: String,
    /// The hooks it exports.
    pub hooks: Hooks,
    /// Its `describe` answer.
    pub info: Info,
    /// Loaded from the disk cache rather than compiled.
    pub from_cache: bool,
    /// Linked against the host's imports, ready to instantiate.
    pre: InstancePre<Sandbox>,
    /// Where its exports are.
    exports: wit::Exports,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("digest", &self.digest)
            .field("hooks", &self.hooks)
            .field("info", &self.info)
            .field("from_cache", &self.from_cache)
            .finish_non_exhaustive()
    }
}

/// The process's plugin runtime. Create one with [`Runtime::new`]; drop it
/// after the plugins made from it (its epoch ticker stops with it, and
/// only the per-call tokio timeout then bounds a call).
pub struct Runtime {
    engine: Engine,
    /// The host's imports: contract (`log`, `types`) and allowed WASI.
    linker: Linker<Sandbox>,
    config: RuntimeConfig,
    cache: Option<Arc<cache::Cache>>,
    /// Turns to compile ([`MAX_CONCURRENT_COMPILES`]).
    compiles: tokio::sync::Semaphore,
    /// Idle instances across all plugins.
    idle: Arc<IdleBudget>,
    _ticker: Ticker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("idle", &self.idle.used())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Creates the engine, the linker and the cache, and starts the epoch
    /// ticker thread.
    pub fn new(config: RuntimeConfig) -> Result<Arc<Runtime>, RuntimeError> {
        if config.max_instances == 0 {
            return Err(RuntimeError::Config(
                "max_instances must be at least 1".into(),
            ));
        }
        if config.max_memory_bytes < 64 * 1024 {
            return Err(RuntimeError::Config(
                "max_memory_bytes must be at least one wasm page (64 KiB)".into(),
            ));
        }
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| RuntimeError::Engine(instance::error_text(&e)))?;
        let mut linker = Linker::new(&engine);
        wit::add_to_linker(&mut linker)
            .and_then(|()| Sandbox::add_wasi_to_linker(&mut linker))
            .map_err(|e| RuntimeError::Engine(instance::error_text(&e)))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(Arc::new(cache::Cache::open(dir, &engine).map_err(
                |source| RuntimeError::Cache {
                    path: dir.clone(),
                    source,
                },
            )?)),
            None => None,
        };
        let idle_max = config.max_instances.saturating_mul(MAX_IDLE_SHARE_PERCENT) / 100;
        let ticker = Ticker::start(engine.clone()).map_err(RuntimeError::Ticker)?;
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache,
            compiles: tokio::sync::Semaphore::new(MAX_CONCURRENT_COMPILES),
            idle: Arc::new(IdleBudget::new(idle_max as usize)),
            config,
            _ticker: ticker,
        }))
    }

    /// The content address of a component: `sha256:<64 hex>`.
    pub fn digest(wasm: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(wasm)))
    }

    /// The settings the runtime was made with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Validates an upload, compiles it (on a blocking thread; a disk cache
    /// hit deserialises instead), links it, and calls `describe` once.
    pub async fn load(&self, wasm: &[u8]) -> Result<Arc<Compiled>, UploadError> {
        self.load_checked(wasm, inspect::is_allowed_import).await
    }

    /// [`Runtime::load`] with another import allow-list.
    async fn load_checked(
        &self,
        wasm: &[u8],
        allowed: impl Fn(&str) -> bool,
    ) -> Result<Arc<Compiled>, UploadError> {
        inspect::check(wasm, self.config.max_component_bytes, allowed)?;
        let digest = Runtime::digest(wasm);
        let (component, from_cache) = self
            .compile(&digest, wasm)
            .await
            .map_err(UploadError::one)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            UploadError::one(format!(
                "the component's imports do not match what the host provides: {}",
                instance::error_text(&e)
            ))
        })?;
        let exports = wit::Exports::new(&pre).map_err(|reasons| UploadError {
            reasons,
            too_large: false,
        })?;
        let hooks = exports.hooks();
        let limits = self.clamp(Limits {
            timeout: UPLOAD_DESCRIBE_TIMEOUT,
            ..Limits::default()
        });
        let sink: Arc<dyn LogSink> = Arc::new(UploadLog {
            digest: digest.clone(),
        });
        let mut instance = match Instance::new(&pre, &exports, &limits, sink).await {
            Ok(instance) => instance,
            Err(instance::NewInstanceError::Exports(reason)) => {
                return Err(UploadError::one(reason));
            }
            Err(instance::NewInstanceError::Failed(failure)) => {
                return Err(UploadError::one(format!(
                    "instantiating the component failed: {failure}"
                )));
            }
        };
        let info = instance
            .describe(&limits)
            .await
            .map_err(|failure| UploadError::one(format!("calling `describe` failed: {failure}")))?;
        let problems = info_problems(&info);
        if !problems.is_empty() {
            return Err(UploadError {
                reasons: problems,
                too_large: false,
            });
        }
        tracing::debug!(%digest, from_cache, name = %info.name, hooks = ?hooks.list(), "plugin loaded");
        Ok(Arc::new(Compiled {
            digest,
            hooks,
            info,
            from_cache,
            pre,
            exports,
        }))
    }

    /// Compiles `wasm`, or loads its artifact from the cache.
    async fn compile(&self, digest: &str, wasm: &[u8]) -> Result<(Component, bool), String> {
        let _turn = self
            .compiles
            .acquire()
            .await
            .map_err(|_| "the plugin runtime is shutting down".to_owned())?;
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let digest = digest.to_owned();
        let wasm = wasm.to_vec();
        tokio::task::spawn_blocking(move || {
            if let Some(cache) = &cache
                && let Some(component) = cache.get(&engine, &digest)
            {
                return Ok((component, true));
            }
            let component = Component::new(&engine, &wasm).map_err(|e| {
                format!(
                    "the component does not compile: {}",
                    instance::error_text(&e)
                )
            })?;
            if let Some(cache) = &cache {
                cache.put(&digest, &component);
            }
            Ok((component, false))
        })
        .await
        .map_err(|e| format!("compiling the component failed: {e}"))?
    }

    /// A tenant's plugin made from `compiled`, calling with `limits` (the
    /// memory limit is lowered to [`RuntimeConfig::max_memory_bytes`]) and
    /// writing its log lines to `log`.
    pub fn plugin(
        &self,
        compiled: Arc<Compiled>,
        limits: Limits,
        log: Arc<dyn LogSink>,
    ) -> Arc<Plugin> {
        Arc::new(Plugin::new(
            compiled,
            self.clamp(limits),
            log,
            self.idle.clone(),
        ))
    }

    fn clamp(&self, mut limits: Limits) -> Limits {
        limits.memory_bytes = limits.memory_bytes.min(self.config.max_memory_bytes);
        limits
    }
}

/// The engine settings: async calls, fuel, epoch interruption, pooling.
fn engine_config(config: &RuntimeConfig) -> Config {
    let instances = config.max_instances;
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        .total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(AVERAGE_CORE_INSTANCES_PER_COMPONENT))
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .total_memories(instances)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_memory_size(config.max_memory_bytes)
        .total_tables(instances.saturating_mul(AVERAGE_TABLES_PER_COMPONENT))
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_tables_per_module(MAX_TABLES_PER_MODULE)
        .table_elements(MAX_TABLE_ELEMENTS)
        .total_stacks(instances);
    let mut engine = Config::new();
    // Async support is always on in wasmtime 48 (`Config::async_support`
    // is deprecated and does nothing); calls go through `call_async`.
    engine
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    engine
}

/// Reasons a `describe` answer is unacceptable.
fn info_problems(info: &Info) -> Vec<String> {
    let mut problems = Vec::new();
    if info.name.trim().is_empty() {
        problems.push("`describe` returned an empty name".to_owned());
    }
    if info.name.len() > MAX_INFO_NAME_BYTES {
        problems.push(format!(
            "`describe` returned a name longer than {MAX_INFO_NAME_BYTES} bytes"
        ));
    }
    if info.version.len() > MAX_INFO_VERSION_BYTES {
        problems.push(format!(
            "`describe` returned a version longer than {MAX_INFO_VERSION_BYTES} bytes"
        ));
    }
    if info.types.len() > MAX_INFO_TYPES {
        problems.push(format!(
            "`describe` returned more than {MAX_INFO_TYPES} type patterns"
        ));
    }
    if info.types.iter().any(|t| t.len() > MAX_INFO_TYPE_BYTES) {
        problems.push(format!(
            "`describe` returned a type pattern longer than {MAX_INFO_TYPE_BYTES} bytes"
        ));
    }
    problems
}

/// Log lines written while `describe` runs at upload go to the host's log.
struct UploadLog {
    digest: String,
}

impl LogSink for UploadLog {
    fn line(&self, line: LogLine) {
        tracing::debug!(digest = %self.digest, source = ?line.source, level = ?line.level, message = %line.message, "plugin output at upload");
    }
}

/// The thread that advances the engine's epoch every [`EPOCH_TICK`]; it
/// stops (and is joined, within a tick) when dropped.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Ticker> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                // Disconnected (the sender dropped) ends the loop.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Instant;

    use super::*;

    /// A component built by `plugins/build.sh` (into `target/plugins/`).
    pub(crate) fn component(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/plugins")
            .join(format!("{name}.wasm"));
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}; run `bash plugins/build.sh` first",
                path.display()
            )
        })
    }

    /// A small runtime for tests (few pool slots, so many can coexist).
    pub(crate) fn runtime(cache_dir: Option<PathBuf>) -> Arc<Runtime> {
        Runtime::new(RuntimeConfig {
            cache_dir,
            max_instances: 32,
            ..RuntimeConfig::default()
        })
        .unwrap()
    }

    /// The Rust examples of `plugins/examples`.
    const RUST_EXAMPLES: &[&str] = &[
        "converter",
        "display-amount",
        "misbehave",
        "pii-redact",
        "vip-only",
    ];

    #[tokio::test]
    async fn loads_describes_and_finds_hooks() {
        let runtime = runtime(None);
        let wasm = component("display-amount");
        let compiled = runtime.load(&wasm).await.unwrap();
        assert_eq!(compiled.digest, Runtime::digest(&wasm));
        assert!(compiled.digest.starts_with("sha256:") && compiled.digest.len() == 71);
        assert_eq!(compiled.info.name, "display-amount");
        assert!(compiled.info.types.contains(&"payment.*".to_owned()));
        assert_eq!(
            compiled.hooks,
            Hooks {
                publish: true,
                convert: false,
                deliver: false
            }
        );
        assert!(!compiled.from_cache);
        let vip = runtime.load(&component("vip-only")).await.unwrap();
        assert_eq!(vip.hooks.list(), [Hook::Deliver]);
        let converter = runtime.load(&component("converter")).await.unwrap();
        assert_eq!(converter.hooks.list(), [Hook::Convert]);
        assert_eq!(converter.info.types, ["order.created"]);
    }

    #[tokio::test]
    async fn rust_examples_import_only_allowed_interfaces() {
        let mut all = std::collections::BTreeSet::new();
        for name in RUST_EXAMPLES {
            let scan = inspect::check(&component(name), usize::MAX, |_| true).unwrap();
            for import in scan.imports {
                assert!(
                    inspect::is_allowed_import(&import),
                    "{name} imports {import}"
                );
                all.insert(import);
            }
        }
        println!("imports of the Rust examples: {all:#?}");
        assert!(all.iter().any(|i| i.starts_with("beacon:plugin/log@")));
    }

    #[tokio::test]
    async fn refuses_forbidden_imports_naming_them() {
        let runtime = runtime(None);
        // A real component judged by a stricter allow-list.
        let error = runtime
            .load_checked(&component("display-amount"), |name| {
                inspect::is_allowed_import(name) && !name.starts_with("wasi:cli/environment@")
            })
            .await
            .unwrap_err();
        assert!(!error.too_large);
        assert_eq!(error.reasons.len(), 1, "{error:?}");
        assert!(
            error.reasons[0].contains("`wasi:cli/environment@0.2."),
            "{error:?}"
        );
        // A component importing sockets and HTTP, exporting nothing.
        let wasm = inspect::tests::component_importing(&[
            "wasi:sockets/tcp@0.2.0",
            "wasi:http/outgoing-handler@0.2.0",
        ]);
        let error = runtime.load(&wasm).await.unwrap_err();
        let all = error.reasons.join("\n");
        assert_eq!(error.reasons.len(), 4, "{all}");
        assert!(all.contains("`wasi:sockets/tcp@0.2.0`: plugins have no network access"));
        assert!(all.contains("`wasi:http/outgoing-handler@0.2.0`"));
        assert!(all.contains("does not export `beacon:plugin/plugin@0.1.0`"));
        assert!(all.contains("exports no hook"));
    }

    #[tokio::test]
    async fn refuses_core_modules_garbage_and_oversized_uploads() {
        let runtime = runtime(None);
        let core = runtime.load(b"\0asm\x01\0\0\0").await.unwrap_err();
        assert!(
            core.reasons[0].contains("core WebAssembly module"),
            "{core:?}"
        );
        let garbage = runtime.load(b"definitely not wasm").await.unwrap_err();
        assert!(
            garbage.reasons[0].contains("not a WebAssembly binary"),
            "{garbage:?}"
        );
        // Well-formed enough for the scan, but does not validate.
        let dangling = runtime
            .load(&inspect::tests::component_with_dangling_exports())
            .await
            .unwrap_err();
        assert_eq!(dangling.reasons.len(), 1, "{dangling:?}");
        assert!(
            dangling.reasons[0].contains("does not compile"),
            "{dangling:?}"
        );
        let small = Runtime::new(RuntimeConfig {
            max_component_bytes: 1000,
            max_instances: 4,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let large = small.load(&component("display-amount")).await.unwrap_err();
        assert!(large.too_large, "{large:?}");
    }

    #[tokio::test]
    async fn cache_hits_and_recovers_from_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = component("display-amount");
        let digest = Runtime::digest(&wasm);
        {
            let runtime = runtime(Some(dir.path().to_owned()));
            assert!(!runtime.load(&wasm).await.unwrap().from_cache);
            assert!(runtime.load(&wasm).await.unwrap().from_cache);
        }
        // A new process (runtime) finds the artifact too.
        let runtime = runtime(Some(dir.path().to_owned()));
        let path = runtime.cache.as_ref().unwrap().path(&digest).unwrap();
        assert!(path.exists());
        let compiled = runtime.load(&wasm).await.unwrap();
        assert!(compiled.from_cache);
        assert_eq!(compiled.info.name, "display-amount");
        // Corrupt it: ignored, compiled again, rewritten.
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        assert!(!runtime.load(&wasm).await.unwrap().from_cache);
        assert!(runtime.load(&wasm).await.unwrap().from_cache);
        // Truncated, and garbage.
        std::fs::write(&path, &bytes[..100]).unwrap();
        assert!(!runtime.load(&wasm).await.unwrap().from_cache);
        std::fs::write(&path, b"garbage").unwrap();
        assert!(!runtime.load(&wasm).await.unwrap().from_cache);
        let plugin = runtime.plugin(
            runtime.load(&wasm).await.unwrap(),
            Limits::default(),
            Arc::new(sandbox::tests::Lines::default()),
        );
        assert!(
            plugin
                .on_publish(&PluginEvent::default())
                .await
                .result
                .is_ok()
        );
    }

    #[tokio::test]
    async fn memory_limits_are_capped_by_the_pool() {
        let runtime = Runtime::new(RuntimeConfig {
            max_memory_bytes: 32 << 20,
            max_instances: 4,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let compiled = runtime.load(&component("display-amount")).await.unwrap();
        let plugin = runtime.plugin(
            compiled,
            Limits {
                memory_bytes: 1 << 30,
                ..Limits::default()
            },
            Arc::new(sandbox::tests::Lines::default()),
        );
        assert_eq!(plugin.limits().memory_bytes, 32 << 20);
    }

    #[test]
    fn bad_settings_are_refused_and_the_ticker_stops() {
        let zero = Runtime::new(RuntimeConfig {
            max_instances: 0,
            ..RuntimeConfig::default()
        });
        assert!(matches!(zero, Err(RuntimeError::Config(_))));
        let runtime = runtime(None);
        let started = Instant::now();
        drop(runtime);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn describe_answers_are_bounded() {
        let ok = Info {
            name: "x".into(),
            version: "1.0.0".into(),
            types: vec!["a.*".into()],
        };
        assert!(info_problems(&ok).is_empty());
        let bad = Info {
            name: " ".into(),
            version: "v".repeat(MAX_INFO_VERSION_BYTES + 1),
            types: vec!["t".repeat(MAX_INFO_TYPE_BYTES + 1); MAX_INFO_TYPES + 1],
        };
        assert_eq!(info_problems(&bad).len(), 4);
    }
}
