//! Events on the wire: what a tenant publishes ([`PublishEvent`]) and the
//! CloudEvents envelope subscribers receive ([`Envelope`]), with the rules
//! every published event must meet.
//!
//! Types and ids end up in SSE fields (`event:`, `id:`), where a CR, LF or
//! NUL would let a publisher forge frames, so their charsets are strict.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MAX_TYPE_LEN: usize = 128;
pub const MAX_SUBJECT_LEN: usize = 256;
pub const MAX_SOURCE_LEN: usize = 256;
pub const MAX_AUDIENCE: usize = 100;
pub const MAX_USER_ID_LEN: usize = 128;
pub const MAX_KEY_LEN: usize = 200;

/// Type prefixes that are Beacon's own: `beacon.*` control events and
/// `presence.*` changes. Compared without regard to case, so `Beacon.gap`
/// cannot pass for a tenant's type either.
pub const RESERVED_PREFIXES: [&str; 2] = ["beacon.", "presence."];

/// One event as a tenant publishes it (`POST /v1/events`). Unknown fields
/// are rejected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishEvent {
    /// The event type, e.g. `order.created`: 1-128 characters of
    /// `A-Z a-z 0-9 . _ -`, starting with a letter or digit. Also the SSE
    /// `event:` field.
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = MAX_TYPE_LEN), pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]*$"))
    )]
    pub kind: String,
    /// The payload: any JSON value, checked against the type's contract.
    pub data: Value,
    /// Routing key such as `order/IE-4486` or `user/42`: 1-256 characters
    /// of `A-Z a-z 0-9 . _ - / : @ + = ~ #`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = MAX_SUBJECT_LEN), pattern(r"^[A-Za-z0-9._/:@+=~#-]+$"))
    )]
    pub subject: Option<String>,
    /// CloudEvents `source`: 1-256 printable ASCII characters; default
    /// `/tenants/<tenant id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = MAX_SOURCE_LEN), pattern(r"^[ -~]+$"))
    )]
    pub source: Option<String>,
    /// User ids (subscriber token `sub`) allowed to receive the event: at
    /// most 100, each 1-128 printable ASCII characters without spaces.
    /// Absent: every subscriber of the tenant whose token allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(
            length(max = MAX_AUDIENCE),
            inner(length(min = 1, max = MAX_USER_ID_LEN), pattern(r"^[!-~]+$"))
        )
    )]
    pub audience: Option<Vec<String>>,
    /// The contract version to check `data` against (default: the newest
    /// version that is not deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub version: Option<u32>,
    /// De-duplication key: a retry carrying the same key within the
    /// idempotency window gets the first id back instead of a new event.
    /// 1-200 printable ASCII characters without spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = MAX_KEY_LEN), pattern(r"^[!-~]+$"))
    )]
    pub key: Option<String>,
}

impl PublishEvent {
    /// An event of `kind` carrying `data`, with no optional field set.
    pub fn new(kind: impl Into<String>, data: Value) -> Self {
        PublishEvent {
            kind: kind.into(),
            data,
            subject: None,
            source: None,
            audience: None,
            version: None,
            key: None,
        }
    }

    /// Checks every field; returns all problems, each with its pointer
    /// (`prefix` is the event's own pointer, e.g. `/3` in a batch).
    pub fn check(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !valid_type(&self.kind) {
            errors.push(FieldError::new(
                format!("{prefix}/type"),
                format!("must be 1-{MAX_TYPE_LEN} characters of A-Z a-z 0-9 . _ - starting with a letter or digit"),
            ));
        } else if reserved_type(&self.kind) {
            errors.push(FieldError::new(
                format!("{prefix}/type"),
                "`presence.*` and `beacon.*` types are Beacon's own and cannot be published",
            ));
        }
        if let Some(subject) = &self.subject
            && !valid_subject(subject)
        {
            errors.push(FieldError::new(
                format!("{prefix}/subject"),
                format!(
                    "must be 1-{MAX_SUBJECT_LEN} characters of A-Z a-z 0-9 . _ - / : @ + = ~ #"
                ),
            ));
        }
        if let Some(source) = &self.source
            && !printable_text(source, MAX_SOURCE_LEN)
        {
            errors.push(FieldError::new(
                format!("{prefix}/source"),
                format!("must be 1-{MAX_SOURCE_LEN} printable ASCII characters"),
            ));
        }
        if let Some(audience) = &self.audience {
            if audience.len() > MAX_AUDIENCE {
                errors.push(FieldError::new(
                    format!("{prefix}/audience"),
                    format!("at most {MAX_AUDIENCE} user ids"),
                ));
            }
            for (i, user) in audience.iter().enumerate().take(MAX_AUDIENCE) {
                if !printable_token(user, MAX_USER_ID_LEN) {
                    errors.push(FieldError::new(
                        format!("{prefix}/audience/{i}"),
                        format!("a user id is 1-{MAX_USER_ID_LEN} printable ASCII characters without spaces"),
                    ));
                }
            }
        }
        if self.version == Some(0) {
            errors.push(FieldError::new(
                format!("{prefix}/version"),
                "versions start at 1",
            ));
        }
        if let Some(key) = &self.key
            && !printable_token(key, MAX_KEY_LEN)
        {
            errors.push(FieldError::new(
                format!("{prefix}/key"),
                format!("must be 1-{MAX_KEY_LEN} printable ASCII characters without spaces"),
            ));
        }
        errors
    }
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FieldError {
    /// JSON pointer to the value concerned, e.g. `/data/total`, or
    /// `/3/data/total` for the fourth event of a batch; empty for the
    /// whole document.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
pub fn valid_type(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TYPE_LEN
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `kind` is one of Beacon's own types (see [`RESERVED_PREFIXES`]).
pub fn reserved_type(kind: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|prefix| {
        kind.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    })
}

/// `A-Z a-z 0-9 . _ - / : @ + = ~ #`.
pub fn valid_subject(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SUBJECT_LEN
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'.' | b'_' | b'-' | b'/' | b':' | b'@' | b'+' | b'=' | b'~' | b'#'
                )
        })
}

/// Printable ASCII without spaces, 1..=max bytes.
fn printable_token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Printable ASCII (spaces allowed), 1..=max bytes.
fn printable_text(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// An event as subscribers receive it: the `data:` of an SSE event whose
/// `event:` is the event type. CloudEvents 1.0, JSON format, with Beacon's
/// `version` extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The event id, assigned by the log: opaque, ordered within a tenant,
    /// and also the SSE `id:` (send it back as `Last-Event-ID` to resume).
    pub id: String,
    /// The CloudEvents version, always `1.0`.
    #[cfg_attr(feature = "schema", schemars(extend("const" = "1.0")))]
    pub specversion: String,
    /// The event type, e.g. `order.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the event comes from; default `/tenants/<tenant id>`.
    pub source: String,
    /// The routing key given by the publisher; absent if none was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub subject: Option<String>,
    /// When the event was accepted: RFC 3339, UTC, milliseconds.
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub time: String,
    /// The media type of `data`, always `application/json`.
    #[cfg_attr(feature = "schema", schemars(extend("const" = "application/json")))]
    pub datacontenttype: String,
    /// The contract version `data` conforms to: the one it was checked
    /// against, or the version view the subscriber asked for (`type@N`).
    /// Absent for types without a contract (tenants that allow
    /// unregistered types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "u32", range(min = 1)))]
    pub version: Option<u32>,
    /// The payload as published.
    pub data: Value,
}

/// The envelope as stored, without `id` (the SSE encoder adds it when the
/// event is framed); [`Envelope`] describes it as delivered.
#[derive(Serialize)]
pub struct StoredEnvelope<'a> {
    pub specversion: &'static str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    pub time: &'a str,
    pub datacontenttype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    pub data: &'a Value,
}

impl StoredEnvelope<'_> {
    /// Compact JSON (one line: it becomes one SSE `data:` line).
    pub fn to_json(&self) -> String {
        // Serialising a `Value` and plain strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> PublishEvent {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reports_every_bad_field_with_its_pointer() {
        let e = parse(
            r#"{"type":"bad\ntype","data":1,"subject":"a b","source":"x\u0000","audience":["ok",""],"version":0,"key":"has space"}"#,
        );
        let paths: Vec<_> = e.check("/2").into_iter().map(|f| f.path).collect();
        assert_eq!(
            paths,
            [
                "/2/type",
                "/2/subject",
                "/2/source",
                "/2/audience/1",
                "/2/version",
                "/2/key"
            ]
        );
        let ok = parse(
            r#"{"type":"order.created","data":{},"subject":"order/1","audience":["42"],"version":2,"key":"k1"}"#,
        );
        assert!(ok.check("").is_empty());
    }

    #[test]
    fn injection_characters_never_pass() {
        for bad in ["a\r", "a\n", "a\0", "a:b", "", ".a", &"a".repeat(129), "é"] {
            assert!(!valid_type(bad), "{bad:?}");
        }
        for bad in ["a\rb", "a\nb", "a\0b", "a b", "", &"a".repeat(257)] {
            assert!(!valid_subject(bad), "{bad:?}");
        }
        assert!(valid_subject("order/IE-4486") && valid_subject("user:42@acme"));
    }

    #[test]
    fn reserved_types_are_refused_whatever_their_case() {
        for kind in [
            "beacon.gap",
            "Beacon.gap",
            "BEACON.closed",
            "presence.joined",
            "Presence.Left",
        ] {
            assert!(reserved_type(kind), "{kind}");
            let e = PublishEvent::new(kind, Value::Null);
            assert_eq!(e.check("").len(), 1, "{kind}");
        }
        for kind in [
            "presence",
            "order.created",
            "beaconx.y",
            "user.presence.joined",
            "b",
        ] {
            assert!(!reserved_type(kind), "{kind}");
        }
    }

    #[test]
    fn the_envelope_description_matches_what_is_stored() {
        let data = serde_json::json!([1]);
        let stored = StoredEnvelope {
            specversion: "1.0",
            kind: "a.b",
            source: "/tenants/acme",
            subject: Some("s"),
            time: "2026-11-23T12:00:00.000Z",
            datacontenttype: "application/json",
            version: Some(3),
            data: &data,
        }
        .to_json();
        let framed = format!("{{\"id\":\"x_1-0\",{}", &stored[1..]);
        let delivered: Envelope = serde_json::from_str(&framed).unwrap();
        assert_eq!(delivered.kind, "a.b");
        assert_eq!(delivered.version, Some(3));
        assert_eq!(serde_json::to_string(&delivered).unwrap(), framed);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<PublishEvent>(r#"{"type":"a","data":1,"tpye":"b"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `tpye`"), "{err}");
    }
}
