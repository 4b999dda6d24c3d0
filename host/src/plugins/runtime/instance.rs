//! [`Plugin`]: one tenant's plugin version, ready to call. It keeps a small
//! pool of idle instances (creating an instance costs several times a
//! call), runs each call with the tenant's limits, checks the answer, and
//! throws away any instance whose call failed.
//!
//! Per call: fuel is reset to [`Limits::fuel`]; the deadline is
//! `now + Limits::timeout`; at every epoch tick (see
//! [`EPOCH_TICK`](super::EPOCH_TICK)) a running guest yields to the async
//! executor, or traps once past the deadline. A guest waiting in a host
//! call (e.g. a WASI sleep) runs no wasm, so the whole call is also wrapped
//! in a [`tokio::time::timeout`] of the same length.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::de::IgnoredAny;
use wasmtime::component::InstancePre;
use wasmtime::{PoolConcurrencyLimitError, Store, Trap};

use super::Compiled;
use super::sandbox::{DeadlinePassed, Sandbox};
use super::types::{
    Call, Failure, Hook, Info, Limits, LogSink, MAX_REASON_BYTES, PluginEvent, PublishOutcome,
    Subscriber, truncate,
};
use super::wit::{self, Exports, Guests};

/// Idle instances kept per plugin; more are dropped after their call.
pub const MAX_IDLE_PER_PLUGIN: usize = 4;

/// Calls of one plugin running at once; more wait (within their timeout)
/// for a turn, so one busy tenant cannot take every instance slot.
pub const MAX_ACTIVE_PER_PLUGIN: usize = 16;

/// Longest error text kept in a [`Failure::Trap`].
const MAX_ERROR_BYTES: usize = 2048;

/// Idle instances across every plugin of a runtime. Idle instances hold
/// slots of the pooling allocator; this budget keeps enough free for new
/// instances.
#[derive(Debug)]
pub(super) struct IdleBudget {
    max: usize,
    used: AtomicUsize,
}

impl IdleBudget {
    pub(super) fn new(max: usize) -> IdleBudget {
        IdleBudget {
            max,
            used: AtomicUsize::new(0),
        }
    }

    fn try_take(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.max).then_some(used + 1)
            })
            .is_ok()
    }

    fn give_back(&self, count: usize) {
        self.used.fetch_sub(count, Ordering::AcqRel);
    }

    /// Idle instances currently held.
    pub(super) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// One instance of a component in its own store.
pub(super) struct Instance {
    store: Store<Sandbox>,
    guests: Guests,
}

/// Least wall time an instantiation gets, whatever the call timeout: a
/// JavaScript component maps tens of MiB of initialised memory, which on a
/// busy node can take longer than a call may, and that start-up is the
/// host's cost, not the plugin's behaviour.
pub(super) const MIN_INSTANTIATE_TIMEOUT: Duration = Duration::from_secs(1);
/// Least fuel an instantiation gets (start functions of large components).
pub(super) const MIN_INSTANTIATE_FUEL: u64 = 1_000_000_000;

impl Instance {
    /// Instantiates `pre` with `limits` (the instantiation gets its own
    /// fuel and deadline, at least [`MIN_INSTANTIATE_TIMEOUT`] and
    /// [`MIN_INSTANTIATE_FUEL`]) and finds its exports.
    pub(super) async fn new(
        pre: &InstancePre<Sandbox>,
        exports: &Exports,
        limits: &Limits,
        sink: Arc<dyn LogSink>,
    ) -> Result<Instance, NewInstanceError> {
        let limits = &Limits {
            timeout: limits.timeout.max(MIN_INSTANTIATE_TIMEOUT),
            fuel: limits.fuel.max(MIN_INSTANTIATE_FUEL),
            ..limits.clone()
        };
        let mut store = Sandbox::store(pre.engine(), limits.memory_bytes, sink);
        prepare(&mut store, limits)?;
        let outcome = tokio::time::timeout(limits.timeout, pre.instantiate_async(&mut store)).await;
        let output = store.data_mut().finish_call();
        let instance = match outcome {
            Err(_) => return Err(Failure::Timeout.into()),
            Ok(Err(error)) => {
                return Err(classify(&error, store.data().refused_grow(), output.panic).into());
            }
            Ok(Ok(instance)) => instance,
        };
        let guests = exports.load(&mut store, &instance).map_err(|error| {
            NewInstanceError::Exports(format!(
                "the component's exports do not match the contract: {}",
                error_text(&error)
            ))
        })?;
        Ok(Instance { store, guests })
    }

    /// Runs one guest function with fresh fuel and deadline; classifies a
    /// failure and forwards the captured output.
    pub(super) async fn run<R>(
        &mut self,
        limits: &Limits,
        invoke: impl for<'a> FnOnce(&'a mut Instance) -> BoxFuture<'a, wasmtime::Result<R>>,
    ) -> Result<R, Failure> {
        prepare(&mut self.store, limits)?;
        let outcome = tokio::time::timeout(limits.timeout, invoke(self)).await;
        let output = self.store.data_mut().finish_call();
        match outcome {
            Err(_) => Err(Failure::Timeout),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(classify(
                &error,
                self.store.data().refused_grow(),
                output.panic,
            )),
        }
    }

    /// Calls `describe`.
    pub(super) async fn describe(&mut self, limits: &Limits) -> Result<Info, Failure> {
        self.run(limits, |instance| {
            Box::pin(async move {
                let Instance { store, guests } = instance;
                Ok(guests.plugin.call_describe(store).await?.into())
            })
        })
        .await
    }
}

/// Why an instance could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewInstanceError {
    /// Instantiation failed like a call can (trap, timeout, pool full…).
    Failed(Failure),
    /// The exports' types do not match the contract (found at upload).
    Exports(String),
}

impl From<Failure> for NewInstanceError {
    fn from(failure: Failure) -> Self {
        NewInstanceError::Failed(failure)
    }
}

impl From<NewInstanceError> for Failure {
    fn from(error: NewInstanceError) -> Self {
        match error {
            NewInstanceError::Failed(failure) => failure,
            NewInstanceError::Exports(reason) => Failure::Trap(reason),
        }
    }
}

/// Fresh fuel and deadline for the next call on `store`.
fn prepare(store: &mut Store<Sandbox>, limits: &Limits) -> Result<(), Failure> {
    store
        .set_fuel(limits.fuel)
        .map_err(|e| Failure::Unavailable(format!("cannot set fuel: {e}")))?;
    store.data_mut().begin_call(limits.timeout);
    // The callback runs at the next tick: it yields, or fails the call
    // once past the deadline.
    store.set_epoch_deadline(1);
    Ok(())
}

/// What went wrong in a call, from wasmtime's error and what the sandbox
/// saw (a refused memory grow, a panic message on stderr).
fn classify(error: &wasmtime::Error, refused_grow: bool, panic: Option<String>) -> Failure {
    if error.downcast_ref::<DeadlinePassed>().is_some() {
        return Failure::Timeout;
    }
    if let Some(full) = error.downcast_ref::<PoolConcurrencyLimitError>() {
        return Failure::Unavailable(format!("the instance pool is full: {full}"));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Failure::OutOfFuel,
        Some(Trap::Interrupt) => Failure::Timeout,
        _ if refused_grow => Failure::OutOfMemory,
        Some(trap) => Failure::Trap(panic.unwrap_or_else(|| trap.to_string())),
        None => Failure::Trap(panic.unwrap_or_else(|| error_text(error))),
    }
}

/// An error and its causes on one line, bounded.
pub(super) fn error_text(error: &wasmtime::Error) -> String {
    let text = error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    truncate(text, MAX_ERROR_BYTES)
}

/// One tenant's plugin: a compiled component, that tenant's limits and log,
/// and a pool of idle instances. Never shared across tenants.
pub struct Plugin {
    compiled: Arc<Compiled>,
    limits: Limits,
    sink: Arc<dyn LogSink>,
    /// Idle instances, most recently used last. A `std` mutex: held only to
    /// push or pop, never across an await.
    idle: Mutex<Vec<Instance>>,
    /// The runtime-wide idle budget this pool draws from.
    budget: Arc<IdleBudget>,
    /// Turns to run a call ([`MAX_ACTIVE_PER_PLUGIN`]).
    active: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.compiled.digest)
            .field("limits", &self.limits)
            .field("idle", &self.idle_count())
            .finish()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|p| p.into_inner());
        self.budget.give_back(idle.len());
    }
}

impl Plugin {
    pub(super) fn new(
        compiled: Arc<Compiled>,
        limits: Limits,
        sink: Arc<dyn LogSink>,
        budget: Arc<IdleBudget>,
    ) -> Plugin {
        Plugin {
            compiled,
            limits,
            sink,
            idle: Mutex::new(Vec::new()),
            budget,
            active: tokio::sync::Semaphore::new(MAX_ACTIVE_PER_PLUGIN),
        }
    }

    /// The compiled component.
    pub fn compiled(&self) -> &Arc<Compiled> {
        &self.compiled
    }

    /// The limits every call gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Idle instances ready for a call.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The publish hook: what to do with `event` before it is stored. A
    /// modified event must have JSON `data` and fit [`Limits::output_bytes`].
    pub async fn on_publish(&self, event: &PluginEvent) -> Call<PublishOutcome> {
        let input = wit::beacon::plugin::types::Event::from(event);
        self.call(
            Hook::Publish,
            |instance| {
                Box::pin(async move {
                    let Instance { store, guests } = instance;
                    match &guests.publish {
                        Some(guest) => guest.call_on_publish(store, &input).await,
                        None => Err(wasmtime::format_err!("publish is not exported")),
                    }
                })
            },
            |outcome, limits| match PublishOutcome::from(outcome) {
                PublishOutcome::Modify(event) => {
                    check_event(&event, limits)?;
                    Ok(PublishOutcome::Modify(event))
                }
                PublishOutcome::Drop(reason) => {
                    Ok(PublishOutcome::Drop(check_reason(reason, limits)?))
                }
                PublishOutcome::Reject(reason) => {
                    Ok(PublishOutcome::Reject(check_reason(reason, limits)?))
                }
                PublishOutcome::Keep => Ok(PublishOutcome::Keep),
            },
        )
        .await
    }

    /// The convert hook: `event` as version `to_version` of its contract,
    /// or the plugin's reason why not.
    pub async fn convert(
        &self,
        event: &PluginEvent,
        to_version: u32,
    ) -> Call<Result<PluginEvent, String>> {
        let input = wit::beacon::plugin::types::Event::from(event);
        self.call(
            Hook::Convert,
            |instance| {
                Box::pin(async move {
                    let Instance { store, guests } = instance;
                    match &guests.convert {
                        Some(guest) => guest.call_convert(store, &input, to_version).await,
                        None => Err(wasmtime::format_err!("convert is not exported")),
                    }
                })
            },
            |converted, limits| match converted {
                Ok(event) => {
                    let event = PluginEvent::from(event);
                    check_event(&event, limits)?;
                    Ok(Ok(event))
                }
                Err(reason) => Ok(Err(check_reason(reason, limits)?)),
            },
        )
        .await
    }

    /// The deliver hook: one answer per entry of `subscribers`, in order.
    pub async fn deliver(
        &self,
        event: &PluginEvent,
        subscribers: &[Subscriber],
    ) -> Call<Vec<bool>> {
        let input = wit::beacon::plugin::types::Event::from(event);
        let groups: Vec<_> = subscribers.iter().map(Into::into).collect();
        let expected = subscribers.len();
        self.call(
            Hook::Deliver,
            |instance| {
                Box::pin(async move {
                    let Instance { store, guests } = instance;
                    match &guests.deliver {
                        Some(guest) => guest.call_deliver(store, &input, &groups).await,
                        None => Err(wasmtime::format_err!("deliver is not exported")),
                    }
                })
            },
            |answers, _| {
                if answers.len() == expected {
                    Ok(answers)
                } else {
                    Err(Failure::BadOutput(format!(
                        "deliver returned {} answers for {expected} subscriber groups",
                        answers.len()
                    )))
                }
            },
        )
        .await
    }

    /// Runs one hook on an instance: waits for a turn, takes an idle
    /// instance or creates one, runs, checks the answer, and keeps the
    /// instance only if everything succeeded.
    async fn call<R, T>(
        &self,
        hook: Hook,
        invoke: impl for<'a> FnOnce(&'a mut Instance) -> BoxFuture<'a, wasmtime::Result<R>>,
        check: impl FnOnce(R, &Limits) -> Result<T, Failure>,
    ) -> Call<T> {
        let started = Instant::now();
        let result = if self.compiled.hooks.exports(hook) {
            self.call_inner(invoke, check).await
        } else {
            Err(Failure::NoSuchHook(hook))
        };
        if let Err(failure) = &result {
            tracing::debug!(
                digest = %self.compiled.digest,
                hook = hook.as_str(),
                code = failure.code(),
                %failure,
                "plugin call failed"
            );
        }
        Call {
            result,
            elapsed: started.elapsed(),
        }
    }

    async fn call_inner<R, T>(
        &self,
        invoke: impl for<'a> FnOnce(&'a mut Instance) -> BoxFuture<'a, wasmtime::Result<R>>,
        check: impl FnOnce(R, &Limits) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        // Usually a turn is free; waiting for one is bounded by the timeout.
        let turn = match self.active.try_acquire() {
            Ok(turn) => Some(turn),
            Err(_) => tokio::time::timeout(self.limits.timeout, self.active.acquire())
                .await
                .ok()
                .and_then(Result::ok),
        };
        let Some(_turn) = turn else {
            return Err(Failure::Unavailable(format!(
                "more than {MAX_ACTIVE_PER_PLUGIN} calls of this plugin at once"
            )));
        };
        let mut instance = match self.take_idle() {
            Some(instance) => instance,
            None => Instance::new(
                &self.compiled.pre,
                &self.compiled.exports,
                &self.limits,
                self.sink.clone(),
            )
            .await
            .map_err(Failure::from)?,
        };
        let result = instance
            .run(&self.limits, invoke)
            .await
            .and_then(|answer| check(answer, &self.limits));
        if result.is_ok() {
            self.put_idle(instance);
        }
        result
    }

    /// Creates one instance ahead of the first call, so that call does
    /// not pay for the instantiation. A failure is left for the first call
    /// to meet (and report).
    pub async fn warm(&self) {
        if self.idle_count() > 0 {
            return;
        }
        let created = Instance::new(
            &self.compiled.pre,
            &self.compiled.exports,
            &self.limits,
            self.sink.clone(),
        )
        .await;
        if let Ok(instance) = created {
            self.put_idle(instance);
        }
    }

    fn take_idle(&self) -> Option<Instance> {
        let instance = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
        self.budget.give_back(1);
        Some(instance)
    }

    fn put_idle(&self, instance: Instance) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_PER_PLUGIN && self.budget.try_take() {
            idle.push(instance);
            return;
        }
        // Dropped outside the lock: freeing a store returns pool slots.
        drop(idle);
        drop(instance);
    }
}

/// A modified or converted event must fit the output limit and carry JSON.
fn check_event(event: &PluginEvent, limits: &Limits) -> Result<(), Failure> {
    let bytes = event.size();
    if bytes > limits.output_bytes {
        return Err(Failure::OutputTooLarge {
            bytes,
            limit: limits.output_bytes,
        });
    }
    serde_json::from_str::<IgnoredAny>(&event.data)
        .map_err(|e| Failure::BadOutput(format!("the event's data is not valid JSON: {e}")))?;
    Ok(())
}

/// A reason must fit the output limit; it is kept to [`MAX_REASON_BYTES`].
fn check_reason(reason: String, limits: &Limits) -> Result<String, Failure> {
    if reason.len() > limits.output_bytes {
        return Err(Failure::OutputTooLarge {
            bytes: reason.len(),
            limit: limits.output_bytes,
        });
    }
    Ok(truncate(reason, MAX_REASON_BYTES))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::super::Runtime;
    use super::super::sandbox::tests::Lines;
    use super::super::sandbox::{MAX_CAPTURE_BYTES, MAX_LINES_PER_CALL};
    use super::super::tests::{component, runtime};
    use super::super::types::LogSource;
    use super::*;

    fn event(kind: &str, data: Value) -> PluginEvent {
        PluginEvent {
            id: None,
            kind: kind.into(),
            version: 1,
            subject: Some("order/1".into()),
            source: "shop".into(),
            time: "2024-05-01T12:00:00Z".into(),
            data: data.to_string(),
            audience: Vec::new(),
        }
    }

    fn misbehave(what: Value) -> PluginEvent {
        event("test.misbehave", what)
    }

    async fn make(runtime: &Runtime, name: &str, limits: Limits) -> (Arc<Plugin>, Arc<Lines>) {
        let compiled = runtime.load(&component(name)).await.unwrap();
        let lines = Arc::new(Lines::default());
        (runtime.plugin(compiled, limits, lines.clone()), lines)
    }

    #[tokio::test]
    async fn display_amount_modifies_money_events() {
        let runtime = runtime(None);
        let (plugin, _) = make(&runtime, "display-amount", Limits::default()).await;
        let input = event(
            "payment.succeeded",
            json!({"amount": 123450, "currency": "EUR", "orderId": "o-1"}),
        );
        let call = plugin.on_publish(&input).await;
        let Ok(PublishOutcome::Modify(modified)) = call.result else {
            panic!("expected a modified event, got {call:?}");
        };
        let data: Value = serde_json::from_str(&modified.data).unwrap();
        assert_eq!(data["displayAmount"], "€1,234.50");
        assert_eq!(data["orderId"], "o-1");
        assert_eq!(modified.kind, "payment.succeeded");
        assert!(call.elapsed > Duration::ZERO);
        // Not a money event: kept, on the same (reused) instance.
        let kept = plugin
            .on_publish(&event("user.created", json!({"name": "x"})))
            .await;
        assert_eq!(kept.result, Ok(PublishOutcome::Keep));
        assert_eq!(plugin.idle_count(), 1);
        // A hook the component does not export.
        let missing = plugin.convert(&input, 2).await;
        assert_eq!(missing.result, Err(Failure::NoSuchHook(Hook::Convert)));
        let missing = plugin.deliver(&input, &[]).await;
        assert_eq!(missing.result, Err(Failure::NoSuchHook(Hook::Deliver)));
    }

    #[tokio::test]
    async fn javascript_components_run() {
        // Compiling a JavaScript engine takes a while: keep the artifact
        // between test runs.
        let cache =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-test-cache");
        let runtime = runtime(Some(cache));
        let scan =
            super::super::inspect::check(&component("js-enricher"), usize::MAX, |_| true).unwrap();
        println!("imports of js-enricher: {:?}", scan.imports);
        let (plugin, _) = make(&runtime, "js-enricher", Limits::default()).await;
        let input = event(
            "payment.succeeded",
            json!({"amount": 123450, "currency": "EUR"}),
        );
        for _ in 0..3 {
            let call = plugin.on_publish(&input).await;
            let Ok(PublishOutcome::Modify(modified)) = call.result else {
                panic!("expected a modified event, got {call:?}");
            };
            let data: Value = serde_json::from_str(&modified.data).unwrap();
            assert_eq!(
                (data["displayAmount"].as_str(), data["enrichedBy"].as_str()),
                (Some("€1,234.50"), Some("js"))
            );
        }
        assert_eq!(plugin.idle_count(), 1);
    }

    #[tokio::test]
    async fn convert_and_deliver_hooks() {
        let runtime = runtime(None);
        let (converter, _) = make(&runtime, "converter", Limits::default()).await;
        let mut v2 = event(
            "order.created",
            json!({"orderId": "o-1", "total": {"amount": 500, "currency": "USD"}}),
        );
        v2.version = 2;
        let converted = converter.convert(&v2, 1).await.result.unwrap().unwrap();
        assert_eq!(converted.version, 1);
        let data: Value = serde_json::from_str(&converted.data).unwrap();
        assert_eq!(
            (data["total"].clone(), data["currency"].clone()),
            (json!(500), json!("USD"))
        );
        let refused = converter.convert(&v2, 7).await.result.unwrap();
        assert!(refused.unwrap_err().contains("only between 1 and 2"));

        let (vip, _) = make(&runtime, "vip-only", Limits::default()).await;
        let group = |claims: Value| Subscriber {
            user_id: "u".into(),
            claims: claims.to_string(),
            types: Vec::new(),
            subjects: Vec::new(),
        };
        let groups = [group(json!({"vip": true})), group(json!({"tier": "gold"}))];
        let private = event("offer.created", json!({"price": 5}));
        assert_eq!(
            vip.deliver(&private, &groups).await.result,
            Ok(vec![true, false])
        );
        assert_eq!(vip.deliver(&private, &[]).await.result, Ok(vec![]));
    }

    #[tokio::test]
    async fn every_misbehaviour_is_classified_and_the_next_call_works() {
        let runtime = runtime(None);
        let limits = Limits {
            timeout: Duration::from_millis(200),
            fuel: 2_000_000_000,
            // The oversized answer needs about 40 MiB to build.
            memory_bytes: 64 << 20,
            output_bytes: 64 * 1024,
        };
        let (plugin, lines) = make(&runtime, "misbehave", limits).await;
        let ok = misbehave(json!({"do": "nothing"}));
        assert_eq!(
            plugin.on_publish(&ok).await.result,
            Ok(PublishOutcome::Keep)
        );
        /// Whether a failure is the expected one.
        type Expected = fn(&Failure) -> bool;
        let cases: Vec<(Value, Expected)> = vec![
            (json!({"do": "loop"}), |f| {
                matches!(f, Failure::Timeout | Failure::OutOfFuel)
            }),
            (json!({"do": "memory"}), |f| *f == Failure::OutOfMemory),
            (
                json!({"do": "trap"}),
                |f| matches!(f, Failure::Trap(m) if m.contains("unreachable")),
            ),
            (
                json!({"do": "panic"}),
                |f| matches!(f, Failure::Trap(m) if m.contains("panicked at") && m.contains("asked to panic")),
            ),
            (
                json!({"do": "oversize"}),
                |f| matches!(f, Failure::OutputTooLarge { bytes, limit: 65536 } if *bytes > 10 << 20),
            ),
            (json!({"do": "slow", "ms": 1000}), |f| {
                *f == Failure::Timeout
            }),
        ];
        for (what, expected) in cases {
            let call = plugin.on_publish(&misbehave(what.clone())).await;
            match &call.result {
                Err(failure) if expected(failure) => {}
                other => panic!("{what}: unexpected {other:?}"),
            }
            assert_eq!(
                plugin.idle_count(),
                0,
                "{what}: the failed instance is discarded"
            );
            // The next call gets a fresh instance and works.
            assert_eq!(
                plugin.on_publish(&ok).await.result,
                Ok(PublishOutcome::Keep),
                "{what}"
            );
            assert_eq!(plugin.idle_count(), 1);
        }
        let slow = plugin
            .on_publish(&misbehave(json!({"do": "slow", "ms": 20})))
            .await;
        assert_eq!(slow.result, Ok(PublishOutcome::Keep));
        assert!(slow.elapsed >= Duration::from_millis(20));
        let reject = plugin.on_publish(&misbehave(json!({"do": "reject"}))).await;
        assert_eq!(
            reject.result,
            Ok(PublishOutcome::Reject("misbehave: asked to reject".into()))
        );
        // The panic went to the log as stderr lines too.
        assert!(
            lines
                .messages(LogSource::Stderr)
                .iter()
                .any(|l| l.contains("asked to panic"))
        );
    }

    #[tokio::test]
    async fn timeouts_hold_for_short_deadlines() {
        let runtime = runtime(None);
        let limits = Limits {
            timeout: Duration::from_millis(20),
            fuel: u64::MAX,
            ..Limits::default()
        };
        let (plugin, _) = make(&runtime, "misbehave", limits).await;
        let call = plugin.on_publish(&misbehave(json!({"do": "loop"}))).await;
        assert_eq!(call.result, Err(Failure::Timeout));
        assert!(
            call.elapsed < Duration::from_millis(500),
            "{:?}",
            call.elapsed
        );
        // With little fuel a loop runs out of fuel first.
        let limits = Limits {
            timeout: Duration::from_secs(5),
            fuel: 1_000_000,
            ..Limits::default()
        };
        let (plugin, _) = make(&runtime, "misbehave", limits).await;
        let call = plugin.on_publish(&misbehave(json!({"do": "loop"}))).await;
        assert_eq!(call.result, Err(Failure::OutOfFuel));
    }

    #[tokio::test]
    async fn logs_and_output_are_captured_and_bounded() {
        let runtime = runtime(None);
        let (plugin, lines) = make(
            &runtime,
            "misbehave",
            Limits {
                timeout: Duration::from_secs(5),
                fuel: u64::MAX,
                ..Limits::default()
            },
        )
        .await;
        let call = plugin
            .on_publish(&misbehave(json!({"do": "log", "lines": 3})))
            .await;
        assert_eq!(call.result, Ok(PublishOutcome::Keep));
        assert_eq!(
            lines.messages(LogSource::Log),
            [
                "misbehave log line 0",
                "misbehave log line 1",
                "misbehave log line 2"
            ]
        );
        assert_eq!(lines.messages(LogSource::Stdout).len(), 3);
        assert_eq!(
            lines.messages(LogSource::Stderr)[2],
            "misbehave stderr line 2"
        );
        lines.0.lock().unwrap().clear();
        // Far more than a call may write: bounded lines and bytes.
        let call = plugin
            .on_publish(&misbehave(json!({"do": "log", "lines": 5000})))
            .await;
        assert_eq!(call.result, Ok(PublishOutcome::Keep));
        let log = lines.messages(LogSource::Log);
        assert_eq!(log.len(), MAX_LINES_PER_CALL + 1);
        assert_eq!(log[MAX_LINES_PER_CALL], "… 4900 lines dropped");
        let stdout = lines.messages(LogSource::Stdout);
        assert_eq!(stdout.len(), MAX_LINES_PER_CALL + 2, "{stdout:?}");
        assert!(stdout[MAX_LINES_PER_CALL].ends_with("lines dropped"));
        assert!(stdout[MAX_LINES_PER_CALL + 1].ends_with("bytes dropped"));
        let kept_bytes: usize = "misbehave stdout line 0\n".len() * 5000;
        assert!(kept_bytes > MAX_CAPTURE_BYTES);
        // The next call starts with a fresh budget.
        lines.0.lock().unwrap().clear();
        plugin
            .on_publish(&misbehave(json!({"do": "log", "lines": 1})))
            .await
            .result
            .unwrap();
        assert_eq!(lines.messages(LogSource::Log), ["misbehave log line 0"]);
    }

    #[tokio::test]
    async fn bad_answers_are_failures() {
        let limits = Limits::default();
        let mut event = PluginEvent {
            data: "{not json".into(),
            ..PluginEvent::default()
        };
        assert!(
            matches!(check_event(&event, &limits), Err(Failure::BadOutput(m)) if m.contains("JSON"))
        );
        event.data = "[1, 2]".into();
        assert_eq!(check_event(&event, &limits), Ok(()));
        event.data = format!("\"{}\"", "x".repeat(limits.output_bytes));
        assert!(matches!(
            check_event(&event, &limits),
            Err(Failure::OutputTooLarge { .. })
        ));
        assert_eq!(check_reason("no".into(), &limits), Ok("no".into()));
        let long = check_reason("r".repeat(MAX_REASON_BYTES * 2), &limits).unwrap();
        assert!(long.len() <= MAX_REASON_BYTES);
        assert!(matches!(
            check_reason("r".repeat(limits.output_bytes + 1), &limits),
            Err(Failure::OutputTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn concurrent_calls_share_a_bounded_pool() {
        let runtime = runtime(None);
        let (plugin, _) = make(&runtime, "display-amount", Limits::default()).await;
        let input = event(
            "payment.succeeded",
            json!({"amount": 100, "currency": "USD"}),
        );
        let calls = (0..24).map(|_| plugin.on_publish(&input));
        for call in futures::future::join_all(calls).await {
            assert!(
                matches!(call.result, Ok(PublishOutcome::Modify(_))),
                "{call:?}"
            );
        }
        assert!(plugin.idle_count() <= MAX_IDLE_PER_PLUGIN);
        assert_eq!(runtime.idle.used(), plugin.idle_count());
        drop(plugin);
        assert_eq!(runtime.idle.used(), 0);
    }

    #[tokio::test]
    async fn handles_and_calls_are_send() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Runtime>();
        send_sync::<super::super::Compiled>();
        send_sync::<Plugin>();
        fn send<T: Send>(_: &T) {}
        let runtime = runtime(None);
        let compiled = runtime.load(&component("display-amount")).await.unwrap();
        let plugin = runtime.plugin(compiled, Limits::default(), Arc::new(Lines::default()));
        let input = PluginEvent::default();
        send(&plugin.on_publish(&input));
        send(&plugin.convert(&input, 1));
        send(&plugin.deliver(&input, &[]));
    }

    #[tokio::test]
    async fn a_full_instance_pool_makes_calls_unavailable() {
        let runtime = Runtime::new(super::super::RuntimeConfig {
            max_instances: 2,
            ..Default::default()
        })
        .unwrap();
        let compiled = runtime.load(&component("misbehave")).await.unwrap();
        let limits = Limits {
            timeout: Duration::from_secs(5),
            fuel: u64::MAX,
            ..Limits::default()
        };
        let plugins: Vec<_> = (0..3)
            .map(|_| runtime.plugin(compiled.clone(), limits.clone(), Arc::new(Lines::default())))
            .collect();
        let slow = misbehave(json!({"do": "slow", "ms": 300}));
        let calls = futures::future::join_all(plugins.iter().map(|p| p.on_publish(&slow))).await;
        let ok = calls.iter().filter(|c| c.result.is_ok()).count();
        let unavailable: Vec<_> = calls
            .iter()
            .filter_map(|c| match &c.result {
                Err(Failure::Unavailable(why)) => Some(why.clone()),
                _ => None,
            })
            .collect();
        assert_eq!((ok, unavailable.len()), (2, 1), "{calls:?}");
        assert!(unavailable[0].contains("pool is full"), "{unavailable:?}");
        // Once the others finish, the third plugin gets an instance.
        let quick = misbehave(json!({"do": "nothing"}));
        for plugin in &plugins {
            assert_eq!(
                plugin.on_publish(&quick).await.result,
                Ok(PublishOutcome::Keep)
            );
        }
    }

    /// `cargo test --release -p beacon --lib plugins::runtime::instance::tests::bench -- --ignored --nocapture`
    #[tokio::test]
    #[ignore = "a measurement, run by hand in release mode"]
    async fn bench_on_publish_reused_instance() {
        let cache =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-test-cache");
        let runtime = runtime(Some(cache));
        let input = event(
            "payment.succeeded",
            json!({"amount": 123450, "currency": "EUR", "orderId": "o-1", "customer": "c-42"}),
        );
        for (name, rounds) in [("display-amount", 20_000), ("js-enricher", 2_000)] {
            let (plugin, _) = make(&runtime, name, Limits::default()).await;
            for _ in 0..rounds / 10 {
                plugin.on_publish(&input).await.result.unwrap();
            }
            let started = Instant::now();
            for _ in 0..rounds {
                plugin.on_publish(&input).await.result.unwrap();
            }
            let per_call = started.elapsed() / rounds;
            println!(
                "{name} on_publish, reused instance: {:.2} µs/call",
                per_call.as_secs_f64() * 1e6
            );
        }
    }
}
