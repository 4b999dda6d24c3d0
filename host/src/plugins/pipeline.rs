//! The publish pipeline: a tenant's plugins with the publish hook, in
//! order, on one accepted event before it is stored.
//!
//! Each plugin keeps, replaces, drops or rejects the event. A replaced
//! event is checked again — envelope and contract — before the next plugin
//! sees it, so the log only ever holds valid events. A plugin that fails
//! (trap, timeout, out of memory or fuel, an output too large or invalid)
//! is handled by its policy: `fail_open` passes the event on unchanged,
//! `fail_closed` sends it to the tenant's dead letters with the reason. A
//! quarantined plugin is not called; its policy decides the same way.
//! Nothing is lost silently: each outcome is counted per plugin.

use serde_json::Value;

use super::dead_letters::DeadLetter;
use super::registry::{Active, Plugins, TenantPlugins};

use super::runtime::{PluginEvent, PublishOutcome};
use super::stats::Outcome;
use super::store::OnError;
use crate::log::EventMeta;
use crate::schema::{Invalid, Registry};
use beacon_protocol::envelope::PublishEvent;

/// What the pipeline decided for one event.
#[derive(Debug)]
pub enum Verdict {
    /// Store this event (the input, or the plugins' version of it).
    Store(Box<PublishEvent>),
    /// A plugin dropped it.
    Dropped { plugin: String, reason: String },
    /// A plugin refused it: the publisher gets 422.
    Rejected { plugin: String, reason: String },
    /// A plugin failed under `fail_closed` (or is quarantined): the event
    /// goes to dead letters. The caller writes the letter, once it knows
    /// the request as a whole goes ahead ([`Plugins::dead_letter`]).
    DeadLettered(Box<DeadLetter>),
}

/// What the pipeline needs besides the plugins.
pub struct Context<'a> {
    pub plugins: &'a Plugins,
    pub schemas: &'a Registry,
    pub tenant: &'a str,
    pub allow_unregistered_types: bool,
    /// The accept time of the request (RFC 3339).
    pub time: &'a str,
}

/// The event as a plugin sees it.
pub fn plugin_event(event: &PublishEvent, tenant: &str, time: &str) -> PluginEvent {
    PluginEvent {
        id: None,
        kind: event.kind.clone(),
        version: event.version.unwrap_or(0),
        subject: event.subject.clone(),
        source: event
            .source
            .clone()
            .unwrap_or_else(|| format!("/tenants/{tenant}")),
        time: time.to_owned(),
        data: event.data.to_string(),
        audience: event.audience.clone().unwrap_or_default(),
    }
}

/// A stored event as a plugin sees it (deliver and convert hooks).
pub fn stored_event(id: &str, meta: &EventMeta, envelope: &str) -> PluginEvent {
    let parsed: serde_json::Value = serde_json::from_str(envelope).unwrap_or_default();
    let text = |key: &str| parsed.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    PluginEvent {
        id: Some(id.to_owned()),
        kind: meta.kind.clone(),
        version: parsed
            .get("version")
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0),
        subject: meta.subject.clone(),
        source: text("source").unwrap_or_default(),
        time: text("time").unwrap_or_default(),
        data: parsed
            .get("data")
            .map(ToString::to_string)
            .unwrap_or_default(),
        audience: meta.audience.clone(),
    }
}

/// Runs `event` (already checked and validated) through the tenant's
/// publish plugins.
pub async fn run(ctx: &Context<'_>, pipeline: &TenantPlugins, event: PublishEvent) -> Verdict {
    let input = event;
    let mut current = input.clone();
    let kind = input.kind.clone();
    for active in pipeline.publishers(&kind) {
        if active.is_quarantined() {
            active.stats.record(Outcome::Skipped, None);
            match active.on_error {
                OnError::FailOpen => continue,
                OnError::FailClosed => {
                    return dead_letter(
                        ctx,
                        active,
                        &input,
                        "quarantined",
                        "the plugin is quarantined",
                    );
                }
            }
        }
        let call = active
            .plugin
            .on_publish(&plugin_event(&current, ctx.tenant, ctx.time))
            .await;
        let outcome = call
            .result
            .map_err(|failure| (failure.code(), failure.to_string()));
        let outcome = match outcome {
            Ok(PublishOutcome::Modify(modified)) => match checked(ctx, &current, modified) {
                Ok(next) => Ok(Some(next)),
                Err(reason) => Err(("bad_output", reason)),
            },
            Ok(PublishOutcome::Keep) => Ok(None),
            Ok(PublishOutcome::Drop(reason)) => {
                active.stats.record(Outcome::Drop, Some(call.elapsed));
                ctx.plugins.succeeded(active);
                return Verdict::Dropped {
                    plugin: active.name.clone(),
                    reason,
                };
            }
            Ok(PublishOutcome::Reject(reason)) => {
                active.stats.record(Outcome::Reject, Some(call.elapsed));
                ctx.plugins.succeeded(active);
                return Verdict::Rejected {
                    plugin: active.name.clone(),
                    reason,
                };
            }
            Err(failure) => Err(failure),
        };
        match outcome {
            Ok(Some(next)) => {
                active.stats.record(Outcome::Modify, Some(call.elapsed));
                ctx.plugins.succeeded(active);
                current = next;
            }
            Ok(None) => {
                active.stats.record(Outcome::Keep, Some(call.elapsed));
                ctx.plugins.succeeded(active);
            }
            Err((code, reason)) => {
                active.stats.record(Outcome::Failure, Some(call.elapsed));
                ctx.plugins.failed(active, code, &reason).await;
                match active.on_error {
                    OnError::FailOpen => {}
                    OnError::FailClosed => {
                        return dead_letter(ctx, active, &input, code, &reason);
                    }
                }
            }
        }
    }
    Verdict::Store(Box::new(current))
}

/// A plugin's replacement event, checked like a published one. The
/// idempotency key stays the input's.
pub fn checked(
    ctx: &Context<'_>,
    input: &PublishEvent,
    modified: PluginEvent,
) -> Result<PublishEvent, String> {
    let data: Value = serde_json::from_str(&modified.data)
        .map_err(|e| format!("the modified event's data is not JSON: {e}"))?;
    let mut event = PublishEvent {
        kind: modified.kind,
        data,
        subject: modified.subject,
        source: Some(modified.source),
        audience: (!modified.audience.is_empty()).then_some(modified.audience),
        version: (modified.version != 0).then_some(modified.version),
        key: input.key.clone(),
    };
    let problems = event.check("");
    if !problems.is_empty() {
        let listed: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        return Err(format!(
            "the modified event is not valid: {}",
            listed.join("; ")
        ));
    }
    match ctx
        .schemas
        .validate_at(&event.kind, event.version, &event.data, "")
    {
        Ok(version) => event.version = Some(version),
        Err(Invalid::UnknownType { .. }) if ctx.allow_unregistered_types => event.version = None,
        Err(invalid) => {
            let listed: Vec<String> = invalid
                .details("")
                .into_iter()
                .map(|d| format!("{}: {}", d.path, d.message))
                .collect();
            return Err(format!(
                "the modified event does not match its contract: {}",
                listed.join("; ")
            ));
        }
    }
    Ok(event)
}

/// The dead letter of the input event, on behalf of `active`.
fn dead_letter(
    ctx: &Context<'_>,
    active: &Active,
    input: &PublishEvent,
    code: &str,
    reason: &str,
) -> Verdict {
    Verdict::DeadLettered(Box::new(DeadLetter {
        event: input_json(input),
        plugin: active.name.clone(),
        version: active.version,
        code: code.to_owned(),
        reason: reason.to_owned(),
        time: ctx.time.to_owned(),
    }))
}

/// The event as it was published (what a retry from dead letters sends).
pub fn input_json(event: &PublishEvent) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("type".into(), Value::from(event.kind.clone()));
    object.insert("data".into(), event.data.clone());
    if let Some(subject) = &event.subject {
        object.insert("subject".into(), Value::from(subject.clone()));
    }
    if let Some(source) = &event.source {
        object.insert("source".into(), Value::from(source.clone()));
    }
    if let Some(audience) = &event.audience {
        object.insert("audience".into(), Value::from(audience.clone()));
    }
    if let Some(version) = event.version {
        object.insert("version".into(), Value::from(version));
    }
    if let Some(key) = &event.key {
        object.insert("key".into(), Value::from(key.clone()));
    }
    Value::Object(object)
}
