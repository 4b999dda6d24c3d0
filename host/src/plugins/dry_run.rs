//! Dry runs (`POST /v1/plugins/{name}/test`): one hook of one stored
//! version, on a fresh instance, with a private log. The event is checked
//! exactly as a publish checks it ([`crate::event::check`]), so the plugin
//! sees what it would see then. Nothing is stored and no counter moves.

use std::sync::Arc;
use std::time::Duration;

use beacon_protocol::api::plugins::{
    DeliverTest, Hook, MAX_LOG_LINES, TestOutcome, TestQuery, TestResult, TestSubscriber,
    VersionRecord,
};
use beacon_protocol::envelope::PublishEvent;
use serde_json::Value;

use super::logs::PluginLog;
use super::pipeline;
use super::registry::Plugins;
use super::runtime::{Failure, Plugin, PluginEvent, PublishOutcome, Subscriber};
use super::store::{PluginRecord, StoreError};
use crate::event::{self, Refused};
use crate::schema::Registry;
use crate::tenants::Tenant;

/// Most subscriber groups in one deliver test.
pub const MAX_TEST_SUBSCRIBERS: usize = 100;

/// Why a dry run did not run. A plugin that fails is not one of these: it
/// is an outcome ([`TestOutcome::Failed`]).
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    /// The version asked for (or any version) does not exist.
    #[error("plugin {0:?} has no such version")]
    NoSuchVersion(String),
    /// The version does not export the hook named (or it is no hook).
    #[error("version {version} does not export the hook {hook:?}")]
    HookNotExported { version: u32, hook: String },
    /// The version exports no hook at all.
    #[error("no hook to test")]
    NoHook,
    /// The body is not what the hook's test takes.
    #[error("{0}")]
    InvalidRequest(String),
    /// The event fails the checks of a publish.
    #[error("the event would be refused on publish")]
    Refused(Refused),
    /// A convert test names no version to convert to.
    #[error("a convert test needs `to_version`")]
    NoTargetVersion,
    /// The stored bytes of the version are gone.
    #[error("the stored component is missing")]
    MissingComponent,
    /// The stored version does not load on this node any more.
    #[error("the stored version no longer loads: {}", .0.join("; "))]
    NoLongerLoads(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a dry run needs of the node.
pub struct DryRun<'a> {
    pub plugins: &'a Plugins,
    pub schemas: &'a Registry,
    pub tenant: &'a Tenant,
}

impl DryRun<'_> {
    /// Runs the hook `query` names (default: the first the version
    /// exports) of `query.version` of `record` (default: the active one,
    /// else the newest) on `body`: an event, or for `deliver` a
    /// [`DeliverTest`].
    pub async fn run(
        &self,
        record: &PluginRecord,
        query: &TestQuery,
        body: Value,
    ) -> Result<TestResult, DryRunError> {
        let version = pick_version(record, query)?;
        let hook = pick_hook(version, query)?;
        let (event, subscribers) = self.input(hook, body)?;
        let plugin_log = Arc::new(PluginLog::default());
        let plugin = self
            .instantiate(record, version, plugin_log.clone())
            .await?;
        let time = event::now_rfc3339();
        let input = pipeline::plugin_event(&event, &self.tenant.id, &time);
        let mut result = TestResult {
            version: version.version,
            hook,
            outcome: TestOutcome::Failed,
            output: None,
            deliver: None,
            reason: None,
            failure: None,
            logs: Vec::new(),
            duration_us: 0,
        };
        let elapsed = match hook {
            Hook::Publish => {
                self.publish(&plugin, &event, &input, &time, &mut result)
                    .await
            }
            Hook::Convert => {
                let to = query.to_version.ok_or(DryRunError::NoTargetVersion)?;
                convert(&plugin, &input, to, &mut result).await
            }
            Hook::Deliver => deliver(&plugin, &input, subscribers, &mut result).await,
        };
        result.duration_us = elapsed.as_micros() as u64;
        result.logs = plugin_log.recent(MAX_LOG_LINES);
        Ok(result)
    }

    /// The event (checked like a publish) and, for `deliver`, the
    /// subscriber groups.
    fn input(
        &self,
        hook: Hook,
        body: Value,
    ) -> Result<(PublishEvent, Vec<TestSubscriber>), DryRunError> {
        let (event, subscribers) = if hook == Hook::Deliver {
            let request: DeliverTest = serde_json::from_value(body)
                .map_err(|e| DryRunError::InvalidRequest(e.to_string()))?;
            if request.subscribers.len() > MAX_TEST_SUBSCRIBERS {
                return Err(DryRunError::InvalidRequest(format!(
                    "at most {MAX_TEST_SUBSCRIBERS} subscriber groups"
                )));
            }
            (request.event, request.subscribers)
        } else {
            (body, Vec::new())
        };
        let event = event::check(
            self.schemas,
            self.tenant.allow_unregistered_types,
            event,
            "",
        )
        .map_err(DryRunError::Refused)?;
        Ok((event, subscribers))
    }

    /// A fresh instance of `version`, with the limits it runs under.
    async fn instantiate(
        &self,
        record: &PluginRecord,
        version: &VersionRecord,
        log: Arc<PluginLog>,
    ) -> Result<Arc<Plugin>, DryRunError> {
        let wasm = self
            .plugins
            .store
            .wasm(&version.digest)
            .await?
            .ok_or(DryRunError::MissingComponent)?;
        let compiled = self
            .plugins
            .load(&wasm)
            .await
            .map_err(|e| DryRunError::NoLongerLoads(e.reasons))?;
        let own = record
            .activation
            .as_ref()
            .map(|a| a.limits)
            .unwrap_or_default();
        let limits = self.plugins.limits(self.tenant.limits.as_ref(), &own);
        Ok(self.plugins.runtime.plugin(compiled, limits, log))
    }

    /// The publish hook; a modified event is checked like the pipeline
    /// checks it.
    async fn publish(
        &self,
        plugin: &Plugin,
        event: &PublishEvent,
        input: &PluginEvent,
        time: &str,
        result: &mut TestResult,
    ) -> Duration {
        let call = plugin.on_publish(input).await;
        match call.result {
            Ok(PublishOutcome::Keep) => result.outcome = TestOutcome::Keep,
            Ok(PublishOutcome::Modify(out)) => {
                let context = pipeline::Context {
                    plugins: self.plugins,
                    schemas: self.schemas,
                    tenant: &self.tenant.id,
                    allow_unregistered_types: self.tenant.allow_unregistered_types,
                    time,
                };
                result.output = Some(event_value(&out));
                match pipeline::checked(&context, event, out) {
                    Ok(_) => result.outcome = TestOutcome::Modify,
                    Err(reason) => {
                        result.outcome = TestOutcome::Failed;
                        result.failure = Some("bad_output".to_owned());
                        result.reason = Some(reason);
                    }
                }
            }
            Ok(PublishOutcome::Drop(reason)) => {
                result.outcome = TestOutcome::Drop;
                result.reason = Some(reason);
            }
            Ok(PublishOutcome::Reject(reason)) => {
                result.outcome = TestOutcome::Reject;
                result.reason = Some(reason);
            }
            Err(failure) => failed(result, failure),
        }
        call.elapsed
    }
}

/// The version `query` names, else the active one, else the newest.
fn pick_version<'r>(
    record: &'r PluginRecord,
    query: &TestQuery,
) -> Result<&'r VersionRecord, DryRunError> {
    let wanted = query
        .version
        .or(record.activation.as_ref().map(|a| a.version))
        .or(record.versions.last().map(|v| v.version));
    wanted
        .and_then(|n| record.versions.iter().find(|v| v.version == n))
        .ok_or_else(|| DryRunError::NoSuchVersion(record.name.clone()))
}

/// The hook `query` names, else the first the version exports.
fn pick_hook(version: &VersionRecord, query: &TestQuery) -> Result<Hook, DryRunError> {
    match &query.hook {
        None => version
            .hooks
            .hooks()
            .first()
            .copied()
            .ok_or(DryRunError::NoHook),
        Some(name) => Hook::parse(name)
            .filter(|hook| version.hooks.exports(*hook))
            .ok_or_else(|| DryRunError::HookNotExported {
                version: version.version,
                hook: name.clone(),
            }),
    }
}

async fn convert(
    plugin: &Plugin,
    input: &PluginEvent,
    to: u32,
    result: &mut TestResult,
) -> Duration {
    let call = plugin.convert(input, to).await;
    match call.result {
        Ok(Ok(out)) => {
            result.outcome = TestOutcome::Converted;
            result.output = Some(event_value(&out));
        }
        Ok(Err(reason)) => {
            result.outcome = TestOutcome::Refused;
            result.reason = Some(reason);
        }
        Err(failure) => failed(result, failure),
    }
    call.elapsed
}

async fn deliver(
    plugin: &Plugin,
    input: &PluginEvent,
    subscribers: Vec<TestSubscriber>,
    result: &mut TestResult,
) -> Duration {
    let groups: Vec<Subscriber> = subscribers
        .into_iter()
        .map(|s| Subscriber {
            user_id: s.user_id,
            claims: if s.claims.is_null() {
                "{}".to_owned()
            } else {
                s.claims.to_string()
            },
            types: s.types,
            subjects: s.subjects,
        })
        .collect();
    let call = plugin.deliver(input, &groups).await;
    match call.result {
        Ok(answers) => {
            result.outcome = TestOutcome::Decided;
            result.deliver = Some(answers);
        }
        Err(failure) => failed(result, failure),
    }
    call.elapsed
}

fn failed(result: &mut TestResult, failure: Failure) {
    result.outcome = TestOutcome::Failed;
    result.failure = Some(failure.code().to_owned());
    result.reason = Some(failure.to_string());
}

/// A plugin's event as JSON (its data parsed when it is JSON).
fn event_value(event: &PluginEvent) -> Value {
    let data = serde_json::from_str::<Value>(&event.data)
        .unwrap_or_else(|_| Value::String(event.data.clone()));
    serde_json::json!({
        "type": event.kind,
        "version": event.version,
        "subject": event.subject,
        "source": event.source,
        "audience": event.audience,
        "data": data,
    })
}
