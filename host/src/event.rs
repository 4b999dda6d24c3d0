//! From a published event to what the log stores: the CloudEvents envelope
//! (without its id) and the routing fields beside it. The event's shape and
//! its rules are the wire protocol's ([`beacon_protocol::envelope`]).

use beacon_protocol::envelope::{PublishEvent, StoredEnvelope};

use crate::log::{EventMeta, NewEvent};

/// Builds the stored event. `time` is RFC 3339; `dedup_key` is the
/// event's own `key`, else one derived from the request's
/// `Idempotency-Key`.
pub fn new_event(
    event: PublishEvent,
    tenant: &str,
    time: &str,
    dedup_key: Option<String>,
) -> NewEvent {
    let source = event.source.unwrap_or_else(|| format!("/tenants/{tenant}"));
    let envelope = StoredEnvelope {
        specversion: "1.0",
        kind: &event.kind,
        source: &source,
        subject: event.subject.as_deref(),
        time,
        datacontenttype: "application/json",
        version: event.version,
        data: &event.data,
    }
    .to_json();
    NewEvent {
        meta: EventMeta {
            kind: event.kind,
            subject: event.subject,
            audience: event.audience.unwrap_or_default(),
        },
        envelope,
        dedup_key: event.key.or(dedup_key),
    }
}

/// The current time as RFC 3339 with milliseconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_full_event_builds_its_envelope_and_routing_fields() {
        let e: PublishEvent = serde_json::from_str(
            r#"{"type":"order.created","data":{"total":850},"subject":"order/IE-4486","audience":["42"],"version":2,"key":"k1"}"#,
        )
        .unwrap();
        assert!(e.check("").is_empty());
        let n = new_event(
            e,
            "acme",
            "2026-11-23T12:00:00.000Z",
            Some("ignored".into()),
        );
        assert_eq!(n.meta.kind, "order.created");
        assert_eq!(n.meta.subject.as_deref(), Some("order/IE-4486"));
        assert_eq!(n.meta.audience, vec!["42"]);
        assert_eq!(n.dedup_key.as_deref(), Some("k1"));
        let v: Value = serde_json::from_str(&n.envelope).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["source"], "/tenants/acme");
        assert_eq!(v["data"]["total"], 850);
        assert_eq!(v["version"], 2);
        assert!(v.get("id").is_none() && v.get("audience").is_none());
    }
}
