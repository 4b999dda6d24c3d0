//! {{name}}: a Beacon plugin with the publish hook.
//!
//! The logic is plain functions over the contract's types and
//! `serde_json::Value`, unit-tested natively (`cargo test`); the
//! component's exports are written by the SDK's `export_plugin!` at the
//! end of this file, only for wasm32 (`beacon plugin build`). The contract
//! is `wit/plugin.wit`, world `publisher`.

use beacon_plugin_sdk::Plugin;
use serde_json::Value;

/// The contract's types and the host's `log` levels (from the SDK, which
/// generates them from `wit/plugin.wit`).
pub use beacon_plugin_sdk::{Level, Event, Info, PublishOutcome};

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

/// The publish hook, once per published event before it is stored: keep
/// it, replace it (`Modify`: checked against its contract again), drop it
/// (the publisher is told) or reject it (the publisher gets 422).
///
/// This one drops test events (`"test": true`) and normalises an `email`
/// field; everything else is kept as is.
pub fn on_publish(event: Event) -> PublishOutcome {
    let Some(mut data) = data(&event) else {
        log(Level::Warn, "event data is not JSON; kept as is");
        return PublishOutcome::Keep;
    };
    if data.get("test") == Some(&Value::Bool(true)) {
        return PublishOutcome::Drop("test event".to_owned());
    }
    if normalize_email(&mut data) {
        PublishOutcome::Modify(Event {
            data: data.to_string(),
            ..event
        })
    } else {
        PublishOutcome::Keep
    }
}

/// Trims and lower-cases `data.email`; tells whether it changed.
pub fn normalize_email(data: &mut Value) -> bool {
    let Some(Value::String(email)) = data.get_mut("email") else {
        return false;
    };
    let normal = email.trim().to_lowercase();
    if normal == *email {
        return false;
    }
    *email = normal;
    true
}

/// The plugin: the functions above as its description and publish hook.
pub struct {{type}};

impl Plugin for {{type}} {
    fn describe() -> Info {
        describe()
    }

    fn on_publish(event: Event) -> PublishOutcome {
        on_publish(event)
    }
}

// The component's exports, `plugin` and the publish hook. Only on wasm32:
// export names like `beacon:plugin/publish@0.1.0#on-publish` are not valid
// symbols in a native library.
beacon_plugin_sdk::export_plugin!({{type}}: publish);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An event as the publish hook receives it.
    fn event(data: Value) -> Event {
        Event {
            id: None,
            type_: "order.created".to_owned(),
            version: 1,
            subject: Some("order/IE-4486".to_owned()),
            source: "/tenants/acme".to_owned(),
            time: "2026-01-01T00:00:00Z".to_owned(),
            data: data.to_string(),
            audience: Vec::new(),
        }
    }

    /// The data of a `Modify`, or `None` for any other outcome.
    fn modified(outcome: PublishOutcome) -> Option<Value> {
        match outcome {
            PublishOutcome::Modify(event) => data(&event),
            _ => None,
        }
    }

    #[test]
    fn normalises_the_email() {
        let out = on_publish(event(json!({"orderId": "IE-1", "email": "  Ada@Example.COM "})));
        assert_eq!(
            modified(out),
            Some(json!({"orderId": "IE-1", "email": "ada@example.com"}))
        );
    }

    #[test]
    fn keeps_what_needs_no_change() {
        let clean = on_publish(event(json!({"email": "ada@example.com"})));
        assert!(matches!(clean, PublishOutcome::Keep));
        let no_email = on_publish(event(json!({"orderId": "IE-1"})));
        assert!(matches!(no_email, PublishOutcome::Keep));
    }

    #[test]
    fn drops_test_events() {
        let out = on_publish(event(json!({"test": true, "email": "A@B.C"})));
        assert!(matches!(out, PublishOutcome::Drop(reason) if reason == "test event"));
    }

    #[test]
    fn describes_itself() {
        assert_eq!(describe().name, "{{name}}");
    }
}
