//! Plain-Rust helpers on the WIT records: an event's data as JSON, a
//! plugin's description, a subscriber's claims, and type patterns.

use serde_json::{Map, Value};

use crate::{Event, Info, PublishOutcome, Subscriber};

impl Event {
    /// An event of type `kind` carrying `data`, as the publish hook sees it
    /// (no id, no subject, no contract version). Handy in tests.
    pub fn new(kind: &str, data: &Value) -> Event {
        Event {
            id: None,
            type_: kind.to_owned(),
            version: 0,
            subject: None,
            source: "/test".to_owned(),
            time: "2026-01-01T00:00:00Z".to_owned(),
            data: data.to_string(),
            audience: Vec::new(),
        }
    }

    /// The data, parsed. The host only hands plugins valid JSON, so an error
    /// here means the event did not come from Beacon.
    pub fn data_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.data)
    }

    /// Replaces the data with `data`, serialised.
    pub fn set_data_json(&mut self, data: &Value) {
        self.data = data.to_string();
    }

    /// Whether the event's type matches `pattern` (see [`type_matches`]).
    pub fn is(&self, pattern: &str) -> bool {
        type_matches(pattern, &self.type_)
    }
}

impl Info {
    /// A description: `name`, `version` and the type patterns the plugin is
    /// meant for (empty: every type).
    pub fn new(name: &str, version: &str, types: &[&str]) -> Info {
        Info {
            name: name.to_owned(),
            version: version.to_owned(),
            types: types.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
}

impl Subscriber {
    /// A subscriber group with `claims` (a JSON object) and no filters.
    /// Handy in tests.
    pub fn new(user_id: &str, claims: &Value) -> Subscriber {
        Subscriber {
            user_id: user_id.to_owned(),
            claims: claims.to_string(),
            types: Vec::new(),
            subjects: Vec::new(),
        }
    }

    /// The token's claims. Empty when they are not a JSON object, which the
    /// host never sends: a gate then sees a subscriber without claims.
    pub fn claims_json(&self) -> Map<String, Value> {
        match serde_json::from_str(&self.claims) {
            Ok(Value::Object(claims)) => claims,
            _ => Map::new(),
        }
    }
}

/// Whether the event type `kind` matches `pattern`, the way subscribers'
/// filters and activations match: `*` matches every type, `order.*` every
/// type starting with `order.`, anything else only itself.
pub fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

/// The publish hook's usual shape: runs `edit` on the event's data and
/// answers [`PublishOutcome::Modify`] with the new data when `edit` says it
/// changed something (returns `true`), [`PublishOutcome::Keep`] otherwise.
/// Data that is not JSON (never sent by the host) is kept, with a warning.
pub fn edit_data(mut event: Event, edit: impl FnOnce(&mut Value) -> bool) -> PublishOutcome {
    let mut data = match event.data_json() {
        Ok(data) => data,
        Err(error) => {
            crate::warn!("event data is not JSON, kept as is: {error}");
            return PublishOutcome::Keep;
        }
    };
    if edit(&mut data) {
        event.set_data_json(&data);
        PublishOutcome::Modify(event)
    } else {
        PublishOutcome::Keep
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn data_round_trips() {
        let mut event = Event::new("order.created", &json!({"total": 5}));
        assert_eq!(event.data_json().ok(), Some(json!({"total": 5})));
        event.set_data_json(&json!({"total": 6}));
        assert_eq!(event.data, r#"{"total":6}"#);
    }

    #[test]
    fn patterns_match_like_filters() {
        assert!(type_matches("*", "order.created"));
        assert!(type_matches("order.*", "order.created"));
        assert!(!type_matches("order.*", "orders.created"));
        assert!(type_matches("order.created", "order.created"));
        assert!(!type_matches("order.created", "order.created.v2"));
        assert!(Event::new("payment.failed", &json!({})).is("payment.*"));
    }

    #[test]
    fn edit_data_modifies_only_on_change() {
        let event = Event::new("a.b", &json!({"x": 1}));
        assert_eq!(edit_data(event.clone(), |_| false), PublishOutcome::Keep);
        let PublishOutcome::Modify(changed) = edit_data(event, |data| {
            data["y"] = json!(2);
            true
        }) else {
            panic!("expected modify");
        };
        assert_eq!(changed.data_json().ok(), Some(json!({"x": 1, "y": 2})));
        assert_eq!(changed.type_, "a.b");
    }

    #[test]
    fn edit_data_keeps_non_json_with_a_warning() {
        crate::take_native_logs();
        let mut event = Event::new("a.b", &json!({}));
        event.data = "{not json".to_owned();
        assert_eq!(edit_data(event, |_| true), PublishOutcome::Keep);
        let logs = crate::take_native_logs();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].0, crate::Level::Warn);
    }

    #[test]
    fn claims_that_are_not_an_object_are_empty() {
        let sub = Subscriber::new("u1", &json!({"vip": true}));
        assert_eq!(sub.claims_json().get("vip"), Some(&json!(true)));
        assert!(Subscriber::new("u1", &json!([1])).claims_json().is_empty());
    }

    #[test]
    fn info_lists_types() {
        let info = Info::new("p", "1.0.0", &["order.*"]);
        assert_eq!(info.types, vec!["order.*".to_owned()]);
    }
}
