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

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use beacon_client::beacon_protocol::control::{ClosedReason, GapReason, Resume};
use beacon_client::{
    ClientError, Disconnect, EventStream, MintTokens, Reconnect, StreamItem, StreamOptions,
};
use beacon_protocol::api::tokens::MintToken;
use beacon_protocol::{Control, Offset, Position};
use clap::Args;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

mod print;
#[cfg(test)]
mod tests;

use print::Printer;
pub use print::{Style, Styles};

use crate::connect::{
    DEFAULT_URL, Node, PUBLISH_KEY, Problem, SUBSCRIBER_TOKEN, innermost, refused,
};
use crate::token;

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
    crate::block_on(async move {
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

/// Follows the stream until `--count` events, a fatal refusal, or `stop`.
pub async fn execute(
    args: TailArgs,
    out: &mut dyn io::Write,
    notes: &mut dyn io::Write,
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
    let url = args.url.as_str();
    let (minter, token) = match (args.token.as_deref(), args.api_key.as_deref()) {
        (Some(token), _) if !token.is_empty() => (None, token.to_owned()),
        (_, Some(key)) if !key.is_empty() => {
            let node = Node::connect(url, Some(key), PUBLISH_KEY)?;
            let request = token::request(&args.sub, args.token_ttl);
            let minted = tokio::select! {
                minted = token::mint(&node, &request) => minted?,
                () = stop.cancelled() => return Ok(ExitCode::SUCCESS),
            };
            (Some(Minter { node, request }), minted.token)
        }
        _ => bail!(
            "no credential: pass --token (or set BEACON_TOKEN; `beacon token <sub>` mints one), \
             or --api-key (or set BEACON_API_KEY) and tail mints its own tokens"
        ),
    };
    let stream = Node::connect(url, Some(&token), SUBSCRIBER_TOKEN)?;
    let mut tail = Tail {
        stream,
        minter,
        types: args.types,
        subjects: args.subjects,
        from_start,
        json: args.json,
        remaining: args.count,
        printer: Printer::new(out, notes, styles),
        printed: 0,
    };
    let outcome = tokio::select! {
        outcome = tail.follow(from) => outcome,
        () = stop.cancelled() => {
            let printed = tail.printed;
            tail.printer.note(&format!("stopped after {}", crate::count(printed as usize, "event")));
            Ok(ExitCode::SUCCESS)
        }
    };
    let _ = tail.printer.out.flush();
    outcome
}

/// With `--api-key`: how tail mints its subscriber tokens (with `--token`
/// there is none, and the token given is the only one).
struct Minter {
    /// The node, with the API key.
    node: Node,
    request: MintToken,
}

/// What an item of the stream means for tail.
enum Next {
    /// Read on.
    Continue,
    /// `--count` events were printed, or stdout was closed.
    Done,
    /// `--from start` learned the stream's epoch: follow again from its start.
    Restart(String),
}

struct Tail<'a> {
    /// The node, with the first subscriber token (the stream holds the
    /// current one).
    stream: Node,
    minter: Option<Minter>,
    types: Vec<String>,
    subjects: Vec<String>,
    /// `--from start`, until the stream's epoch is known.
    from_start: bool,
    json: bool,
    /// Events still to print before exiting, with `--count`.
    remaining: Option<u64>,
    printer: Printer<'a>,
    printed: u64,
}

impl Tail<'_> {
    /// The stream, resuming after `from`, minting its tokens with
    /// `--api-key`; it reconnects on its own.
    fn open(&self, from: Option<String>, keep_trying: bool) -> EventStream {
        let mut options = StreamOptions::new()
            .types(self.types.iter().cloned())
            .subjects(self.subjects.iter().cloned())
            .keep_trying(keep_trying);
        if let Some(id) = from {
            options = options.last_event_id(id);
        }
        if let Some(minter) = &self.minter {
            options = options.token_source(MintTokens {
                client: minter.node.client().clone(),
                request: minter.request.clone(),
            });
        }
        self.stream.client().stream(options)
    }

    /// Reads the stream until done, refused or closed.
    async fn follow(&mut self, from: Option<String>) -> anyhow::Result<ExitCode> {
        let mut stream = self.open(from, false);
        loop {
            let Some(item) = stream.next().await else {
                bail!("the stream ended");
            };
            let next = match item.map_err(|e| self.stream_error(e))? {
                StreamItem::Event(event) => {
                    if let Err(error) = self.printer.event(&event, self.json) {
                        if error.kind() == io::ErrorKind::BrokenPipe {
                            return Ok(ExitCode::SUCCESS);
                        }
                        return Err(anyhow::Error::from(error).context("writing to stdout"));
                    }
                    self.printed += 1;
                    match &mut self.remaining {
                        Some(remaining) => {
                            *remaining -= 1;
                            if *remaining == 0 {
                                Next::Done
                            } else {
                                Next::Continue
                            }
                        }
                        None => Next::Continue,
                    }
                }
                StreamItem::Control {
                    control,
                    last_event_id,
                } => self.control(control, last_event_id)?,
                StreamItem::Unrecognised { event, data } => {
                    let name = event.trim_start_matches("beacon.");
                    self.printer.note(&format!("{name}: {data}"));
                    Next::Continue
                }
                StreamItem::Heartbeat => Next::Continue,
                StreamItem::Reconnecting(reconnect) => {
                    self.reconnecting(reconnect);
                    Next::Continue
                }
            };
            match next {
                Next::Continue => {}
                Next::Done => return Ok(ExitCode::SUCCESS),
                // The first connection said only where the stream starts.
                Next::Restart(start) => stream = self.open(Some(start), true),
            }
        }
    }

    /// A control event: noted on stderr.
    fn control(&mut self, control: Control, last_event_id: Option<String>) -> anyhow::Result<Next> {
        match control {
            Control::Connected(connected) => {
                if self.from_start {
                    self.from_start = false;
                    let head = last_event_id
                        .as_deref()
                        .and_then(|id| id.parse::<Position>().ok());
                    if let Some(head) = head.filter(|h| h.offset != Offset::ZERO) {
                        let start = Position {
                            epoch: head.epoch,
                            offset: Offset::ZERO,
                        };
                        return Ok(Next::Restart(start.to_string()));
                    }
                }
                let resumed = connected.last_event_id.as_deref();
                let from_zero = resumed
                    .and_then(|id| id.parse::<Position>().ok())
                    .is_some_and(|p| p.offset == Offset::ZERO);
                let after = resumed.unwrap_or("?");
                let how = match connected.resume {
                    Resume::Exact if from_zero => "replaying from the start".to_owned(),
                    Resume::Exact => format!("replaying after {after}"),
                    Resume::Gap => format!("resuming after {after}"),
                    Resume::None => match last_event_id.as_deref() {
                        Some(id) => format!("new events after {id}"),
                        None => "new events".to_owned(),
                    },
                };
                self.printer
                    .note(&format!("connected to tenant {}: {how}", connected.tenant));
            }
            Control::Gap(gap) => {
                let requested = gap.requested.as_deref().unwrap_or("?");
                let why = match gap.reason {
                    GapReason::Expired => format!(
                        "the events after {requested} are past retention; continuing from \
                         the oldest event kept"
                    ),
                    GapReason::Epoch => format!(
                        "{requested} belongs to another incarnation of this stream (the \
                         tenant was recreated or the store reset); continuing from its oldest \
                         event"
                    ),
                    GapReason::Unknown => format!(
                        "{requested} is newer than anything the node has; continuing from its \
                         newest event"
                    ),
                };
                self.printer.note(&format!("gap: {why}"));
            }
            Control::Incompatible(incompatible) => {
                self.printer.note(&format!(
                    "incompatible: {} events published as version {} cannot be shown as \
                     version {} ({}); they are skipped",
                    incompatible.kind,
                    incompatible.published,
                    incompatible.wanted,
                    incompatible.reason,
                ));
            }
            Control::Overflow(_) => self.printer.note(
                "overflow: the node cut this stream off because it fell too far behind; \
                 resuming",
            ),
            Control::TokenExpired(_) => self
                .printer
                .note("token_expired: the subscriber token expired"),
            Control::Shutdown(_) => self.printer.note("shutdown: the node is shutting down"),
            Control::Closed(closed) => {
                let reason = match closed.reason {
                    ClosedReason::Replaced => "replaced",
                    ClosedReason::TenantDeleted => "tenant_deleted",
                };
                self.printer.note(&format!("closed: {reason}"));
                bail!("the node closed the stream for good ({reason}); not reconnecting")
            }
        }
        Ok(Next::Continue)
    }

    /// A reconnection of the stream: noted on stderr, with why and when.
    fn reconnecting(&mut self, reconnect: Reconnect) {
        let delay = seconds(reconnect.delay);
        let hint = resume_hint(reconnect.last_event_id.as_deref());
        let note = match reconnect.cause {
            // Noted with the control event already; the stream resumes at once.
            Disconnect::Overflow => return,
            Disconnect::TokenRefreshed => format!("minted a new token; resuming{hint}"),
            Disconnect::Refused(refusal) => format!("{}; retrying in {delay}", Problem(refusal)),
            Disconnect::Unreachable(error) => {
                let error = self.stream.failed(error);
                format!("{error:#}; retrying in {delay}")
            }
            Disconnect::Ended => format!("the stream ended; reconnecting in {delay}{hint}"),
            Disconnect::Silent(silence) => format!(
                "nothing from the node for {}; reconnecting in {delay}{hint}",
                seconds(silence)
            ),
            Disconnect::Broken(error) => format!(
                "the stream broke ({}); reconnecting in {delay}{hint}",
                innermost(&error)
            ),
            Disconnect::Shutdown => {
                format!("the node is shutting down; reconnecting in {delay}{hint}")
            }
        };
        self.printer.note(&note);
    }

    /// Why the stream ended for good.
    fn stream_error(&self, error: ClientError) -> anyhow::Error {
        match error {
            ClientError::Http(refusal) if refusal.status.as_u16() == 401 => {
                let what = if self.minter.is_some() {
                    "the node refused the tokens minted just now"
                } else {
                    "the node refused the subscriber token (check --token or \
                     BEACON_TOKEN; expired? `beacon token <sub>` mints another)"
                };
                refused(what, &Problem(*refusal))
            }
            ClientError::Http(refusal) => {
                refused("the node refused the stream", &Problem(*refusal))
            }
            ClientError::TokenExpired { last_event_id } => anyhow::anyhow!(
                "the subscriber token expired: pass a fresh --token, or --api-key so that tail \
                 mints its own{}",
                resume_hint(last_event_id.as_deref())
            ),
            ClientError::TokenSource(error) => match &self.minter {
                Some(minter) => match minter.node.answer::<()>(Err(*error)) {
                    Ok(Err(problem)) => refused("the node refused to mint a token", &problem),
                    Err(error) => error,
                    Ok(Ok(())) => anyhow::anyhow!("minting a token failed"),
                },
                None => self.stream.failed(*error),
            },
            ClientError::Stream(error) => {
                anyhow::Error::from(error).context("reading the event stream")
            }
            other => self.stream.failed(other),
        }
    }
}

/// ` after <id>`, or nothing before the first id.
fn resume_hint(last_event_id: Option<&str>) -> String {
    last_event_id.map_or_else(String::new, |id| format!(" after {id}"))
}

/// `1.3s`.
fn seconds(delay: Duration) -> String {
    format!("{:.1}s", delay.as_secs_f64())
}
