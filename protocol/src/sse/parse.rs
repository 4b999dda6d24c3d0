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
//!   dispatched, but its `id` still becomes the last event id
//!   ([`Item::Id`]);
//! - a leading UTF-8 BOM is skipped, and whatever is left when the stream
//!   ends without an empty line is discarded: each connection gets a new
//!   parser, [`Parser::resuming`] from the last event id of the previous one.
//!
//! Lines are split on bytes, so a UTF-8 character split across chunks is
//! decoded whole; invalid UTF-8 is replaced, never fatal. Written here rather
//! than taken from a crate because the parser is half of Beacon's wire
//! protocol and must be bounded: a line longer than the parser's limit is an
//! error, so a broken or hostile server cannot make a client buffer without
//! end. The shared vectors in `protocol/vectors/sse.json` hold it (and the
//! JavaScript client's parser) to the same answers.

use std::time::Duration;

/// The default longest line: far above any event a node sends (64 KiB by
/// default), and a bound on what a broken stream can make a client buffer.
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
    /// An event without data carried an `id:`: the last event id is now
    /// this, all the same.
    Id(String),
}

/// A line longer than the parser's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a line of the event stream exceeds {limit} bytes")]
pub struct LineTooLong {
    pub limit: usize,
}

/// Parses a stream pushed in chunks of any size.
#[derive(Debug)]
pub struct Parser {
    max_line: usize,
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

impl Default for Parser {
    fn default() -> Self {
        Parser::resuming(None)
    }
}

impl Parser {
    /// A parser for a stream resumed after `id` (`None` for a first
    /// connection): events without an `id:` line report it as their last
    /// event id, as `EventSource` keeps it across reconnections.
    pub fn resuming(id: Option<String>) -> Parser {
        Parser {
            max_line: MAX_LINE_BYTES,
            line: Vec::new(),
            pending_cr: false,
            started: false,
            data: Vec::new(),
            event: String::new(),
            id_buffer: id.clone(),
            last_event_id: id,
            id_seen: false,
        }
    }

    /// Refuses lines longer than `bytes` (default [`MAX_LINE_BYTES`]).
    pub fn max_line(mut self, bytes: usize) -> Parser {
        self.max_line = bytes;
        self
    }

    /// The last event id the stream set so far.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// Parses one chunk; what its complete lines held is appended to
    /// `items`. Fails only on a line longer than the limit.
    pub fn push(&mut self, mut chunk: &[u8], items: &mut Vec<Item>) -> Result<(), LineTooLong> {
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            if self.line.len() + end > self.max_line {
                return Err(LineTooLong {
                    limit: self.max_line,
                });
            }
            self.line.extend_from_slice(&chunk[..end]);
            let line = std::mem::take(&mut self.line);
            self.process(&line, items);
            self.line = line;
            self.line.clear();
            let cr = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
        }
        if self.line.len() + chunk.len() > self.max_line {
            return Err(LineTooLong {
                limit: self.max_line,
            });
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
            if has_id && let Some(id) = &self.last_event_id {
                items.push(Item::Id(id.clone()));
            }
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
        let message = |event: &str, id: &str, has_id| {
            Item::Message(Message {
                event: event.into(),
                data: "{}".into(),
                last_event_id: Some(id.into()),
                has_id,
            })
        };
        assert_eq!(
            items,
            vec![
                message("message", "e_2-0", true),
                message("beacon.connected", "e_2-0", false),
            ]
        );
    }

    #[test]
    fn utf8_split_across_chunks_is_whole_and_long_lines_are_refused() {
        let text = "data: KSh 850 — ok ✓\n\n".as_bytes();
        let cut = text.iter().position(|&b| b == 0xe2).expect("multibyte") + 1;
        let mut parser = Parser::default();
        let mut items = Vec::new();
        parser.push(&text[..cut], &mut items).unwrap();
        parser.push(&text[cut..], &mut items).unwrap();
        assert!(
            matches!(&items[..], [Item::Message(m)] if m.data == "KSh 850 — ok ✓"),
            "{items:?}"
        );

        let mut parser = Parser::default().max_line(100);
        parser.push(&[b'a'; 100], &mut items).expect("at the limit");
        let error = parser.push(b"a", &mut items).expect_err("over the limit");
        assert_eq!(error, LineTooLong { limit: 100 });
        // A long line inside one chunk is refused too, before it is copied.
        let mut parser = Parser::default().max_line(100);
        let mut long = vec![b'a'; 200];
        long.push(b'\n');
        assert!(parser.push(&long, &mut items).is_err());
    }
}
