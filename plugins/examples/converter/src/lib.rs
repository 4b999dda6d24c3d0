//! converter: a convert hook between the two versions of `order.created`
//! in `schemas/` (see the README next to this crate).
//!
//! Version 1 (the catalogue's contract) has `total` (an integer in minor
//! units) and `currency` at the top level; version 2 keeps them together in
//! one money object, `total: {"amount", "currency"}`. A version view cannot
//! bridge that: projecting a v2 event onto v1 keeps `total` as an object and
//! has no `currency`, so it fails v1. This plugin moves the fields instead,
//! both ways.

use beacon_plugin_sdk::{Event, Info, Plugin};
use serde_json::{Map, Value};

/// The event type the plugin converts.
pub const TYPE: &str = "order.created";

/// The plugin's description.
pub fn describe() -> Info {
    Info::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &[TYPE])
}

/// The convert hook: `event` as version `to_version` of its contract, or
/// why it cannot be.
pub fn convert(mut event: Event, to_version: u32) -> Result<Event, String> {
    if event.type_ != TYPE {
        return Err(format!("converts only {TYPE}, not {}", event.type_));
    }
    if event.version == to_version {
        return Ok(event);
    }
    let data = event
        .data_json()
        .map_err(|error| format!("data is not JSON: {error}"))?;
    let Value::Object(data) = data else {
        return Err("data is not a JSON object".to_owned());
    };
    let converted = match (event.version, to_version) {
        (2, 1) => v2_to_v1(data)?,
        (1, 2) => v1_to_v2(data)?,
        (from, to) => {
            return Err(format!(
                "no conversion of {TYPE} from version {from} to version {to} (only between 1 and 2)"
            ));
        }
    };
    event.set_data_json(&Value::Object(converted));
    event.version = to_version;
    Ok(event)
}

/// `total: {"amount", "currency"}` → `total`, `currency`.
pub fn v2_to_v1(mut data: Map<String, Value>) -> Result<Map<String, Value>, String> {
    let Some(Value::Object(mut total)) = data.remove("total") else {
        return Err("version 2 data needs `total` as an object".to_owned());
    };
    let amount = total
        .remove("amount")
        .filter(Value::is_u64)
        .ok_or("version 2 data needs `total.amount` as a non-negative integer")?;
    let currency = total
        .remove("currency")
        .filter(Value::is_string)
        .ok_or("version 2 data needs `total.currency` as a string")?;
    data.insert("total".to_owned(), amount);
    data.insert("currency".to_owned(), currency);
    Ok(data)
}

/// `total`, `currency` → `total: {"amount", "currency"}`.
pub fn v1_to_v2(mut data: Map<String, Value>) -> Result<Map<String, Value>, String> {
    let amount = data
        .remove("total")
        .filter(Value::is_u64)
        .ok_or("version 1 data needs `total` as a non-negative integer")?;
    let currency = data
        .remove("currency")
        .filter(Value::is_string)
        .ok_or("version 1 data needs `currency` as a string")?;
    let mut total = Map::new();
    total.insert("amount".to_owned(), amount);
    total.insert("currency".to_owned(), currency);
    data.insert("total".to_owned(), Value::Object(total));
    Ok(data)
}

/// The plugin: the functions above as its description and convert hook.
pub struct Converter;

impl Plugin for Converter {
    fn describe() -> Info {
        describe()
    }

    fn convert(event: Event, to_version: u32) -> Result<Event, String> {
        convert(event, to_version)
    }
}

// The component's exports, `plugin` and the convert hook (wasm32 only).
beacon_plugin_sdk::export_plugin!(Converter: convert);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(version: u32, data: Value) -> Event {
        Event {
            version,
            subject: Some("order/IE-4486".to_owned()),
            ..Event::new(TYPE, &data)
        }
    }

    fn v1() -> Value {
        json!({"orderId": "IE-4486", "title": "Sandals", "total": 85000, "currency": "KES",
               "items": [{"sku": "SND-41", "quantity": 1, "unitPrice": 85000}]})
    }

    fn v2() -> Value {
        json!({"orderId": "IE-4486", "title": "Sandals", "total": {"amount": 85000, "currency": "KES"},
               "items": [{"sku": "SND-41", "quantity": 1, "unitPrice": 85000}]})
    }

    #[test]
    fn converts_v2_to_v1() {
        let out = convert(event(2, v2()), 1).expect("converts");
        assert_eq!(out.version, 1);
        assert_eq!(out.data_json().ok(), Some(v1()));
        assert_eq!(out.subject.as_deref(), Some("order/IE-4486"));
    }

    #[test]
    fn converts_v1_to_v2() {
        let out = convert(event(1, v1()), 2).expect("converts");
        assert_eq!(out.version, 2);
        assert_eq!(out.data_json().ok(), Some(v2()));
    }

    #[test]
    fn same_version_is_unchanged() {
        let same = event(2, json!({"anything": true}));
        assert_eq!(convert(same.clone(), 2), Ok(same));
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        for (event, to) in [
            (Event::new("payment.succeeded", &v1()), 2),
            (event(1, v1()), 3),
            (event(2, v1()), 1),
            (event(1, v2()), 2),
            (
                event(2, json!({"total": {"amount": -5, "currency": "KES"}})),
                1,
            ),
            (event(2, json!({"total": {"amount": 5}})), 1),
            (event(2, json!([1])), 1),
        ] {
            assert!(convert(event.clone(), to).is_err(), "{event:?} to {to}");
        }
    }

    /// The schemas in `schemas/`: v1 is the catalogue's contract, and the
    /// test documents match them where a test can check without a validator.
    #[test]
    fn the_schemas_describe_the_versions() {
        let load = |name: &str| -> Value {
            let path = format!("{}/schemas/{name}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("JSON")
        };
        let catalogue = format!(
            "{}/../../../schemas/catalog/order.created.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let catalogue: Value =
            serde_json::from_str(&std::fs::read_to_string(catalogue).expect("catalogue"))
                .expect("JSON");
        assert_eq!(load("order.created.v1.json"), catalogue);
        let v2_schema = load("order.created.v2.json");
        assert_eq!(v2_schema["properties"]["total"]["type"], "object");
        assert_eq!(v2_schema["required"], json!(["orderId", "total"]));
        assert!(v2_schema["properties"].get("currency").is_none());
    }
}
