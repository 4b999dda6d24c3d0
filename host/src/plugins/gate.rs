//! The deliver hook on the fan-out path: which subscribers get an event.
//!
//! A gate plugin decides per *subscriber context* — the token's user id and
//! claims plus the filters the subscriber asked for — not per connection:
//! the tabs and devices of one user, or every subscriber with the same
//! claims, share one answer. The node keeps a count of the contexts open
//! per tenant ([`Contexts`]); the first subscriber to need a decision on a
//! live event asks the plugin once, with every context open at that
//! moment, and the answers are kept with the event ([`Decisions`]) for the
//! others. A subscriber whose context opened after that asks for itself,
//! as does a replay (one subscriber reading the log).
//!
//! Several gates all have to allow an event. A gate that fails allows
//! under `fail_open` and holds the event back under `fail_closed` (a
//! delivery cannot go to dead letters: the event is stored and others may
//! receive it); a quarantined gate is treated the same way without a call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::pipeline::stored_event;
use super::registry::{Active, Plugins, TenantPlugins};
use super::runtime::{PluginEvent, Subscriber};
use super::stats::Outcome;
use super::store::OnError;
use crate::log::EventMeta;

/// Most distinct contexts sent in one batched deliver call; beyond it the
/// rest ask one by one (correct, only slower).
pub const MAX_BATCH: usize = 256;

/// One subscriber context, shared by the connections that have it.
#[derive(Debug)]
pub struct Context {
    /// Identity of the context: equal keys, equal answers.
    pub key: Arc<str>,
    pub subscriber: Subscriber,
}

impl Context {
    /// A context from the token's user id and claims (time claims removed,
    /// so a refreshed token keeps its context) and the requested filters.
    pub fn new(
        user_id: &str,
        claims: &serde_json::Value,
        types: Vec<String>,
        subjects: Vec<String>,
    ) -> Arc<Context> {
        let mut claims = claims.clone();
        if let Some(object) = claims.as_object_mut() {
            for time_claim in ["exp", "iat", "nbf", "jti"] {
                object.remove(time_claim);
            }
        }
        let claims = claims.to_string();
        let key = serde_json::json!([user_id, claims, types, subjects]).to_string();
        Arc::new(Context {
            key: key.into(),
            subscriber: Subscriber {
                user_id: user_id.to_owned(),
                claims,
                types,
                subjects,
            },
        })
    }
}

/// One tenant's open contexts by key, each with its connection count.
type TenantContexts = HashMap<Arc<str>, (Arc<Context>, usize)>;

/// The contexts open on this node, per tenant, with their connection counts.
#[derive(Default)]
pub struct Contexts {
    /// A `std` mutex: held only to count or copy, never across an await.
    open: Mutex<HashMap<String, TenantContexts>>,
}

/// Counts a context as open until dropped.
pub struct Registration {
    contexts: Arc<Contexts>,
    tenant: String,
    context: Arc<Context>,
}

impl Contexts {
    pub fn register(self: &Arc<Self>, tenant: &str, context: Arc<Context>) -> Registration {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.entry(tenant.to_owned())
            .or_default()
            .entry(context.key.clone())
            .or_insert_with(|| (context.clone(), 0))
            .1 += 1;
        Registration {
            contexts: self.clone(),
            tenant: tenant.to_owned(),
            context,
        }
    }

    /// The open contexts of `tenant` (at most [`MAX_BATCH`]).
    fn of(&self, tenant: &str) -> Vec<Arc<Context>> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(tenant)
            .map(|m| m.values().take(MAX_BATCH).map(|(c, _)| c.clone()).collect())
            .unwrap_or_default()
    }
}

impl Registration {
    pub fn context(&self) -> &Arc<Context> {
        &self.context
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.contexts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tenant) = open.get_mut(&self.tenant) {
            if let Some(entry) = tenant.get_mut(&self.context.key) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    tenant.remove(&self.context.key);
                }
            }
            if tenant.is_empty() {
                open.remove(&self.tenant);
            }
        }
    }
}

/// The batched answers for one live event, kept with it.
#[derive(Debug, Default)]
pub struct Decisions {
    answers: OnceCell<HashMap<Arc<str>, bool>>,
}

/// Whether `context` may receive the event. `decisions` is the live
/// event's shared cache (`None` on replay).
pub async fn allowed(
    plugins: &Plugins,
    pipeline: &TenantPlugins,
    contexts: &Contexts,
    tenant: &str,
    context: &Context,
    event: (&str, &EventMeta, &str),
    decisions: Option<&Decisions>,
) -> bool {
    let (id, meta, envelope) = event;
    let gates: Vec<&Arc<Active>> = pipeline.gates(&meta.kind).collect();
    if gates.is_empty() {
        return true;
    }
    if let Some(decisions) = decisions {
        let answers = decisions
            .answers
            .get_or_init(|| async {
                let open = contexts.of(tenant);
                let event = stored_event(id, meta, envelope);
                let verdicts = decide(plugins, &gates, &event, &open).await;
                open.iter().map(|c| c.key.clone()).zip(verdicts).collect()
            })
            .await;
        if let Some(answer) = answers.get(&context.key) {
            return *answer;
        }
    }
    let event = stored_event(id, meta, envelope);
    let one = [Arc::new(Context {
        key: context.key.clone(),
        subscriber: context.subscriber.clone(),
    })];
    decide(plugins, &gates, &event, &one)
        .await
        .first()
        .copied()
        .unwrap_or(false)
}

/// One answer per context: every gate must allow.
async fn decide(
    plugins: &Plugins,
    gates: &[&Arc<Active>],
    event: &PluginEvent,
    contexts: &[Arc<Context>],
) -> Vec<bool> {
    let mut verdicts = vec![true; contexts.len()];
    if contexts.is_empty() {
        return verdicts;
    }
    let subscribers: Vec<Subscriber> = contexts.iter().map(|c| c.subscriber.clone()).collect();
    for gate in gates {
        let on_failure = gate.on_error == OnError::FailOpen;
        if gate.is_quarantined() {
            gate.stats.record(Outcome::Skipped, None);
            if !on_failure {
                verdicts.iter_mut().for_each(|v| *v = false);
            }
            continue;
        }
        let call = gate.plugin.deliver(event, &subscribers).await;
        match call.result {
            Ok(answers) => {
                plugins.succeeded(gate);
                let allowed = answers.iter().filter(|a| **a).count() as u64;
                gate.stats.call(call.elapsed);
                gate.stats.count(Outcome::Allow, allowed);
                gate.stats
                    .count(Outcome::Deny, answers.len() as u64 - allowed);
                for (verdict, answer) in verdicts.iter_mut().zip(answers) {
                    *verdict &= answer;
                }
            }
            Err(failure) => {
                gate.stats.record(Outcome::Failure, Some(call.elapsed));
                plugins
                    .failed(gate, failure.code(), &failure.to_string())
                    .await;
                if !on_failure {
                    verdicts.iter_mut().for_each(|v| *v = false);
                }
            }
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_ignore_time_claims_and_count_connections() {
        let claims = serde_json::json!({"sub": "42", "vip": true, "exp": 1, "iat": 2});
        let later = serde_json::json!({"sub": "42", "vip": true, "exp": 9, "iat": 8});
        let a = Context::new("42", &claims, vec![], vec![]);
        let b = Context::new("42", &later, vec![], vec![]);
        assert_eq!(a.key, b.key);
        assert!(!a.subscriber.claims.contains("exp"));
        let other = Context::new("42", &claims, vec!["order.*".into()], vec![]);
        assert_ne!(a.key, other.key, "filters are part of the context");

        let contexts = Arc::new(Contexts::default());
        let first = contexts.register("acme", a);
        let second = contexts.register("acme", b);
        let third = contexts.register("acme", other);
        assert_eq!(contexts.of("acme").len(), 2);
        assert!(contexts.of("other").is_empty());
        drop(first);
        assert_eq!(contexts.of("acme").len(), 2, "one connection still has it");
        drop(second);
        drop(third);
        assert!(contexts.of("acme").is_empty());
    }
}
