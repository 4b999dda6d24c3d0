//! {{name}}: a Beacon plugin with the convert hook.
//!
//! The logic is plain functions over the contract's types and
//! `serde_json::Value`, unit-tested natively (`cargo test`); the
//! component's exports are written by the SDK's `export_plugin!` at the
//! end of this file, only for wasm32 (`beacon plugin build`). The contract
//! is `wit/plugin.wit`, world `converter`.

use beacon_plugin_sdk::Plugin;
use serde_json::Value;

/// The contract's types and the host's `log` levels (from the SDK, which
/// generates them from `wit/plugin.wit`).
pub use beacon_plugin_sdk::{Level, Event, Info};

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

/// The event type this plugin converts (change it to yours). A converter
/// is meant for the types whose versions it knows.
pub const TYPES: &[&str] = &["customer.updated"];

/// The convert hook: `event` as version `to_version` of its contract, or
/// why it cannot be. Beacon calls it only for a subscriber that asked for
/// `type@N` when the event cannot be projected onto version N (a field was
/// renamed, moved or changed type); the result is checked against
/// version N before it is sent.
///
/// This one bridges a rename: version 2 calls version 1's `name`
/// `fullName`.
pub fn convert(mut event: Event, to_version: u32) -> Result<Event, String> {
    if !TYPES.contains(&event.type_.as_str()) {
        return Err(format!("no conversion for the type {}", event.type_));
    }
    if event.version == to_version {
        return Ok(event);
    }
    let mut data = data(&event).ok_or("data is not JSON")?;
    let object = data.as_object_mut().ok_or("data is not a JSON object")?;
    match (event.version, to_version) {
        (1, 2) => rename(object, "name", "fullName")?,
        (2, 1) => rename(object, "fullName", "name")?,
        (from, to) => {
            return Err(format!(
                "no conversion from version {from} to version {to}"
            ));
        }
    }
    event.data = data.to_string();
    event.version = to_version;
    Ok(event)
}

/// Moves `object[from]` to `object[to]`.
fn rename(
    object: &mut serde_json::Map<String, Value>,
    from: &str,
    to: &str,
) -> Result<(), String> {
    let value = object
        .remove(from)
        .ok_or_else(|| format!("`{from}` is missing"))?;
    object.insert(to.to_owned(), value);
    Ok(())
}

/// The plugin: the functions above as its description and convert hook.
pub struct {{type}};

impl Plugin for {{type}} {
    fn describe() -> Info {
        describe()
    }

    fn convert(event: Event, to_version: u32) -> Result<Event, String> {
        convert(event, to_version)
    }
}

// The component's exports, `plugin` and the convert hook. Only on wasm32:
// export names like `beacon:plugin/convert@0.1.0#convert` are not valid
// symbols in a native library.
beacon_plugin_sdk::export_plugin!({{type}}: convert);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A stored event of version `version`, as the convert hook receives it.
    fn event(version: u32, data: Value) -> Event {
        Event {
            id: Some("0_1767225600000-0".to_owned()),
            type_: "customer.updated".to_owned(),
            version,
            subject: Some("customer/c-1".to_owned()),
            source: "/tenants/acme".to_owned(),
            time: "2026-01-01T00:00:00Z".to_owned(),
            data: data.to_string(),
            audience: Vec::new(),
        }
    }

    #[test]
    fn converts_both_ways() {
        let v1 = json!({"id": "c-1", "name": "Ada Lovelace"});
        let v2 = json!({"id": "c-1", "fullName": "Ada Lovelace"});
        let down = convert(event(2, v2.clone()), 1).expect("2 to 1");
        assert_eq!((down.version, data(&down)), (1, Some(v1.clone())));
        let up = convert(event(1, v1), 2).expect("2 to 1");
        assert_eq!((up.version, data(&up)), (2, Some(v2)));
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        assert!(convert(event(2, json!({"id": "c-1"})), 1).is_err());
        assert!(convert(event(1, json!({"name": "Ada"})), 3).is_err());
        let other = Event {
            type_: "order.created".to_owned(),
            ..event(2, json!({}))
        };
        assert!(convert(other, 1).is_err());
    }

    #[test]
    fn describes_itself() {
        assert_eq!(describe().name, "{{name}}");
    }
}
