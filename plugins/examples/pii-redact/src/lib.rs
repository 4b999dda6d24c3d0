//! pii-redact: a publish hook that masks e-mail addresses and phone numbers
//! in every string of an event's data, however deeply nested:
//! `jane.doe@example.com` → `j***@example.com`, `+254 712 345 678` →
//! `+*** *** *** *78`. Object keys are left alone (they are field names).

mod scan;

use beacon_plugin_sdk::{Event, Info, PublishOutcome, edit_data};
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

/// The component's exports: thin glue over the functions above. Only on
/// wasm32: export names like `beacon:plugin/publish@0.1.0#on-publish` are not
/// valid symbols in a native shared library.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod glue {
    use beacon_plugin_sdk::{Event, Info, PublishOutcome};

    wit_bindgen::generate!({
        world: "publisher",
        path: "../../../wit",
        with: {
            "beacon:plugin/types@0.1.0": beacon_plugin_sdk::types,
            "beacon:plugin/log@0.1.0": beacon_plugin_sdk::log,
        },
    });

    struct Plugin;
    export!(Plugin);

    impl exports::beacon::plugin::plugin::Guest for Plugin {
        fn describe() -> Info {
            super::describe()
        }
    }

    impl exports::beacon::plugin::publish::Guest for Plugin {
        fn on_publish(event: Event) -> PublishOutcome {
            super::on_publish(event)
        }
    }
}

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
