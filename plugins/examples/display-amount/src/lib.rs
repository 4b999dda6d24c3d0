//! display-amount: a publish hook that adds `displayAmount`, the event's
//! amount written for people (`€1,234.50`, `$12.00`, `1,234.50 XYZ`), to
//! money events.
//!
//! An event qualifies when its data has a `currency` (three capital
//! letters) and one of the amount fields of the catalogue's money events
//! ([`AMOUNT_FIELDS`], first match wins). Every other event is kept as is,
//! so activating the plugin on more types than [`TYPES`] is harmless.

mod money;

use beacon_plugin_sdk::{Event, Info, Plugin, PublishOutcome, edit_data};
use serde_json::Value;

/// The catalogue's money events: the types the plugin is meant for.
pub const TYPES: &[&str] = &[
    "payment.*",
    "escrow.*",
    "order.created",
    "wallet.payout",
    "dispute.resolved",
    "metrics.snapshot",
];

/// Fields holding the amount, in the order they are looked for: `amount`
/// (payments, escrow, payouts), `total` (orders), `refundAmount`
/// (disputes), `revenueToday` (metrics snapshots).
pub const AMOUNT_FIELDS: &[&str] = &["amount", "total", "refundAmount", "revenueToday"];

/// The field the plugin adds.
pub const DISPLAY_FIELD: &str = "displayAmount";

/// The plugin's description.
pub fn describe() -> Info {
    Info::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), TYPES)
}

/// The publish hook.
pub fn on_publish(event: Event) -> PublishOutcome {
    edit_data(event, add_display_amount)
}

/// Adds [`DISPLAY_FIELD`] to `data` when it holds an amount and a currency;
/// tells whether `data` changed.
pub fn add_display_amount(data: &mut Value) -> bool {
    let Some(shown) = display_amount(data) else {
        return false;
    };
    let Some(object) = data.as_object_mut() else {
        return false;
    };
    if object.get(DISPLAY_FIELD).and_then(Value::as_str) == Some(shown.as_str()) {
        return false;
    }
    object.insert(DISPLAY_FIELD.to_owned(), Value::String(shown));
    true
}

/// The amount of `data` written for people, if it has one.
pub fn display_amount(data: &Value) -> Option<String> {
    let currency = data.get("currency")?.as_str()?;
    if !money::is_currency(currency) {
        return None;
    }
    let decimals = money::decimals(currency);
    let minor = AMOUNT_FIELDS
        .iter()
        .find_map(|field| money::minor_units(data.get(*field)?, decimals))?;
    Some(money::display(minor, currency))
}

/// The plugin: the functions above as its description and publish hook.
pub struct DisplayAmount;

impl Plugin for DisplayAmount {
    fn describe() -> Info {
        describe()
    }

    fn on_publish(event: Event) -> PublishOutcome {
        on_publish(event)
    }
}

// The component's exports, `plugin` and the publish hook (wasm32 only).
beacon_plugin_sdk::export_plugin!(DisplayAmount: publish);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The catalogue's valid example of `kind`, as an event.
    fn catalogue_event(kind: &str) -> Event {
        let path = format!(
            "{}/../../../schemas/catalog/examples/{kind}.valid.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("catalogue example");
        let data: Value = serde_json::from_str(&text).expect("JSON example");
        Event::new(kind, &data)
    }

    fn shown(event: Event) -> Option<String> {
        match on_publish(event) {
            PublishOutcome::Modify(event) => event
                .data_json()
                .ok()?
                .get(DISPLAY_FIELD)?
                .as_str()
                .map(str::to_owned),
            _ => None,
        }
    }

    #[test]
    fn adds_the_amount_to_catalogue_money_events() {
        for kind in [
            "payment.authorized",
            "payment.succeeded",
            "payment.released",
            "escrow.held",
            "escrow.released",
            "order.created",
            "wallet.payout",
            "metrics.snapshot",
        ] {
            let event = catalogue_event(kind);
            let data = event.data_json().expect("JSON");
            let expected = display_amount(&data).expect(kind);
            assert_eq!(shown(event).as_deref(), Some(expected.as_str()), "{kind}");
        }
        assert_eq!(
            shown(catalogue_event("order.created")).as_deref(),
            Some("KSh 850.00")
        );
    }

    #[test]
    fn keeps_events_without_money() {
        for kind in ["payment.failed", "order.status.changed", "stream.created"] {
            assert_eq!(
                on_publish(catalogue_event(kind)),
                PublishOutcome::Keep,
                "{kind}"
            );
        }
        let keep = |data: Value| on_publish(Event::new("payment.succeeded", &data));
        assert_eq!(keep(json!({"amount": 5})), PublishOutcome::Keep);
        assert_eq!(
            keep(json!({"amount": 5, "currency": "usd"})),
            PublishOutcome::Keep
        );
        assert_eq!(
            keep(json!({"amount": "five", "currency": "USD"})),
            PublishOutcome::Keep
        );
        assert_eq!(keep(json!([1, 2])), PublishOutcome::Keep);
    }

    #[test]
    fn writes_the_examples_of_the_description() {
        let show = |data: Value| display_amount(&data);
        assert_eq!(
            show(json!({"amount": 123450, "currency": "EUR"})).as_deref(),
            Some("€1,234.50")
        );
        assert_eq!(
            show(json!({"total": 1200, "currency": "USD"})).as_deref(),
            Some("$12.00")
        );
        assert_eq!(
            show(json!({"amount": "1234.5", "currency": "XYZ"})).as_deref(),
            Some("1,234.50 XYZ")
        );
        assert_eq!(
            show(json!({"refundAmount": 99, "currency": "GBP", "amount": null})).as_deref(),
            Some("£0.99")
        );
    }

    #[test]
    fn keeps_an_event_that_already_shows_its_amount() {
        let data = json!({"amount": 1200, "currency": "USD", "displayAmount": "$12.00"});
        assert_eq!(
            on_publish(Event::new("payment.succeeded", &data)),
            PublishOutcome::Keep
        );
        let stale = json!({"amount": 1300, "currency": "USD", "displayAmount": "$12.00"});
        assert_eq!(
            shown(Event::new("payment.succeeded", &stale)).as_deref(),
            Some("$13.00")
        );
    }

    #[test]
    fn describes_itself() {
        let info = describe();
        assert_eq!(info.name, "display-amount");
        assert!(info.types.iter().any(|t| t == "payment.*"));
    }
}
