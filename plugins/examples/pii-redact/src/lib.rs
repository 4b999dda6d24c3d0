//! pii-redact: a publish hook that masks e-mail addresses and phone numbers
//! in every string of an event's data, however deeply nested:
//! `jane.doe@example.com` → `j***@example.com`, `+254 712 345 678` →
//! `+*** *** *** *78`. Object keys are left alone (they are field names).

mod scan;

use beacon_plugin_sdk::{Event, Info, Plugin, PublishOutcome, edit_data};
use serde_json::Value;

pub use scan::{mask_emails, mask_phones};

/// Deepest nesting of arrays and objects the plugin walks into; anything
/// deeper is left as is. Beacon's own limits keep data shallower.
pub const MAX_DEPTH: usize = 64;

/// The plugin's description: meant for every type.
pub fn describe() -> Info {
    Info::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &[])
}

/// The publish hook.
pub fn on_publish(event: Event) -> PublishOutcome {
    edit_data(event, |data| redact(data, 0))
}

/// Masks every string in `value` (recursively, up to [`MAX_DEPTH`]); tells
/// whether anything changed.
pub fn redact(value: &mut Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match value {
        Value::String(text) => {
            let masked = mask_phones(&mask_emails(text));
            let changed = masked != *text;
            *text = masked;
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| redact(item, depth + 1) | changed),
        Value::Object(fields) => fields
            .values_mut()
            .fold(false, |changed, item| redact(item, depth + 1) | changed),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The plugin: the functions above as its description and publish hook.
pub struct PiiRedact;

impl Plugin for PiiRedact {
    fn describe() -> Info {
        describe()
    }

    fn on_publish(event: Event) -> PublishOutcome {
        on_publish(event)
    }
}

// The component's exports, `plugin` and the publish hook (wasm32 only).
beacon_plugin_sdk::export_plugin!(PiiRedact: publish);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn masks_every_string_recursively() {
        let event = Event::new(
            "kyc.verified",
            &json!({
                "contact": "jane.doe@example.com",
                "phones": ["+254 712 345 678", {"home": "call 0712345678"}],
                "jane@example.com": 1,
                "amount": 5,
                "note": "ok",
            }),
        );
        let PublishOutcome::Modify(event) = on_publish(event) else {
            panic!("expected modify");
        };
        assert_eq!(
            event.data_json().ok(),
            Some(json!({
                "contact": "j***@example.com",
                "phones": ["+*** *** *** *78", {"home": "call ********78"}],
                "jane@example.com": 1,
                "amount": 5,
                "note": "ok",
            }))
        );
    }

    #[test]
    fn keeps_events_without_personal_data() {
        let event = Event::new(
            "order.created",
            &json!({"orderId": "IE-4486", "total": 85000}),
        );
        assert_eq!(on_publish(event), PublishOutcome::Keep);
    }

    #[test]
    fn stops_at_the_depth_limit() {
        let mut reachable = json!("jane@example.com");
        for _ in 0..MAX_DEPTH {
            reachable = json!([reachable]);
        }
        let mut too_deep = json!([reachable.clone()]);
        assert!(redact(&mut reachable, 0));
        assert!(!redact(&mut too_deep, 0));
    }
}
