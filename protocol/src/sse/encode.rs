//! SSE frame encoding.
//!
//! An event frame is built once per event (by the server's fan-out) and its
//! bytes are shared by every subscriber that receives it. Fields that come
//! from publishers (`event:` type, the JSON envelope) are checked to contain
//! no CR, LF or NUL, so a publisher can never forge or split frames; U+2028,
//! U+2029 and U+0085, which some line-splitting clients take for line ends,
//! are sent as JSON escapes.

use std::borrow::Cow;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::control::Control;
use crate::envelope::valid_type;
use crate::position::Position;

/// A heartbeat: an SSE comment, ignored by clients, keeping proxies from
/// timing the connection out.
pub const HEARTBEAT: Bytes = Bytes::from_static(b":\n\n");

/// Why an event cannot be framed. Only data not written by Beacon (a store
/// edited by hand) can cause it: published events are checked before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the event type is not a valid type name")]
    Type,
    #[error("the envelope is not a one-line JSON object")]
    Envelope,
}

/// The first bytes of every stream: a comment (flushed at once so clients
/// and proxies see the stream open) and the reconnect delay hint.
pub fn preamble(retry: Duration) -> Bytes {
    Bytes::from(format!(": beacon\n\nretry: {}\n\n", retry.as_millis()))
}

/// `id: <position>` / `event: <type>` / `data: <envelope with "id" first>`.
/// `envelope` is the stored JSON object without its `id`.
pub fn event(position: &Position, kind: &str, envelope: &str) -> Result<Bytes, FrameError> {
    if !valid_type(kind) {
        return Err(FrameError::Type);
    }
    let bytes = envelope.as_bytes();
    let one_line_object = bytes.first() == Some(&b'{')
        && bytes.last() == Some(&b'}')
        && memchr::memchr3(b'\r', b'\n', 0, bytes).is_none();
    if !one_line_object {
        return Err(FrameError::Envelope);
    }
    let envelope = escape_line_separators(envelope);
    let rest = &envelope.as_bytes()[1..];
    let id = position.to_string();
    let mut out = BytesMut::with_capacity(envelope.len() + 2 * id.len() + kind.len() + 40);
    out.put_slice(b"id: ");
    out.put_slice(id.as_bytes());
    out.put_slice(b"\nevent: ");
    out.put_slice(kind.as_bytes());
    out.put_slice(b"\ndata: {\"id\":\"");
    out.put_slice(id.as_bytes());
    out.put_slice(b"\"");
    if rest != b"}" {
        out.put_u8(b',');
    }
    out.put_slice(rest);
    out.put_slice(b"\n\n");
    Ok(out.freeze())
}

/// A control event (`beacon.*`). It has no `id:` line, so it does not move
/// the client's `Last-Event-ID`.
pub fn control(control: &Control) -> Bytes {
    let json = control.to_json();
    Bytes::from(format!(
        "event: {}\ndata: {}\n\n",
        control.name(),
        escape_line_separators(&json)
    ))
}

/// A control event that also sets the client's `Last-Event-ID` to
/// `position` (`beacon.connected` marks where the stream starts).
pub fn control_with_id(control: &Control, position: &Position) -> Bytes {
    let json = control.to_json();
    Bytes::from(format!(
        "id: {position}\nevent: {}\ndata: {}\n\n",
        control.name(),
        escape_line_separators(&json)
    ))
}

/// Replaces U+2028, U+2029 and U+0085 in compact JSON by their `\u` escapes.
/// Raw, they can only stand inside JSON strings, where the escape means the
/// same character; clients that split lines on them then see one line.
pub fn escape_line_separators(json: &str) -> Cow<'_, str> {
    const SEPARATORS: [(&str, &str); 3] = [
        ("\u{2028}", "\\u2028"),
        ("\u{2029}", "\\u2029"),
        ("\u{85}", "\\u0085"),
    ];
    // Each separator starts with 0xE2 or 0xC2: most envelopes have neither.
    if memchr::memchr2(0xe2, 0xc2, json.as_bytes()).is_none()
        || !SEPARATORS.iter().any(|(raw, _)| json.contains(raw))
    {
        return Cow::Borrowed(json);
    }
    let mut out = json.to_owned();
    for (raw, escaped) in SEPARATORS {
        out = out.replace(raw, escaped);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Gap, GapReason};

    fn pos() -> Position {
        "abc_5-1".parse().unwrap()
    }

    #[test]
    fn event_frames_put_the_id_in_the_envelope() {
        let f = event(
            &pos(),
            "order.created",
            r#"{"type":"order.created","data":{"a":"x\ny"}}"#,
        )
        .unwrap();
        assert_eq!(
            &f[..],
            b"id: abc_5-1\nevent: order.created\ndata: {\"id\":\"abc_5-1\",\"type\":\"order.created\",\"data\":{\"a\":\"x\\ny\"}}\n\n"
        );
        let empty = event(&pos(), "a", "{}").unwrap();
        assert!(empty.ends_with(b"data: {\"id\":\"abc_5-1\"}\n\n"));
    }

    #[test]
    fn nothing_that_could_split_a_frame_is_framed() {
        assert_eq!(event(&pos(), "a\nid: 1", "{}"), Err(FrameError::Type));
        assert_eq!(
            event(&pos(), "a", "{\"x\":1}\n\ndata: x"),
            Err(FrameError::Envelope)
        );
        assert_eq!(
            event(&pos(), "a", "{\"x\":\"\r\"}"),
            Err(FrameError::Envelope)
        );
        assert_eq!(
            event(&pos(), "a", "{\"x\":\"\0\"}"),
            Err(FrameError::Envelope)
        );
        assert_eq!(event(&pos(), "a", "[1]"), Err(FrameError::Envelope));
    }

    #[test]
    fn unicode_line_separators_go_out_escaped() {
        let f = event(&pos(), "a", "{\"x\":\"1\u{2028}2\u{2029}3\u{85}4\"}").unwrap();
        let text = std::str::from_utf8(&f).unwrap();
        assert!(text.contains(r#""x":"1\u20282\u20293\u00854""#), "{text}");
        let back: serde_json::Value =
            serde_json::from_str(text.lines().nth(2).unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(back["x"], "1\u{2028}2\u{2029}3\u{85}4");
        assert!(matches!(
            escape_line_separators("{\"a\":\"é ✓\"}"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn control_frames_have_no_id_unless_asked() {
        let gap = Control::Gap(Gap {
            reason: GapReason::Epoch,
            requested: Some("x\ny".into()),
        });
        assert_eq!(
            &control(&gap)[..],
            b"event: beacon.gap\ndata: {\"reason\":\"epoch\",\"requested\":\"x\\ny\"}\n\n"
        );
        assert!(control_with_id(&gap, &pos()).starts_with(b"id: abc_5-1\nevent: beacon.gap\n"));
        assert_eq!(
            &preamble(Duration::from_secs(2))[..],
            b": beacon\n\nretry: 2000\n\n"
        );
    }
}
