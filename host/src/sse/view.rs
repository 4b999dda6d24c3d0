//! Version views: an event shown in the shape of an older (or newer)
//! version of its contract, for subscribers that asked for `type@N`.
//!
//! The envelope records the version an event was published (checked) as.
//! When a subscriber wants another version, the data is projected onto that
//! version's schema (what it does not declare is dropped) and re-checked;
//! if the change between the versions is not additive, the event cannot be
//! shown that way and the subscriber is told once (`beacon.incompatible`).
//!
//! On the live path the result is cached in the hub's [`Delivery`], so the
//! frame of one (event, view) is encoded once per node, whatever the number
//! of subscribers sharing that view.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::hub::Delivery;
use crate::log::{Position, StoredEvent};
use crate::plugins::registry::{Plugins, TenantPlugins};
use crate::plugins::stats::Outcome;
use crate::schema::Registry;

/// An event as seen through one version view.
#[derive(Debug, Clone)]
pub enum Shaped {
    /// The frame to send.
    Frame(Bytes),
    /// The event cannot be shown as the wanted version.
    Incompatible { published: u32, reason: String },
    /// The stored event cannot be framed safely; skip it.
    Skip,
}

/// Most distinct views cached per delivery; beyond it views are built per
/// subscriber (correct, only slower).
const MAX_CACHED_VIEWS: usize = 4;

/// Shapes a stored event as version `wanted` of its contract.
pub fn shape(position: &Position, event: &StoredEvent, wanted: u32, schemas: &Registry) -> Shaped {
    let original = || super::event_frame(position, event).map_or(Shaped::Skip, Shaped::Frame);
    let Ok(mut envelope) = serde_json::from_str::<Value>(&event.envelope) else {
        return Shaped::Skip;
    };
    let Some(published) = envelope
        .get("version")
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
    else {
        // Published without a contract: there is only one shape.
        return original();
    };
    if published == wanted {
        return original();
    }
    let data = envelope.get("data").cloned().unwrap_or(Value::Null);
    match schemas.view(&event.meta.kind, published, wanted, &data) {
        Ok(shaped) => {
            envelope["data"] = shaped.into_owned();
            envelope["version"] = Value::from(wanted);
            let viewed = StoredEvent {
                offset: event.offset,
                meta: event.meta.clone(),
                envelope: envelope.to_string(),
            };
            super::event_frame(position, &viewed).map_or(Shaped::Skip, Shaped::Frame)
        }
        Err(invalid) => Shaped::Incompatible {
            published,
            reason: invalid
                .details("")
                .into_iter()
                .map(|d| format!("{}: {}", d.path, d.message))
                .collect::<Vec<_>>()
                .join("; "),
        },
    }
}

/// Shapes a stored event as version `wanted`; an event that cannot be
/// projected is converted by the tenant's converter plugin for its type,
/// if it has one, and the result checked against version `wanted`.
pub async fn shape_converted(
    position: &Position,
    event: &StoredEvent,
    wanted: u32,
    schemas: &Registry,
    plugins: Option<(&Plugins, &TenantPlugins)>,
) -> Shaped {
    let shaped = shape(position, event, wanted, schemas);
    let Shaped::Incompatible { published, reason } = shaped else {
        return shaped;
    };
    let Some((host, converter)) =
        plugins.and_then(|(host, tenant)| Some(host).zip(tenant.converter(&event.meta.kind)))
    else {
        return Shaped::Incompatible { published, reason };
    };
    if converter.is_quarantined() {
        converter.stats.record(Outcome::Skipped, None);
        return Shaped::Incompatible { published, reason };
    }
    let id = position.to_string();
    let input = crate::plugins::pipeline::stored_event(&id, &event.meta, &event.envelope);
    let call = converter.plugin.convert(&input, wanted).await;
    let converted = match call.result {
        Ok(Ok(out)) => out,
        Ok(Err(refused)) => {
            converter.stats.record(Outcome::Failure, Some(call.elapsed));
            return Shaped::Incompatible {
                published,
                reason: format!("converter `{}` refused: {refused}", converter.name),
            };
        }
        Err(failure) => {
            converter.stats.record(Outcome::Failure, Some(call.elapsed));
            host.failed(converter, failure.code(), &failure.to_string())
                .await;
            return Shaped::Incompatible {
                published,
                reason: format!("converter `{}` failed: {failure}", converter.name),
            };
        }
    };
    let checked = serde_json::from_str::<Value>(&converted.data)
        .map_err(|e| e.to_string())
        .and_then(|data| {
            schemas
                .validate_at(&event.meta.kind, Some(wanted), &data, "")
                .map(|_| data)
                .map_err(|invalid| {
                    invalid
                        .details("")
                        .into_iter()
                        .map(|d| format!("{}: {}", d.path, d.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
        });
    let data = match checked {
        Ok(data) => data,
        Err(problem) => {
            converter.stats.record(Outcome::Failure, Some(call.elapsed));
            let reason = format!("the converted event is not valid as version {wanted}: {problem}");
            host.failed(converter, "bad_output", &reason).await;
            return Shaped::Incompatible {
                published,
                reason: format!("converter `{}`: {reason}", converter.name),
            };
        }
    };
    converter.stats.record(Outcome::Convert, Some(call.elapsed));
    host.succeeded(converter);
    let Ok(mut envelope) = serde_json::from_str::<Value>(&event.envelope) else {
        return Shaped::Skip;
    };
    envelope["data"] = data;
    envelope["version"] = Value::from(wanted);
    let viewed = StoredEvent {
        offset: event.offset,
        meta: event.meta.clone(),
        envelope: envelope.to_string(),
    };
    super::event_frame(position, &viewed).map_or(Shaped::Skip, Shaped::Frame)
}

/// The live-path variant: the delivery's frame for `wanted`, built at most
/// once per (event, view) on this node — a converter plugin runs once, not
/// once per subscriber.
pub async fn shape_delivery(
    delivery: &Delivery,
    wanted: u32,
    schemas: &Registry,
    plugins: Option<(&Plugins, &TenantPlugins)>,
) -> Shaped {
    let cell = {
        let mut cache = delivery.views.lock().unwrap_or_else(|p| p.into_inner());
        match cache.iter().find(|(v, _)| *v == wanted) {
            Some((_, cell)) => Some(cell.clone()),
            None if cache.len() < MAX_CACHED_VIEWS => {
                let cell = Arc::new(OnceCell::new());
                cache.push((wanted, cell.clone()));
                Some(cell)
            }
            None => None,
        }
    };
    let position = Position {
        epoch: delivery.epoch.clone(),
        offset: delivery.offset,
    };
    let build = || async {
        let event = StoredEvent {
            offset: delivery.offset,
            meta: delivery.meta.clone(),
            envelope: delivery.envelope.to_string(),
        };
        shape_converted(&position, &event, wanted, schemas, plugins).await
    };
    match cell {
        Some(cell) => cell.get_or_init(build).await.clone(),
        None => build().await,
    }
}

/// The cache of one delivery's views: `(version, its shape once built)`.
pub type ViewCache = std::sync::Mutex<Vec<(u32, Arc<OnceCell<Shaped>>)>>;
