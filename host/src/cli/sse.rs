//! A streaming parser for `text/event-stream`, following the HTML
//! standard's "event stream interpretation" (the rules `EventSource` uses):
//!
//! - lines end with CRLF, LF or CR (a CRLF split across chunks counts once);
//! - a line starting with `:` is a comment (Beacon's heartbeats);
//! - `field: value` (one space after the colon is removed; a line without a
//!   colon is a field with an empty value); unknown fields are ignored;
//! - `data` lines accumulate, joined by LF; `event` names the type (default
//!   `message`); `id` sets the last event id (ignored if it contains NUL)
//!   and the id persists until another `id` changes it; `retry` (ASCII
//!   digits only) sets the reconnection time;
//! - an empty line dispatches the event; an event without data is not
//!   dispatched, but its `id` still becomes the last event id;
//! - a leading UTF-8 BOM is skipped, and whatever is left when the stream
//!   ends without an empty line is discarded: each connection gets a new
//!   parser, [`Parser::resuming`] from the last event id of the previous one.
//!
//! Lines are split on bytes, so a UTF-8 character split across chunks is
//! decoded whole; invalid UTF-8 is replaced, never fatal.

use std::time::Duration;

use anyhow::bail;

/// Longest line accepted: far above any event a node sends (64 KiB by
/// default), and a bound on what a broken stream can make us buffer.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `data:` lines joined by LF.
    pub data: String,
    /// The stream's last event id after this event (`None` while the
    /// stream has set none).
    pub last_event_id: Option<String>,
    /// Whether this very event carried an `id:` field.
    pub has_id: bool,
}

/// What a chunk of the stream held, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An event.
    Message(Message),
    /// A comment line, without its colon (a heartbeat is empty).
    Comment(String),
    /// A valid `retry:` field: the reconnection time the server asks for.
    Retry(Duration),
}

/// Parses a stream pushed in chunks of any size.
#[derive(Debug, Default)]
pub struct Parser {
    /// The incomplete line at the end of the last chunk.
    line: Vec<u8>,
    /// The last chunk ended with CR: an LF starting the next one belongs to it.
    pending_cr: bool,
    /// No line of this stream was read yet (a BOM may come).
    started: bool,
    data: Vec<String>,
    event: String,
    /// The `id:` of the event being read (the standard's "last event ID buffer").
    id_buffer: Option<String>,
    /// The last event id as of the last dispatch.
    last_event_id: Option<String>,
    id_seen: bool,
}

impl Parser {
    /// A parser for a stream resumed after `id` (`None` for a first
    /// connection): events without an `id:` line report it as their last
    /// event id, as `EventSource` keeps it across reconnections.
    pub fn resuming(id: Option<String>) -> Parser {
        Parser {
            id_buffer: id.clone(),
            last_event_id: id,
            ..Parser::default()
        }
    }

    /// The last event id the stream set so far.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// Parses one chunk; what its complete lines held is appended to
    /// `items`. Fails only on a line longer than [`MAX_LINE_BYTES`].
    pub fn push(&mut self, mut chunk: &[u8], items: &mut Vec<Item>) -> anyhow::Result<()> {
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            self.line.extend_from_slice(&chunk[..end]);
            let line = std::mem::take(&mut self.line);
            self.process(&line, items);
            let crlf = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if crlf {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
        }
        if self.line.len() + chunk.len() > MAX_LINE_BYTES {
            bail!("a line of the event stream exceeds {MAX_LINE_BYTES} bytes");
        }
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    fn process(&mut self, line: &[u8], items: &mut Vec<Item>) {
        let mut line = String::from_utf8_lossy(line);
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_owned().into();
            }
        }
        if line.is_empty() {
            self.dispatch(items);
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            items.push(Item::Comment(comment.to_owned()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => self.data.push(value.to_owned()),
            "id" if !value.contains('\0') => {
                self.id_buffer = Some(value.to_owned());
                self.id_seen = true;
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    items.push(Item::Retry(Duration::from_millis(ms)));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, items: &mut Vec<Item>) {
        let has_id = std::mem::take(&mut self.id_seen);
        self.last_event_id.clone_from(&self.id_buffer);
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        items.push(Item::Message(Message {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
            last_event_id: self.last_event_id.clone(),
            has_id,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<Item>, Parser) {
        let mut parser = Parser::default();
        let mut items = Vec::new();
        for chunk in chunks {
            parser.push(chunk, &mut items).expect("parsed");
        }
        (items, parser)
    }

    fn message(event: &str, data: &str, id: Option<&str>, has_id: bool) -> Item {
        Item::Message(Message {
            event: event.to_owned(),
            data: data.to_owned(),
            last_event_id: id.map(str::to_owned),
            has_id,
        })
    }

    /// What Beacon sends: a comment, a retry hint, `beacon.connected` with
    /// an id, an event, a heartbeat, a control event without an id.
    const STREAM: &str = ": beacon\n\nretry: 2000\n\nid: e_1-0\nevent: beacon.connected\ndata: {\"resume\":\"none\"}\n\nid: e_2-0\nevent: order.created\ndata: {\"id\":\"e_2-0\"}\n\n:\n\nevent: beacon.gap\ndata: {\"reason\":\"expired\"}\n\n";

    fn beacon_items() -> Vec<Item> {
        vec![
            Item::Comment("beacon".to_owned()),
            Item::Retry(Duration::from_millis(2000)),
            message(
                "beacon.connected",
                "{\"resume\":\"none\"}",
                Some("e_1-0"),
                true,
            ),
            message("order.created", "{\"id\":\"e_2-0\"}", Some("e_2-0"), true),
            Item::Comment(String::new()),
            message(
                "beacon.gap",
                "{\"reason\":\"expired\"}",
                Some("e_2-0"),
                false,
            ),
        ]
    }

    #[test]
    fn beacon_frames_are_read_whatever_the_chunking() {
        let bytes = STREAM.as_bytes();
        let (whole, parser) = parse_chunks(&[bytes]);
        assert_eq!(whole, beacon_items());
        assert_eq!(parser.last_event_id(), Some("e_2-0"));
        // One byte at a time, and every split in two.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_chunks(&singles).0, beacon_items());
        for cut in 0..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(parse_chunks(&[a, b]).0, beacon_items(), "split at {cut}");
        }
    }

    #[test]
    fn every_line_ending_counts_once() {
        for ending in ["\n", "\r", "\r\n"] {
            let text = STREAM.replace('\n', ending);
            let bytes = text.as_bytes();
            for cut in 0..bytes.len() {
                let (a, b) = bytes.split_at(cut);
                assert_eq!(
                    parse_chunks(&[a, b]).0,
                    beacon_items(),
                    "{ending:?}, split at {cut}"
                );
            }
        }
    }

    #[test]
    fn fields_follow_the_standard() {
        let (items, parser) = parse_chunks(&[
            // A BOM, multi-line data, no space after the colon, a field
            // without a colon, an unknown field, a default event name.
            "\u{feff}data:a\ndata: b\ndata\nfoo: bar\n\n".as_bytes(),
            // Two spaces: only one is removed.
            b"event: x\ndata:  c\n\n",
            // An id with NUL is ignored; an id-only event is not dispatched
            // but moves the last event id.
            b"id: a\0b\ndata: d\n\nid: 7\n\ndata: e\n\n",
            // A bad retry is ignored.
            b"retry: 1s\nretry: 15\n\n",
        ]);
        assert_eq!(
            items,
            vec![
                message("message", "a\nb\n", None, false),
                message("x", " c", None, false),
                message("message", "d", None, false),
                message("message", "e", Some("7"), false),
                Item::Retry(Duration::from_millis(15)),
            ]
        );
        assert_eq!(parser.last_event_id(), Some("7"));
    }

    #[test]
    fn a_cut_stream_drops_its_partial_event_and_keeps_the_id() {
        let mut parser = Parser::resuming(Some("e_1-0".to_owned()));
        let mut items = Vec::new();
        parser
            .push(
                b"id: e_2-0\ndata: {}\n\nid: e_3-0\ndata: {\"half",
                &mut items,
            )
            .expect("parsed");
        // The connection drops; the next one resumes from the last id.
        let mut parser = Parser::resuming(parser.last_event_id().map(str::to_owned));
        parser
            .push(
                "\u{feff}event: beacon.connected\ndata: {}\n\n".as_bytes(),
                &mut items,
            )
            .expect("parsed");
        assert_eq!(
            items,
            vec![
                message("message", "{}", Some("e_2-0"), true),
                message("beacon.connected", "{}", Some("e_2-0"), false),
            ]
        );
        // A resumed parser reports the id it resumed from.
        let (mut fresh, mut items) = (Parser::resuming(Some("x_1-1".to_owned())), Vec::new());
        fresh.push(b"data: 1\n\n", &mut items).expect("parsed");
        assert_eq!(items, vec![message("message", "1", Some("x_1-1"), false)]);
    }

    #[test]
    fn utf8_split_across_chunks_is_whole_and_long_lines_are_refused() {
        let text = "data: KSh 850 — ok ✓\n\n".as_bytes();
        let cut = text.iter().position(|&b| b == 0xe2).expect("multibyte") + 1;
        let (items, _) = parse_chunks(&[&text[..cut], &text[cut..]]);
        assert_eq!(
            items,
            vec![message("message", "KSh 850 — ok ✓", None, false)]
        );

        let mut parser = Parser::default();
        let mut items = Vec::new();
        let big = vec![b'a'; MAX_LINE_BYTES];
        parser.push(&big, &mut items).expect("at the limit");
        let error = parser.push(b"a", &mut items).expect_err("over the limit");
        assert!(error.to_string().contains("exceeds"), "{error}");
    }
}
