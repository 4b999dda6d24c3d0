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

use bytes::Bytes;
use serde_json::Value;

use super::frame;
use crate::hub::Delivery;
use crate::log::{Position, StoredEvent};
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
    let original = || frame::event_frame(position, event).map_or(Shaped::Skip, Shaped::Frame);
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
            frame::event_frame(position, &viewed).map_or(Shaped::Skip, Shaped::Frame)
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

/// The live-path variant: the delivery's frame for `wanted`, built at most
/// once per (event, view) on this node.
pub fn shape_delivery(delivery: &Delivery, wanted: u32, schemas: &Registry) -> Shaped {
    let mut cache = delivery.views.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, shaped)) = cache.iter().find(|(v, _)| *v == wanted) {
        return shaped.clone();
    }
    let position = Position {
        epoch: delivery.epoch.clone(),
        offset: delivery.offset,
    };
    let event = StoredEvent {
        offset: delivery.offset,
        meta: delivery.meta.clone(),
        envelope: delivery.envelope.to_string(),
    };
    let shaped = shape(&position, &event, wanted, schemas);
    if cache.len() < MAX_CACHED_VIEWS {
        cache.push((wanted, shaped.clone()));
    }
    shaped
}
