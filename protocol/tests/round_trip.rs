//! Whatever a publisher puts in its payload, the encoded frame parses back
//! as exactly one event with the same id, type and envelope: no field
//! injection.

use beacon_protocol::Position;
use beacon_protocol::sse::{Item, Parser, encode};
use serde_json::{Value, json};

/// Strings that break naive framings.
const NASTY: &[&str] = &[
    "",
    "\n",
    "\r\n\r\n",
    "\nid: forged\nevent: beacon.closed\ndata: {}\n\n",
    "\u{0}",
    "\u{2028}id: x\u{2029}\u{85}data: y",
    ": comment",
    "data: x",
    "\u{feff}",
    "\"}\n\n",
    "é✓🙂",
];

#[test]
fn hostile_payloads_round_trip_as_one_event() {
    let position: Position = "k3v9x2ab_1732370000000-7".parse().unwrap();
    for a in NASTY {
        for b in NASTY {
            let data = json!({ "a": a, "nested": { "b": b, "list": [a, b] } });
            let envelope = json!({ "type": "order.created", "subject": "order/1", "data": data });
            let stored = serde_json::to_string(&envelope).unwrap();
            let frame = encode::event(&position, "order.created", &stored).unwrap();
            let mut items = Vec::new();
            Parser::default().push(&frame, &mut items).unwrap();
            let [Item::Message(message)] = &items[..] else {
                panic!("{a:?} / {b:?}: {items:?}");
            };
            assert_eq!(message.event, "order.created");
            assert!(message.has_id);
            assert_eq!(
                message.last_event_id.as_deref(),
                Some(position.to_string().as_str())
            );
            assert_eq!(message.data.lines().count(), 1, "one data line");
            let back: Value = serde_json::from_str(&message.data).unwrap();
            assert_eq!(back["id"], position.to_string());
            assert_eq!(back["data"], data, "{a:?} / {b:?}");
        }
    }
}
