//! {{name}}: a Beacon plugin with the deliver hook.
//!
//! The logic is plain functions over the contract's types and
//! `serde_json::Value`, unit-tested natively (`cargo test`); the
//! component's exports are written by the SDK's `export_plugin!` at the
//! end of this file, only for wasm32 (`beacon plugin build`). The contract
//! is `wit/plugin.wit`, world `gate`.

use beacon_plugin_sdk::Plugin;
use serde_json::Value;

/// The contract's types and the host's `log` levels (from the SDK, which
/// generates them from `wit/plugin.wit`).
pub use beacon_plugin_sdk::{Level, Event, Info, Subscriber};

/// What the plugin says about itself. Beacon reads it at upload; `types`
/// are the event types an activation without `--types` runs it on.
pub fn describe() -> Info {
    Info {
        name: env!("CARGO_PKG_NAME").to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        types: TYPES.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// Writes a line to the plugin's log (`beacon plugin logs {{name}}`); in
/// native tests, to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    beacon_plugin_sdk::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?}: {message}");
}

/// The data of `event`, parsed (Beacon only sends JSON).
pub fn data(event: &Event) -> Option<Value> {
    serde_json::from_str(&event.data).ok()
}

/// Event type patterns the plugin is meant for (`order.*`,
/// `payment.succeeded`); empty means every type.
pub const TYPES: &[&str] = &[];

/// The deliver hook: one answer per subscriber group, in order (`true`:
/// deliver). Beacon calls it once per event with every distinct subscriber
/// context open on the node (user id, token claims, filters), not once per
/// connection.
///
/// This one sends an event whose data names a `region` only to
/// subscribers whose token has the same `region` claim (minted with
/// `POST /v1/tokens {"sub": "42", "claims": {"region": "eu"}}`); events
/// without a region go to everyone.
pub fn deliver(event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
    let region = data(event).and_then(|d| d.get("region")?.as_str().map(str::to_owned));
    subscribers
        .iter()
        .map(|subscriber| match &region {
            None => true,
            Some(region) => claim(subscriber, "region").as_deref() == Some(region.as_str()),
        })
        .collect()
}

/// A string claim of a subscriber's token.
pub fn claim(subscriber: &Subscriber, name: &str) -> Option<String> {
    let claims: Value = serde_json::from_str(&subscriber.claims).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

/// The plugin: the functions above as its description and deliver hook.
pub struct {{type}};

impl Plugin for {{type}} {
    fn describe() -> Info {
        describe()
    }

    fn deliver(event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
        deliver(event, subscribers)
    }
}

// The component's exports, `plugin` and the deliver hook. Only on wasm32:
// export names like `beacon:plugin/deliver@0.1.0#deliver` are not valid
// symbols in a native library.
beacon_plugin_sdk::export_plugin!({{type}}: deliver);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A stored event, as the deliver hook receives it.
    fn event(data: Value) -> Event {
        Event {
            id: Some("0_1767225600000-0".to_owned()),
            type_: "order.created".to_owned(),
            version: 1,
            subject: None,
            source: "/tenants/acme".to_owned(),
            time: "2026-01-01T00:00:00Z".to_owned(),
            data: data.to_string(),
            audience: Vec::new(),
        }
    }

    /// A subscriber group whose token carries `claims`.
    fn group(user_id: &str, claims: Value) -> Subscriber {
        Subscriber {
            user_id: user_id.to_owned(),
            claims: claims.to_string(),
            types: Vec::new(),
            subjects: Vec::new(),
        }
    }

    fn groups() -> Vec<Subscriber> {
        vec![
            group("42", json!({"sub": "42", "region": "eu"})),
            group("7", json!({"sub": "7", "region": "us"})),
            group("9", json!({"sub": "9"})),
        ]
    }

    #[test]
    fn regional_events_reach_their_region_only() {
        let out = deliver(&event(json!({"orderId": "IE-1", "region": "eu"})), &groups());
        assert_eq!(out, vec![true, false, false]);
    }

    #[test]
    fn other_events_reach_everyone() {
        assert_eq!(deliver(&event(json!({"orderId": "IE-1"})), &groups()), vec![true; 3]);
        assert!(deliver(&event(json!({})), &[]).is_empty());
    }

    #[test]
    fn describes_itself() {
        assert_eq!(describe().name, "{{name}}");
    }
}
