//! vip-only: a deliver hook that lets an event reach a subscriber group
//! only when the group's token says it is a VIP (`"vip": true` or
//! `"tier": "vip"` among its claims). Events whose data has
//! `"public": true` reach everyone.

use beacon_plugin_sdk::{Event, Info, Plugin, Subscriber};
use serde_json::{Map, Value};

/// The plugin's description: meant for every type.
pub fn describe() -> Info {
    Info::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &[])
}

/// The deliver hook: one answer per subscriber group, in order.
pub fn deliver(event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
    let public = is_public(event);
    subscribers
        .iter()
        .map(|subscriber| public || is_vip(&subscriber.claims_json()))
        .collect()
}

/// Whether the event's data says `"public": true`.
pub fn is_public(event: &Event) -> bool {
    event
        .data_json()
        .is_ok_and(|data| data.get("public") == Some(&Value::Bool(true)))
}

/// Whether a token's claims make its holder a VIP.
pub fn is_vip(claims: &Map<String, Value>) -> bool {
    claims.get("vip") == Some(&Value::Bool(true))
        || claims.get("tier").and_then(Value::as_str) == Some("vip")
}

/// The plugin: the functions above as its description and deliver hook.
pub struct VipOnly;

impl Plugin for VipOnly {
    fn describe() -> Info {
        describe()
    }

    fn deliver(event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
        deliver(event, subscribers)
    }
}

// The component's exports, `plugin` and the deliver hook (wasm32 only).
beacon_plugin_sdk::export_plugin!(VipOnly: deliver);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn groups() -> Vec<Subscriber> {
        vec![
            Subscriber::new("vip-flag", &json!({"sub": "vip-flag", "vip": true})),
            Subscriber::new("vip-tier", &json!({"sub": "vip-tier", "tier": "vip"})),
            Subscriber::new("plain", &json!({"sub": "plain"})),
            Subscriber::new("not-quite", &json!({"vip": "true", "tier": "VIP"})),
            Subscriber::new("gold", &json!({"vip": false, "tier": "gold"})),
        ]
    }

    #[test]
    fn only_vips_get_private_events() {
        let event = Event::new("offer.created", &json!({"price": 5}));
        assert_eq!(
            deliver(&event, &groups()),
            vec![true, true, false, false, false]
        );
    }

    #[test]
    fn everyone_gets_public_events() {
        let event = Event::new("offer.created", &json!({"public": true}));
        assert_eq!(deliver(&event, &groups()), vec![true; 5]);
        let not_public = Event::new("offer.created", &json!({"public": "yes"}));
        assert!(!deliver(&not_public, &groups())[2]);
    }

    #[test]
    fn answers_once_per_group() {
        let event = Event::new("offer.created", &json!({}));
        assert!(deliver(&event, &[]).is_empty());
        let bad_claims = Subscriber {
            claims: "not json".to_owned(),
            ..Subscriber::new("u", &json!({}))
        };
        assert_eq!(deliver(&event, &[bad_claims]), vec![false]);
    }

    #[test]
    fn describes_itself() {
        assert_eq!(describe().name, "vip-only");
    }
}
