//! SSE frame encoding.
//!
//! An event frame is built once per event (by the hub) and its bytes are
//! shared by every subscriber that receives it. Fields that come from
//! publishers (`event:` type, the JSON envelope) are checked to contain no
//! CR, LF or NUL, so a publisher can never forge or split frames.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use crate::event::valid_type;
use crate::log::{Position, StoredEvent};

/// A heartbeat: an SSE comment, ignored by clients, keeping proxies from
/// timing the connection out.
pub const HEARTBEAT: Bytes = Bytes::from_static(b":\n\n");

/// The first bytes of every stream: a comment (flushed at once so clients
/// and proxies see the stream open) and the reconnect delay hint.
pub fn preamble(retry: Duration) -> Bytes {
    Bytes::from(format!(": beacon\n\nretry: {}\n\n", retry.as_millis()))
}

/// `id: <id>` / `event: <type>` / `data: <envelope with id>`. Returns `None`
/// (and the caller skips the event) if a stored value could break framing:
/// this only happens if the store holds data not written by Beacon.
pub fn event_frame(position: &Position, event: &StoredEvent) -> Option<Bytes> {
    let envelope = event.envelope.as_bytes();
    let framing_safe = envelope.first() == Some(&b'{')
        && envelope.last() == Some(&b'}')
        && !envelope.iter().any(|b| matches!(b, b'\r' | b'\n' | 0));
    if !framing_safe || !valid_type(&event.meta.kind) {
        return None;
    }
    let id = position.to_string();
    let rest = &envelope[1..];
    let mut out =
        BytesMut::with_capacity(envelope.len() + 2 * id.len() + event.meta.kind.len() + 40);
    out.put_slice(b"id: ");
    out.put_slice(id.as_bytes());
    out.put_slice(b"\nevent: ");
    out.put_slice(event.meta.kind.as_bytes());
    out.put_slice(b"\ndata: {\"id\":\"");
    out.put_slice(id.as_bytes());
    out.put_slice(b"\"");
    if rest != b"}" {
        out.put_u8(b',');
    }
    out.put_slice(rest);
    out.put_slice(b"\n\n");
    Some(out.freeze())
}

/// A Beacon control event (`beacon.*`). It has no `id:` line, so it does
/// not move the client's `Last-Event-ID`.
pub fn control(name: &'static str, data: &impl Serialize) -> Bytes {
    // Compact JSON has no raw newlines; a serialisation failure cannot
    // happen for the plain structs used here.
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// A control event that also sets the client's `Last-Event-ID` to
/// `position` (used by `beacon.connected` to mark where the stream starts).
pub fn control_with_id(name: &'static str, position: &Position, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("id: {position}\nevent: {name}\ndata: {json}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{EventMeta, Offset};

    fn stored(kind: &str, envelope: &str) -> StoredEvent {
        StoredEvent {
            offset: Offset::new(5, 1),
            meta: EventMeta {
                kind: kind.into(),
                subject: None,
                audience: vec![],
            },
            envelope: envelope.into(),
        }
    }

    fn pos() -> Position {
        "abc_5-1".parse().unwrap()
    }

    #[test]
    fn event_frames_put_the_id_in_the_envelope() {
        let f = event_frame(
            &pos(),
            &stored(
                "order.created",
                r#"{"type":"order.created","data":{"a":"x\ny"}}"#,
            ),
        )
        .unwrap();
        assert_eq!(
            &f[..],
            b"id: abc_5-1\nevent: order.created\ndata: {\"id\":\"abc_5-1\",\"type\":\"order.created\",\"data\":{\"a\":\"x\\ny\"}}\n\n"
        );
        let empty = event_frame(&pos(), &stored("a", "{}")).unwrap();
        assert!(empty.ends_with(b"data: {\"id\":\"abc_5-1\"}\n\n"));
    }

    #[test]
    fn nothing_that_could_split_a_frame_is_framed() {
        assert!(event_frame(&pos(), &stored("a\nid: 1", "{}")).is_none());
        assert!(event_frame(&pos(), &stored("a", "{\"x\":1}\n\ndata: x")).is_none());
        assert!(event_frame(&pos(), &stored("a", "{\"x\":\"\r\"}")).is_none());
        assert!(event_frame(&pos(), &stored("a", "[1]")).is_none());
    }

    #[test]
    fn control_frames_have_no_id() {
        let f = control("beacon.gap", &serde_json::json!({"reason": "epoch\nx"}));
        assert_eq!(
            &f[..],
            b"event: beacon.gap\ndata: {\"reason\":\"epoch\\nx\"}\n\n"
        );
        assert_eq!(
            &preamble(Duration::from_secs(2))[..],
            b": beacon\n\nretry: 2000\n\n"
        );
    }
}
