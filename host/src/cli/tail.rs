//! `beacon tail`: follow a tenant's event stream (`GET /v1/stream`) and
//! print each event as it arrives.
//!
//! Events go to stdout, one line each (or one JSON envelope per line with
//! `--json`); Beacon's control events (`beacon.connected`, `beacon.gap`,
//! ...) and reconnections are noted on stderr, dimmed on a terminal. When
//! the stream drops, tail reconnects with `Last-Event-ID` after a capped,
//! jittered backoff, so nothing is missed or shown twice; when the node
//! ends it for an expired token, tail mints a new one if it has an API key.
//!
//! Exit status: 0 after `--count` events, on Ctrl-C, or when stdout is
//! closed (`beacon tail | head`); 1 when the node refuses the stream (bad
//! token or filter), closes it for good (`beacon.closed`), or cannot be
//! reached at the start; 2 for a malformed command line.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use rand::RngExt;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use beacon::log::{Offset, Position};

use super::http::{Client, DEFAULT_URL, PUBLISH_KEY, SUBSCRIBER_TOKEN};
use super::sse::{self, Item, Message};
use super::{refused, token};

/// The first reconnection delay's upper bound (doubling each attempt).
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// No reconnection delay exceeds this.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Silence after which a stream that has not said `beacon.connected` yet
/// counts as dead.
const CONNECT_SILENCE: Duration = Duration::from_secs(30);
/// `--from` values that mean "every event still retained".
const FROM_START: [&str; 2] = ["start", "beginning"];

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  export BEACON_URL=http://127.0.0.1:8080 BEACON_API_KEY=bk_...
  beacon tail                                   # every event from now on
  beacon tail --types 'order.*,payment.succeeded' --subjects 'order/IE-4486'
  beacon tail --from k3v9x2ab_1732370000000-4   # replay what came after that id, then follow
  beacon tail --from start --count 10           # the 10 oldest events still retained
  beacon tail --json | jq -c 'select(.data.total > 1000)'
  beacon tail --token \"$(beacon token 42 --types 'order.*')\"

Each event is one line: time (UTC), type, subject, id, data. Control events
(connected, gap, overflow, token_expired, shutdown) and reconnections are
noted on stderr. tail reconnects on its own and resumes after the last
event it printed; Ctrl-C stops it.")]
pub struct TailArgs {
    /// Base URL of the node (plain http; for an https node use a local
    /// TLS-terminating proxy or an SSH tunnel).
    #[arg(long, env = "BEACON_URL", default_value = DEFAULT_URL, value_name = "URL")]
    url: String,

    /// A subscriber token (`beacon token <sub>`); wins over --api-key.
    /// When it expires, tail stops: pass --api-key instead to have it mint
    /// new ones.
    #[arg(
        long,
        env = "BEACON_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,

    /// A tenant's API key with the `publish` scope: tail mints its own
    /// short-lived subscriber tokens with it, and a new one whenever the
    /// node ends the stream for an expired token.
    #[arg(
        long,
        env = "BEACON_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,

    /// With --api-key: the user id of the tokens tail mints. Events with
    /// an `audience` reach only the users it lists.
    #[arg(long, value_name = "SUB", default_value = "beacon-tail")]
    sub: String,

    /// With --api-key: the lifetime of each token tail mints.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = token::parse_ttl)]
    token_ttl: Duration,

    /// Only these event types, comma-separated: exact types, `prefix.*`
    /// wildcards, `*`, or `type@N` to see a type as version N of its
    /// contract.
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    types: Vec<String>,

    /// Only these subjects, comma-separated: exact, or a trailing `*`
    /// (`order/*`).
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    subjects: Vec<String>,

    /// Replay the events after this event id, then follow; `start` replays
    /// every event the node still retains. Default: only new events.
    #[arg(long, value_name = "ID|start")]
    from: Option<String>,

    /// Print each event's envelope as one line of JSON (for jq).
    #[arg(long)]
    json: bool,

    /// Exit after this many events (control events do not count).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

/// Runs `beacon tail ...` and returns the exit status.
pub fn run(args: TailArgs) -> ExitCode {
    super::block_on(async move {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let styles = Styles {
            out: Style::detect(io::stdout().is_terminal()),
            notes: Style::detect(io::stderr().is_terminal()),
        };
        let mut stdout = io::stdout();
        let mut stderr = io::stderr();
        execute(args, &mut stdout, &mut stderr, styles, stop).await
    })
}

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colours for a terminal, unless `NO_COLOR` is set.
    fn detect(terminal: bool) -> Style {
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

/// Follows the stream until `--count` events, a fatal refusal, or `stop`.
pub async fn execute(
    args: TailArgs,
    out: &mut dyn Write,
    notes: &mut dyn Write,
    styles: Styles,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let (from, from_start) = match args.from.as_deref() {
        Some(id) if FROM_START.contains(&id) => (None, true),
        Some(id) => {
            id.parse::<Position>()
                .map_err(|e| anyhow::anyhow!("--from {id}: {e}"))?;
            (Some(id.to_owned()), false)
        }
        None => (None, false),
    };
    let mut query = Vec::new();
    if !args.types.is_empty() {
        query.push(("types", args.types.join(",")));
    }
    if !args.subjects.is_empty() {
        query.push(("subjects", args.subjects.join(",")));
    }
    let url = args.url.as_str();
    let (minter, token) = match (args.token.as_deref(), args.api_key.as_deref()) {
        (Some(token), _) if !token.is_empty() => (None, token.to_owned()),
        (_, Some(key)) if !key.is_empty() => {
            let client = Client::connect(url, Some(key), PUBLISH_KEY)?;
            let body = token::request(&args.sub, args.token_ttl);
            let (_, minted) = tokio::select! {
                minted = token::mint(&client, &body) => minted?,
                () = stop.cancelled() => return Ok(ExitCode::SUCCESS),
            };
            let minter = Minter {
                client,
                sub: args.sub.clone(),
                ttl: args.token_ttl,
            };
            (Some(minter), minted.token)
        }
        _ => bail!(
            "no credential: pass --token (or set BEACON_TOKEN; `beacon token <sub>` mints one), \
             or --api-key (or set BEACON_API_KEY) and tail mints its own tokens"
        ),
    };
    let stream = Client::connect(url, Some(&token), SUBSCRIBER_TOKEN)?;
    let mut tail = Tail {
        stream,
        minter,
        query,
        last_id: from,
        from_start,
        json: args.json,
        remaining: args.count,
        printer: Printer {
            out,
            notes,
            styles,
            last_date: None,
            widths: (0, 0),
        },
        retry_floor: Duration::ZERO,
        connected: false,
        printed: 0,
    };
    let outcome = tokio::select! {
        outcome = tail.follow() => outcome,
        () = stop.cancelled() => {
            let printed = tail.printed;
            tail.printer.note(&format!("stopped after {}", super::count(printed as usize, "event")));
            Ok(ExitCode::SUCCESS)
        }
    };
    let _ = tail.printer.out.flush();
    outcome
}

/// With `--api-key`: how tail mints its subscriber tokens (with `--token`
/// there is none, and the token given is the only one).
struct Minter {
    /// A client with the API key.
    client: Client,
    sub: String,
    ttl: Duration,
}

/// Why one connection's stream ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// `--count` events were printed, or stdout was closed.
    Done,
    /// `--from start` learned the stream's epoch: reconnect from its start.
    Restart,
    /// `beacon.overflow`: reconnect at once from the last id.
    Overflow,
    /// `beacon.token_expired`.
    TokenExpired,
    /// `beacon.shutdown`: reconnect after a backoff.
    Shutdown,
    /// `beacon.closed`: do not reconnect.
    Closed(String),
    /// The connection ended without a word, or went silent.
    Dropped(String),
}

struct Tail<'a> {
    /// The client of the stream, holding the current subscriber token.
    stream: Client,
    minter: Option<Minter>,
    query: Vec<(&'static str, String)>,
    /// The id to resume after (sent as `Last-Event-ID`).
    last_id: Option<String>,
    /// `--from start`, until the stream's epoch is known.
    from_start: bool,
    json: bool,
    /// Events still to print before exiting, with `--count`.
    remaining: Option<u64>,
    printer: Printer<'a>,
    /// The server's `retry:` hint: no reconnection comes sooner.
    retry_floor: Duration,
    /// The current connection said `beacon.connected`.
    connected: bool,
    printed: u64,
}

impl Tail<'_> {
    /// Connects, reads, reconnects, until done or refused.
    async fn follow(&mut self) -> anyhow::Result<ExitCode> {
        let mut attempt: u32 = 0;
        let mut ever_connected = false;
        // 401s in a row: with --api-key, the token may have expired (or
        // been minted in the last moments of a second with a 1s lifetime),
        // so a new one is minted, twice at most.
        let mut refusals: u32 = 0;
        loop {
            self.connected = false;
            let opened = self
                .stream
                .open_stream(&["v1", "stream"], &self.query, self.last_id.as_deref())
                .await;
            let response = match opened {
                Ok(Ok(response)) => response,
                Ok(Err(problem)) => {
                    let status = problem.status;
                    if status == StatusCode::UNAUTHORIZED {
                        if self.minter.is_some() && refusals < 2 {
                            refusals += 1;
                            self.mint().await?;
                            continue;
                        }
                        let what = if self.minter.is_some() {
                            "the node refused the tokens minted just now"
                        } else {
                            "the node refused the subscriber token (check --token or \
                             BEACON_TOKEN; expired? `beacon token <sub>` mints another)"
                        };
                        return Err(refused(what, &problem));
                    }
                    let retryable = status == StatusCode::REQUEST_TIMEOUT
                        || status == StatusCode::TOO_MANY_REQUESTS
                        || status.is_server_error();
                    if !retryable {
                        return Err(refused("the node refused the stream", &problem));
                    }
                    let floor = self
                        .retry_floor
                        .max(problem.retry_after.unwrap_or_default());
                    let delay = backoff(attempt, floor, rand::rng().random());
                    attempt = attempt.saturating_add(1);
                    self.printer
                        .note(&format!("{problem}; retrying in {}", seconds(delay)));
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Err(error) if !ever_connected => return Err(error),
                Err(error) => {
                    let delay = backoff(attempt, self.retry_floor, rand::rng().random());
                    attempt = attempt.saturating_add(1);
                    self.printer
                        .note(&format!("{error:#}; retrying in {}", seconds(delay)));
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            let end = self.read(response).await?;
            if self.connected {
                ever_connected = true;
                attempt = 0;
                refusals = 0;
            }
            match end {
                End::Done => return Ok(ExitCode::SUCCESS),
                End::Restart | End::Overflow => {}
                End::TokenExpired => {
                    if self.minter.is_none() {
                        bail!(
                            "the subscriber token expired: pass a fresh --token, or --api-key \
                             so that tail mints its own{}",
                            self.resume_hint()
                        );
                    }
                    self.mint().await?;
                    self.printer.note(&format!(
                        "minted a new token; resuming{}",
                        self.resume_hint()
                    ));
                }
                End::Closed(reason) => {
                    bail!("the node closed the stream for good ({reason}); not reconnecting")
                }
                End::Shutdown | End::Dropped(_) => {
                    let delay = backoff(attempt, self.retry_floor, rand::rng().random());
                    attempt = attempt.saturating_add(1);
                    let why = match &end {
                        End::Dropped(why) => why.as_str(),
                        _ => "the node is shutting down",
                    };
                    self.printer.note(&format!(
                        "{why}; reconnecting in {}{}",
                        seconds(delay),
                        self.resume_hint()
                    ));
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// ` after <id>`, or nothing before the first id.
    fn resume_hint(&self) -> String {
        self.last_id
            .as_deref()
            .map_or_else(String::new, |id| format!(" after {id}"))
    }

    /// A new subscriber token (with `--api-key`).
    async fn mint(&mut self) -> anyhow::Result<()> {
        let Some(minter) = &self.minter else {
            bail!("no API key to mint a token with");
        };
        let body = token::request(&minter.sub, minter.ttl);
        let (_, minted) = token::mint(&minter.client, &body).await?;
        self.stream = self.stream.with_token(&minted.token);
        Ok(())
    }

    /// Reads one connection's stream until it ends.
    async fn read(&mut self, mut response: reqwest::Response) -> anyhow::Result<End> {
        let mut parser = sse::Parser::resuming(self.last_id.clone());
        let mut items = Vec::new();
        let mut silence = CONNECT_SILENCE;
        loop {
            let chunk = match tokio::time::timeout(silence, response.chunk()).await {
                Err(_) => {
                    return Ok(End::Dropped(format!(
                        "nothing from the node for {}",
                        seconds(silence)
                    )));
                }
                Ok(Err(error)) => {
                    return Ok(End::Dropped(format!(
                        "the stream broke ({})",
                        cause(&error)
                    )));
                }
                Ok(Ok(None)) => return Ok(End::Dropped("the stream ended".to_owned())),
                Ok(Ok(Some(chunk))) => chunk,
            };
            parser
                .push(&chunk, &mut items)
                .context("reading the event stream")?;
            for item in items.drain(..) {
                match item {
                    Item::Retry(delay) => self.retry_floor = delay.min(BACKOFF_MAX),
                    Item::Comment(_) => {}
                    Item::Message(message) => {
                        if let Some(end) = self.handle(message, &mut silence)? {
                            return Ok(end);
                        }
                    }
                }
            }
            if let Some(id) = parser.last_event_id()
                && !self.from_start
            {
                self.last_id = Some(id.to_owned());
            }
        }
    }

    /// One event of the stream; `Some` when the stream is over for us.
    fn handle(&mut self, message: Message, silence: &mut Duration) -> anyhow::Result<Option<End>> {
        if !message.event.starts_with("beacon.") {
            self.last_id.clone_from(&message.last_event_id);
            if let Err(error) = self.printer.event(&message, self.json) {
                if error.kind() == io::ErrorKind::BrokenPipe {
                    return Ok(Some(End::Done));
                }
                return Err(error).context("writing to stdout");
            }
            self.printed += 1;
            if let Some(remaining) = &mut self.remaining {
                *remaining -= 1;
                if *remaining == 0 {
                    return Ok(Some(End::Done));
                }
            }
            return Ok(None);
        }
        let data: serde_json::Value = serde_json::from_str(&message.data).unwrap_or_default();
        let text = |key: &str| data[key].as_str().unwrap_or("?").to_owned();
        match message.event.as_str() {
            "beacon.connected" => {
                self.connected = true;
                let heartbeat = data["heartbeat_s"].as_u64().unwrap_or(15).max(1);
                *silence = Duration::from_secs(heartbeat * 3 + 2);
                if self.from_start {
                    self.from_start = false;
                    let head = message
                        .last_event_id
                        .as_deref()
                        .and_then(|id| id.parse::<Position>().ok());
                    if let Some(head) = head.filter(|h| h.offset != Offset::ZERO) {
                        let start = Position {
                            epoch: head.epoch,
                            offset: Offset::ZERO,
                        };
                        self.last_id = Some(start.to_string());
                        return Ok(Some(End::Restart));
                    }
                }
                let tenant = text("tenant");
                let from_zero = data["last_event_id"]
                    .as_str()
                    .and_then(|id| id.parse::<Position>().ok())
                    .is_some_and(|p| p.offset == Offset::ZERO);
                let how = match data["resume"].as_str() {
                    Some("exact") if from_zero => "replaying from the start".to_owned(),
                    Some("exact") => format!("replaying after {}", text("last_event_id")),
                    Some("gap") => format!("resuming after {}", text("last_event_id")),
                    _ => match message.last_event_id.as_deref() {
                        Some(id) => format!("new events after {id}"),
                        None => "new events".to_owned(),
                    },
                };
                self.printer
                    .note(&format!("connected to tenant {tenant}: {how}"));
            }
            "beacon.gap" => {
                let requested = text("requested");
                let why = match data["reason"].as_str() {
                    Some("expired") => format!(
                        "the events after {requested} are past retention; continuing from \
                         the oldest event kept"
                    ),
                    Some("epoch") => format!(
                        "{requested} belongs to another incarnation of this stream (the \
                         tenant was recreated or the store reset); continuing from its oldest \
                         event"
                    ),
                    Some("unknown") => format!(
                        "{requested} is newer than anything the node has; continuing from its \
                         newest event"
                    ),
                    _ => message.data.clone(),
                };
                self.printer.note(&format!("gap: {why}"));
            }
            "beacon.incompatible" => {
                self.printer.note(&format!(
                    "incompatible: {} events published as version {} cannot be shown as \
                     version {} ({}); they are skipped",
                    text("type"),
                    data["published"],
                    data["wanted"],
                    text("reason"),
                ));
            }
            "beacon.overflow" => {
                self.printer.note(
                    "overflow: the node cut this stream off because it fell too far behind; \
                     resuming",
                );
                return Ok(Some(End::Overflow));
            }
            "beacon.token_expired" => {
                self.printer
                    .note("token_expired: the subscriber token expired");
                return Ok(Some(End::TokenExpired));
            }
            "beacon.shutdown" => {
                self.printer.note("shutdown: the node is shutting down");
                return Ok(Some(End::Shutdown));
            }
            "beacon.closed" => {
                let reason = text("reason");
                self.printer.note(&format!("closed: {reason}"));
                return Ok(Some(End::Closed(reason)));
            }
            other => {
                let name = other.trim_start_matches("beacon.");
                self.printer.note(&format!("{name}: {}", message.data));
            }
        }
        Ok(None)
    }
}

/// Writes events and notes.
struct Printer<'a> {
    out: &'a mut dyn Write,
    notes: &'a mut dyn Write,
    styles: Styles,
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

impl Printer<'_> {
    /// A note on stderr (dimmed on a terminal); failures to write it are
    /// ignored.
    fn note(&mut self, text: &str) {
        let line = self.styles.notes.dim(&format!("-- {text}"));
        let _ = writeln!(self.notes, "{line}");
        let _ = self.notes.flush();
    }

    /// One application event on stdout.
    fn event(&mut self, message: &Message, json: bool) -> io::Result<()> {
        if json {
            if message.data.contains('\n') {
                // Not what a node sends, but one event must stay one line.
                match serde_json::from_str::<serde_json::Value>(&message.data) {
                    Ok(value) => writeln!(self.out, "{value}")?,
                    Err(_) => writeln!(self.out, "{}", serde_json::json!(message.data))?,
                }
            } else {
                writeln!(self.out, "{}", message.data)?;
            }
            return self.out.flush();
        }
        let style = self.styles.out;
        let Ok(envelope) = serde_json::from_str::<Envelope>(&message.data) else {
            writeln!(
                self.out,
                "{}  {}",
                style.paint("1", &message.event),
                message.data
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
        let kind = envelope.kind.as_deref().unwrap_or(&message.event);
        let subject = envelope.subject.as_deref().unwrap_or("-");
        self.widths.0 = self.widths.0.max(kind.len());
        self.widths.1 = self.widths.1.max(subject.len());
        let id = envelope
            .id
            .as_deref()
            .or(message.last_event_id.as_deref())
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

/// The delay before reconnection attempt `attempt` (0 after a connection
/// that worked): exponential with full jitter, never under the server's
/// `retry:` hint `floor`, never over [`BACKOFF_MAX`]. `random` is in [0, 1).
fn backoff(attempt: u32, floor: Duration, random: f64) -> Duration {
    let floor = floor.min(BACKOFF_MAX);
    let exponential = BACKOFF_INITIAL.saturating_mul(1 << attempt.min(16));
    let window = (BACKOFF_MAX - floor).min(exponential);
    floor + window.mul_f64(random.clamp(0.0, 1.0))
}

/// `1.3s`.
fn seconds(delay: Duration) -> String {
    format!("{:.1}s", delay.as_secs_f64())
}

/// The innermost cause of an error.
fn cause(error: &dyn std::error::Error) -> String {
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        cause = e.to_string();
        source = e.source();
    }
    cause
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_jittered_and_respects_the_floor() {
        assert_eq!(backoff(0, Duration::ZERO, 0.0), Duration::ZERO);
        assert_eq!(backoff(0, Duration::ZERO, 0.5), Duration::from_millis(500));
        assert_eq!(backoff(3, Duration::ZERO, 0.5), Duration::from_secs(4));
        // The window stops growing at the cap, however many attempts.
        assert_eq!(
            backoff(40, Duration::ZERO, 0.999),
            BACKOFF_MAX.mul_f64(0.999)
        );
        assert!(backoff(u32::MAX, Duration::ZERO, 1.0) <= BACKOFF_MAX);
        // The server's retry hint is a floor, and the cap still holds.
        assert_eq!(
            backoff(0, Duration::from_secs(2), 0.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff(10, Duration::from_secs(2), 1.0),
            Duration::from_secs(30)
        );
        assert_eq!(
            backoff(0, Duration::from_secs(60), 0.7),
            Duration::from_secs(30)
        );
    }

    fn printed(messages: &[Message], json: bool, colour: bool) -> String {
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
        for message in messages {
            printer.event(message, json).expect("printed");
        }
        String::from_utf8(out).expect("UTF-8")
    }

    fn order(id: &str, time: &str, subject: Option<&str>) -> Message {
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
        Message {
            event: "order.created".to_owned(),
            data: envelope.to_string(),
            last_event_id: Some(id.to_owned()),
            has_id: true,
        }
    }

    #[test]
    fn events_are_one_aligned_line_each_under_a_date() {
        let messages = [
            order("e_1-0", "2026-11-23T12:00:00.000Z", Some("order/IE-4486")),
            order("e_2-0", "2026-11-23T12:00:01.250Z", None),
            order("e_3-0", "2026-11-24T00:00:00.000Z", Some("o/1")),
        ];
        let text = printed(&messages, false, false);
        assert_eq!(
            text,
            "-- 2026-11-23 (UTC)\n\
             12:00:00.000  order.created  order/IE-4486  e_1-0  {\"orderId\":\"IE-4486\",\"total\":85000}\n\
             12:00:01.250  order.created  -              e_2-0  {\"orderId\":\"IE-4486\",\"total\":85000}\n\
             -- 2026-11-24 (UTC)\n\
             00:00:00.000  order.created  o/1            e_3-0  {\"orderId\":\"IE-4486\",\"total\":85000}\n"
        );
        let coloured = printed(&messages[..1], false, true);
        assert!(
            coloured.contains("\x1b[1;36morder.created\x1b[0m"),
            "{coloured:?}"
        );
        assert!(coloured.contains("\x1b[2me_1-0\x1b[0m"), "{coloured:?}");
    }

    #[test]
    fn json_lines_are_the_envelopes() {
        let messages = [order("e_1-0", "2026-11-23T12:00:00.000Z", None)];
        let text = printed(&messages, true, true);
        assert_eq!(text, format!("{}\n", messages[0].data));
        let multi_line = Message {
            event: "x".to_owned(),
            data: "{\"a\":\n1}".to_owned(),
            last_event_id: None,
            has_id: false,
        };
        assert_eq!(printed(&[multi_line], true, false), "{\"a\":1}\n");
    }
}
