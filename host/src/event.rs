//! From a published event to what the log stores: the checks every
//! published event passes before plugins see it ([`check`], shared by
//! `POST /v1/events` and plugin dry runs), then the CloudEvents envelope
//! (without its id) and the routing fields beside it. The event's shape and
//! its rules are the wire protocol's ([`beacon_protocol::envelope`]).

use beacon_protocol::envelope::{FieldError, PublishEvent, StoredEnvelope};
use serde_json::Value;

use crate::log::{EventMeta, NewEvent};
use crate::schema::{Invalid, Registry};

/// Why a published event is refused before any plugin sees it. An
/// expected outcome, answered with a 4xx.
#[derive(Debug)]
pub enum Refused {
    /// Not an event: wrong shape, or a field that breaks the envelope
    /// rules. Each problem has a JSON pointer (400).
    Malformed(Vec<FieldError>),
    /// A well-formed event that its contract does not accept (422).
    Contract(Invalid),
}

/// The checks of a published event, in order: its shape, the envelope
/// rules (types, subjects, sizes; no CR/LF that could reach the wire),
/// then its contract, unless the type has none and the tenant allows
/// unregistered types. The event returned records the contract version it
/// was checked against. `pointer` locates the event in the request (`""`
/// for a single event, `/3` for the fourth of a batch).
pub(crate) fn check(
    schemas: &Registry,
    allow_unregistered_types: bool,
    item: Value,
    pointer: &str,
) -> Result<PublishEvent, Refused> {
    let mut event: PublishEvent = serde_json::from_value(item)
        .map_err(|e| Refused::Malformed(vec![FieldError::new(pointer, e.to_string())]))?;
    let problems = event.check(pointer);
    if !problems.is_empty() {
        return Err(Refused::Malformed(problems));
    }
    match schemas.validate_at(&event.kind, event.version, &event.data, pointer) {
        Ok(version) => event.version = Some(version),
        Err(Invalid::UnknownType { .. }) if allow_unregistered_types => {}
        Err(invalid) => return Err(Refused::Contract(invalid)),
    }
    Ok(event)
}

/// Builds the stored event. `time` is RFC 3339; `dedup_key` is the
/// event's own `key`, else one derived from the request's
/// `Idempotency-Key`.
pub(crate) fn new_event(
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
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn check_refuses_malformed_events_and_unregistered_types_unless_allowed() {
        let schemas = Registry::new(std::sync::Arc::new(
            crate::schema::embedded::in_memory().unwrap(),
        ));
        let item = |v: &str| serde_json::from_str::<Value>(v).unwrap();
        let Err(Refused::Malformed(problems)) = check(
            &schemas,
            true,
            item(r#"{"type":"a\r\nid: 9","data":1}"#),
            "/1",
        ) else {
            panic!("a CR/LF in the type is malformed");
        };
        assert_eq!(problems[0].path, "/1/type");
        assert!(matches!(
            check(&schemas, true, item(r#"{"data":1}"#), ""),
            Err(Refused::Malformed(_))
        ));
        let unknown = item(r#"{"type":"a.b","data":1}"#);
        assert!(matches!(
            check(&schemas, false, unknown.clone(), ""),
            Err(Refused::Contract(Invalid::UnknownType { .. }))
        ));
        let event = check(&schemas, true, unknown, "").unwrap();
        assert_eq!((event.kind.as_str(), event.version), ("a.b", None));
    }

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
