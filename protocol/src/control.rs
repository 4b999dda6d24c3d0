//! Beacon's control events: `beacon.*` SSE events that tell a subscriber
//! about its stream rather than about the tenant's events.
//!
//! Only `beacon.connected` carries an `id:` (the position the stream starts
//! from); the others leave the client's `Last-Event-ID` where it is. Every
//! payload is compact JSON on one `data:` line.

use serde::{Deserialize, Serialize};

/// `beacon.connected`: the first event of every stream.
pub const CONNECTED: &str = "beacon.connected";
/// `beacon.gap`: the requested position could not be resumed from exactly.
pub const GAP: &str = "beacon.gap";
/// `beacon.incompatible`: events of a type cannot be shown in the version asked for.
pub const INCOMPATIBLE: &str = "beacon.incompatible";
/// `beacon.token_expired`: the stream ends; reconnect with a fresh token.
pub const TOKEN_EXPIRED: &str = "beacon.token_expired";
/// `beacon.overflow`: the subscriber fell too far behind; the stream ends.
pub const OVERFLOW: &str = "beacon.overflow";
/// `beacon.shutdown`: the node is stopping; reconnect (to any node).
pub const SHUTDOWN: &str = "beacon.shutdown";
/// `beacon.closed`: the stream ends for good; do not reconnect.
pub const CLOSED: &str = "beacon.closed";

/// How a requested resume position relates to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Resume {
    /// No id given: live events from now on.
    None,
    /// Replaying exactly what came after the given id.
    Exact,
    /// The id cannot be resumed from; delivery restarts at the oldest event kept.
    Gap,
}

impl Resume {
    /// The wire name, also a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Resume::None => "none",
            Resume::Exact => "exact",
            Resume::Gap => "gap",
        }
    }
}

/// Why a resume position could not be honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum GapReason {
    /// Events after the id were removed by retention.
    Expired,
    /// The id belongs to another incarnation of the stream.
    Epoch,
    /// The id is ahead of the stream: it was never issued by it.
    Unknown,
}

impl GapReason {
    /// The wire name, also a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Expired => "expired",
            GapReason::Epoch => "epoch",
            GapReason::Unknown => "unknown",
        }
    }
}

/// Why a stream was closed for good (`beacon.closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClosedReason {
    /// The same user opened a newer connection beyond their cap, and the
    /// tenant closes the oldest.
    Replaced,
    /// The tenant was deleted; its tokens no longer work.
    TenantDeleted,
}

/// `beacon.connected`: the first event of every stream. Its SSE `id:` is
/// the position the stream starts from, so a client that drops before any
/// event still resumes exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Connected {
    /// This connection's id, for support and logs.
    // A client reads a `beacon.connected` without one as an empty id, since
    // nothing depends on it; the schema describes what a node sends, which
    // always has one.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(!default))]
    pub connection: String,
    /// The tenant whose events the stream carries.
    pub tenant: String,
    /// `none` (no id given), `exact` (replaying after the given id) or `gap`
    /// (a `beacon.gap` follows).
    pub resume: Resume,
    /// The id the client resumes from, if any.
    pub last_event_id: Option<String>,
    /// Seconds between heartbeat comments: a client that hears nothing for a
    /// few of them should reconnect.
    pub heartbeat_s: u64,
}

/// `beacon.gap`: the requested position cannot be resumed from; delivery
/// continues from the oldest event still available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Gap {
    /// `expired` (older than retention), `epoch` (another incarnation of the
    /// stream) or `unknown` (never issued by the stream).
    pub reason: GapReason,
    /// The id that was asked for.
    pub requested: Option<String>,
}

/// `beacon.incompatible`: events of `type` published as version `published`
/// cannot be shown in the shape of version `wanted` (the change is not
/// additive, and no converter plugin of the tenant converted them); they are
/// skipped for this subscriber. Sent once per type and published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Incompatible {
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The version view the subscriber asked for (`type@N`).
    pub wanted: u32,
    /// The contract version the skipped events were published as.
    pub published: u32,
    /// Why the versions are incompatible.
    pub reason: String,
}

/// `beacon.overflow`: the subscriber fell too far behind and the stream
/// ends; reconnecting with `last_event_id` resumes exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Overflow {
    /// Always `slow_consumer`.
    #[cfg_attr(feature = "schema", schemars(extend("const" = "slow_consumer")))]
    pub reason: String,
    /// The last event delivered on this stream; resume from it.
    pub last_event_id: Option<String>,
}

/// `beacon.token_expired`: the subscriber's token expired and the stream
/// ends; fetch a new token and reconnect with `Last-Event-ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TokenExpired {
    /// A human-readable explanation.
    pub reason: String,
    /// The position to resume from.
    pub last_event_id: Option<String>,
}

/// `beacon.shutdown`: the node is shutting down and closes the stream;
/// reconnect (elsewhere) with `Last-Event-ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Shutdown {
    /// A human-readable explanation.
    pub reason: String,
}

/// `beacon.closed`: the server ended this stream; do not reconnect. With
/// reason `replaced` the same user opened a newer connection above their cap
/// (`close-oldest`); with `tenant_deleted` the tenant was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Closed {
    /// `replaced` or `tenant_deleted`.
    pub reason: ClosedReason,
}

/// Any control event, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Connected(Connected),
    Gap(Gap),
    Incompatible(Incompatible),
    TokenExpired(TokenExpired),
    Overflow(Overflow),
    Shutdown(Shutdown),
    Closed(Closed),
}

/// A `beacon.*` event whose payload is not what its name promises.
#[derive(Debug, thiserror::Error)]
#[error("malformed `{name}` payload: {source}")]
pub struct ControlError {
    pub name: String,
    #[source]
    pub source: serde_json::Error,
}

impl Control {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Control::Connected(_) => CONNECTED,
            Control::Gap(_) => GAP,
            Control::Incompatible(_) => INCOMPATIBLE,
            Control::TokenExpired(_) => TOKEN_EXPIRED,
            Control::Overflow(_) => OVERFLOW,
            Control::Shutdown(_) => SHUTDOWN,
            Control::Closed(_) => CLOSED,
        }
    }

    /// The payload as compact JSON (one line).
    pub fn to_json(&self) -> String {
        let json = match self {
            Control::Connected(p) => serde_json::to_string(p),
            Control::Gap(p) => serde_json::to_string(p),
            Control::Incompatible(p) => serde_json::to_string(p),
            Control::TokenExpired(p) => serde_json::to_string(p),
            Control::Overflow(p) => serde_json::to_string(p),
            Control::Shutdown(p) => serde_json::to_string(p),
            Control::Closed(p) => serde_json::to_string(p),
        };
        // Plain structs of strings and numbers always serialise.
        json.unwrap_or_else(|_| "{}".into())
    }

    /// Reads a control event; `None` when `name` is not one (an event of the
    /// tenant, or a control event newer than this crate, to be ignored).
    pub fn parse(name: &str, data: &str) -> Option<Result<Control, ControlError>> {
        fn read<T: serde::de::DeserializeOwned>(
            name: &str,
            data: &str,
            wrap: fn(T) -> Control,
        ) -> Result<Control, ControlError> {
            serde_json::from_str(data)
                .map(wrap)
                .map_err(|source| ControlError {
                    name: name.to_owned(),
                    source,
                })
        }
        Some(match name {
            CONNECTED => read(name, data, Control::Connected),
            GAP => read(name, data, Control::Gap),
            INCOMPATIBLE => read(name, data, Control::Incompatible),
            TOKEN_EXPIRED => read(name, data, Control::TokenExpired),
            OVERFLOW => read(name, data, Control::Overflow),
            SHUTDOWN => read(name, data, Control::Shutdown),
            CLOSED => read(name, data, Control::Closed),
            _ => return None,
        })
    }

    /// Whether the stream ends after this event.
    pub fn ends_stream(&self) -> bool {
        matches!(
            self,
            Control::TokenExpired(_)
                | Control::Overflow(_)
                | Control::Shutdown(_)
                | Control::Closed(_)
        )
    }

    /// Whether a client should stop for good instead of reconnecting.
    pub fn is_final(&self) -> bool {
        matches!(self, Control::Closed(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_event_reads_back_what_was_written() {
        let all = [
            Control::Connected(Connected {
                connection: "c-1".into(),
                tenant: "acme".into(),
                resume: Resume::Exact,
                last_event_id: Some("e_1-0".into()),
                heartbeat_s: 15,
            }),
            Control::Gap(Gap {
                reason: GapReason::Expired,
                requested: None,
            }),
            Control::Incompatible(Incompatible {
                kind: "a.b".into(),
                wanted: 1,
                published: 3,
                reason: "x".into(),
            }),
            Control::TokenExpired(TokenExpired {
                reason: "expired".into(),
                last_event_id: Some("e_2-0".into()),
            }),
            Control::Overflow(Overflow {
                reason: "slow_consumer".into(),
                last_event_id: None,
            }),
            Control::Shutdown(Shutdown {
                reason: "bye".into(),
            }),
            Control::Closed(Closed {
                reason: ClosedReason::TenantDeleted,
            }),
        ];
        for control in all {
            let json = control.to_json();
            assert!(!json.contains('\n'));
            let back = Control::parse(control.name(), &json).unwrap().unwrap();
            assert_eq!(back, control);
        }
        assert_eq!(
            Control::Closed(Closed {
                reason: ClosedReason::TenantDeleted
            })
            .to_json(),
            r#"{"reason":"tenant_deleted"}"#
        );
    }

    #[test]
    fn a_connected_event_without_a_connection_id_still_reads() {
        let Some(Ok(Control::Connected(connected))) = Control::parse(
            CONNECTED,
            r#"{"tenant":"acme","resume":"none","last_event_id":null,"heartbeat_s":15}"#,
        ) else {
            panic!("not read");
        };
        assert_eq!(connected.connection, "");
        assert_eq!(connected.heartbeat_s, 15);
    }

    #[test]
    fn tenant_events_and_malformed_payloads_are_told_apart() {
        assert!(Control::parse("order.created", "{}").is_none());
        assert!(Control::parse("beacon.future_thing", "{}").is_none());
        let err = Control::parse(GAP, r#"{"reason":"nope"}"#)
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("beacon.gap"), "{err}");
    }
}
