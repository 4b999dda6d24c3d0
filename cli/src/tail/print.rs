//! How `beacon tail` shows what it reads: each event on one line of stdout
//! (or its envelope as one line of JSON), notes on stderr, dimmed and
//! coloured on a terminal.

use std::io::{self, Write};

use beacon_client::Event;
use serde::Deserialize;
use serde_json::value::RawValue;

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// Colours for a terminal, unless `NO_COLOR` is set.
    pub fn detect(terminal: bool) -> Style {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: terminal && !no_colour,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// The styles of the two outputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Styles {
    pub out: Style,
    pub notes: Style,
}

/// Writes events and notes.
pub struct Printer<'a> {
    pub out: &'a mut dyn Write,
    pub notes: &'a mut dyn Write,
    pub styles: Styles,
    /// The date of the last event printed (a new one gets a header line).
    last_date: Option<String>,
    /// The widest type and subject so far, to align the columns.
    widths: (usize, usize),
}

/// The fields of an envelope that a line shows.
#[derive(Deserialize)]
struct Envelope<'a> {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    subject: Option<String>,
    time: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

impl<'a> Printer<'a> {
    /// Events to `out`, notes to `notes`.
    pub fn new(out: &'a mut dyn Write, notes: &'a mut dyn Write, styles: Styles) -> Self {
        Printer {
            out,
            notes,
            styles,
            last_date: None,
            widths: (0, 0),
        }
    }

    /// A note on stderr (dimmed on a terminal); failures to write it are
    /// ignored.
    pub fn note(&mut self, text: &str) {
        let line = self.styles.notes.dim(&format!("-- {text}"));
        let _ = writeln!(self.notes, "{line}");
        let _ = self.notes.flush();
    }

    /// One application event on stdout.
    pub fn event(&mut self, event: &Event, json: bool) -> io::Result<()> {
        if json {
            if event.data.contains('\n') {
                // Not what a node sends, but one event must stay one line.
                match serde_json::from_str::<serde_json::Value>(&event.data) {
                    Ok(value) => writeln!(self.out, "{value}")?,
                    Err(_) => writeln!(self.out, "{}", serde_json::json!(event.data))?,
                }
            } else {
                writeln!(self.out, "{}", event.data)?;
            }
            return self.out.flush();
        }
        let style = self.styles.out;
        let Ok(envelope) = serde_json::from_str::<Envelope>(&event.data) else {
            writeln!(
                self.out,
                "{}  {}",
                style.paint("1", &event.kind),
                event.data
            )?;
            return self.out.flush();
        };
        let (date, clock) = match envelope.time.as_deref() {
            Some(time) => match time.split_once('T') {
                Some((date, clock)) => (Some(date), clock.trim_end_matches('Z')),
                None => (None, time),
            },
            None => (None, "-"),
        };
        if let Some(date) = date
            && self.last_date.as_deref() != Some(date)
        {
            writeln!(self.out, "{}", style.dim(&format!("-- {date} (UTC)")))?;
            self.last_date = Some(date.to_owned());
        }
        let kind = envelope.kind.as_deref().unwrap_or(&event.kind);
        let subject = envelope.subject.as_deref().unwrap_or("-");
        self.widths.0 = self.widths.0.max(kind.len());
        self.widths.1 = self.widths.1.max(subject.len());
        let id = envelope
            .id
            .as_deref()
            .or(event.id.as_deref())
            .unwrap_or("-");
        let data = envelope.data.map_or("null", RawValue::get);
        writeln!(
            self.out,
            "{}  {}  {}  {}  {}",
            style.dim(clock),
            style.paint("1;36", &format!("{kind:w$}", w = self.widths.0)),
            style.paint("33", &format!("{subject:w$}", w = self.widths.1)),
            style.dim(id),
            data
        )?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(events: &[Event], json: bool, colour: bool) -> String {
        let mut out = Vec::new();
        let mut notes = Vec::new();
        let mut printer = Printer {
            out: &mut out,
            notes: &mut notes,
            styles: Styles {
                out: Style { colour },
                notes: Style { colour },
            },
            last_date: None,
            widths: (0, 0),
        };
        for event in events {
            printer.event(event, json).expect("printed");
        }
        String::from_utf8(out).expect("UTF-8")
    }

    fn order(id: &str, time: &str, subject: Option<&str>) -> Event {
        let mut envelope = serde_json::json!({
            "id": id,
            "specversion": "1.0",
            "type": "order.created",
            "source": "/tenants/acme",
            "time": time,
            "datacontenttype": "application/json",
            "data": {"orderId": "IE-4486", "total": 85000}
        });
        if let Some(subject) = subject {
            envelope["subject"] = subject.into();
        }
        Event {
            kind: "order.created".to_owned(),
            data: envelope.to_string(),
            id: Some(id.to_owned()),
            envelope: None,
        }
    }

    #[test]
    fn events_are_one_aligned_line_each_under_a_date() {
        let events = [
            order("e_1-0", "2026-11-23T12:00:00.000Z", Some("order/IE-4486")),
            order("e_2-0", "2026-11-23T12:00:01.250Z", None),
            order("e_3-0", "2026-11-24T00:00:00.000Z", Some("o/1")),
        ];
        let text = printed(&events, false, false);
        assert_eq!(
            text,
            "-- 2026-11-23 (UTC)\n\
             12:00:00.000  order.created  order/IE-4486  e_1-0  {\"orderId\":\"IE-4486\",\"total\":85000}\n\
             12:00:01.250  order.created  -              e_2-0  {\"orderId\":\"IE-4486\",\"total\":85000}\n\
             -- 2026-11-24 (UTC)\n\
             00:00:00.000  order.created  o/1            e_3-0  {\"orderId\":\"IE-4486\",\"total\":85000}\n"
        );
        let coloured = printed(&events[..1], false, true);
        assert!(
            coloured.contains("\x1b[1;36morder.created\x1b[0m"),
            "{coloured:?}"
        );
        assert!(coloured.contains("\x1b[2me_1-0\x1b[0m"), "{coloured:?}");
    }

    #[test]
    fn json_lines_are_the_envelopes() {
        let events = [order("e_1-0", "2026-11-23T12:00:00.000Z", None)];
        let text = printed(&events, true, true);
        assert_eq!(text, format!("{}\n", events[0].data));
        let multi_line = Event {
            kind: "x".to_owned(),
            data: "{\"a\":\n1}".to_owned(),
            id: None,
            envelope: None,
        };
        assert_eq!(printed(&[multi_line], true, false), "{\"a\":1}\n");
    }
}
