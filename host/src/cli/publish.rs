//! `beacon publish`: publish one event built from the command line, or the
//! event(s) of a JSON file, with a tenant's API key (`POST /v1/events`,
//! scope `publish`).
//!
//! stdout gets one line per event, in order: its id, or `-` when it was not
//! stored (a plugin dropped it or sent it to the dead letters; stderr says
//! which and why). Exit status: 0 when every event was accepted; 1 when the
//! node refused the request (each reason is printed with its JSON pointer,
//! `/data/total` or `/3/data/total` in a batch), refused some events of a
//! `--partial` batch, or could not be reached; 2 for a malformed command
//! line.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::{Body, Client, Detail, PUBLISH_KEY, PublisherServer};
use super::{count, plugin, refused};

/// The flags that build an event, which a file of whole events excludes.
const EVENT_FLAGS: [&str; 7] = [
    "kind", "data", "subject", "source", "audience", "version", "key",
];

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  export BEACON_URL=http://127.0.0.1:8080 BEACON_API_KEY=bk_...
  beacon publish order.created --subject order/IE-4486 \\
      --data '{\"orderId\":\"IE-4486\",\"total\":85000,\"currency\":\"KES\"}'
  beacon publish chat.message --data '\"hello\"' --audience 42,43
  beacon publish --file event.json          # one event object, or an array (a batch)
  jq -c '[.[] | {type, data}]' export.json | beacon publish --file -
  beacon publish --file batch.json --partial --idempotency-key import-2026-11-23

An event file holds what POST /v1/events takes: {\"type\", \"data\", \"subject\",
\"source\", \"audience\", \"version\", \"key\"}, or an array of them. Prints one id
per line (`-` for an event a plugin kept out).")]
pub struct PublishArgs {
    #[command(flatten)]
    server: PublisherServer,

    /// The event type, e.g. `order.created` (with --data; a file's events
    /// name their own).
    #[arg(
        value_name = "TYPE",
        required_unless_present = "file",
        requires = "data"
    )]
    kind: Option<String>,

    /// The event's data: any JSON value (`'{"total":1}'`, `'"text"'`,
    /// `42`), or `-` to read it from standard input.
    #[arg(long, value_name = "JSON", requires = "kind")]
    data: Option<String>,

    /// Publish the event or events of a JSON file instead (`-` for standard
    /// input): one event object, or an array of them sent as one batch.
    #[arg(long, short = 'f', value_name = "FILE|-", conflicts_with_all = EVENT_FLAGS)]
    file: Option<String>,

    /// The event's subject, e.g. `order/IE-4486` (subscribers filter on it).
    #[arg(long, value_name = "SUBJECT")]
    subject: Option<String>,

    /// The event's source (default: `/tenants/<id>`).
    #[arg(long, value_name = "URI")]
    source: Option<String>,

    /// Deliver only to these user ids (tokens' `sub`), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "USERS")]
    audience: Option<Vec<String>>,

    /// The contract version to check the event against (default: the
    /// newest non-deprecated one).
    #[arg(long, value_name = "N")]
    version: Option<u32>,

    /// A de-duplication key: an event with a key the node saw within its
    /// idempotency window is not stored twice.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,

    /// Sent as the `Idempotency-Key` header: a retried request gets the
    /// same ids and stores nothing twice (a batch's event `i` gets the key
    /// `<KEY>/<i>` unless it has its own).
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,

    /// With a batch: store the valid events even if others are refused
    /// (the refused ones are printed as `-` and listed; exit status 1).
    #[arg(long, requires = "file")]
    partial: bool,

    /// Print the node's JSON answer instead of the ids.
    #[arg(long)]
    json: bool,
}

/// Runs `beacon publish ...` and returns the exit status.
pub fn run(args: PublishArgs) -> ExitCode {
    super::block_on(async move {
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        execute(args, &mut stdout, &mut stderr).await
    })
}

/// An event a plugin kept out of the log.
#[derive(Debug, Deserialize)]
struct Skipped {
    #[serde(default)]
    index: usize,
    outcome: String,
    plugin: String,
    reason: String,
}

/// Any of the answers of `POST /v1/events` (201, 200, 207).
#[derive(Debug, Deserialize)]
struct Answer {
    /// One event.
    #[serde(default)]
    id: Option<String>,
    /// A batch.
    #[serde(default)]
    ids: Option<Vec<Option<String>>>,
    /// One event kept out by a plugin.
    #[serde(flatten)]
    single_skip: Option<SingleSkip>,
    #[serde(default)]
    skipped: Vec<Skipped>,
    /// A partial batch's refused events.
    #[serde(default)]
    errors: Vec<Detail>,
}

#[derive(Debug, Deserialize)]
struct SingleSkip {
    outcome: String,
    plugin: String,
    reason: String,
}

/// Publishes, writing the ids to `out` and what is worth knowing about
/// them to `notes`.
pub async fn execute(
    args: PublishArgs,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    // The input is read first: a wrong file fails before anything is sent.
    let body = match &args.file {
        Some(file) => {
            let body = plugin::read_input(file)?;
            match &body {
                Value::Object(_) => {}
                Value::Array(events) if events.is_empty() => {
                    bail!("{file}: an empty array; nothing to publish")
                }
                Value::Array(_) => {}
                _ => bail!("{file}: expected an event object or an array of them"),
            }
            body
        }
        None => event_from_args(&args)?,
    };
    let client = Client::connect(
        &args.server.url,
        args.server.api_key.as_deref(),
        PUBLISH_KEY,
    )?;
    let mut headers = Vec::new();
    if let Some(key) = &args.idempotency_key {
        let value = HeaderValue::from_str(key)
            .with_context(|| format!("--idempotency-key {key:?}: not a valid header value"))?;
        headers.push((HeaderName::from_static("idempotency-key"), value));
    }
    let query = if args.partial {
        vec![("partial", "true".to_owned())]
    } else {
        Vec::new()
    };
    let events = body.as_array().map_or(1, Vec::len);
    let answer = client
        .send_with(
            Method::POST,
            &["v1", "events"],
            &query,
            &headers,
            Some(Body::Json(&body)),
        )
        .await?
        .map_err(|problem| {
            let what = if events == 1 && body.is_object() {
                "the event was refused".to_owned()
            } else {
                format!("the batch of {} was refused", count(events, "event"))
            };
            refused(&what, &problem)
        })?;
    let replayed = answer
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let json = answer.json;
    let parsed: Answer = serde_json::from_value(json.clone())
        .with_context(|| format!("unexpected answer to POST /v1/events: {json}"))?;
    if args.json {
        writeln!(out, "{json}")?;
    } else {
        match &parsed.ids {
            Some(ids) => {
                for id in ids {
                    writeln!(out, "{}", id.as_deref().unwrap_or("-"))?;
                }
            }
            None => writeln!(out, "{}", parsed.id.as_deref().unwrap_or("-"))?,
        }
    }
    if let Some(skip) = &parsed.single_skip {
        writeln!(
            notes,
            "note: not stored: {} by plugin {}: {}",
            outcome(&skip.outcome),
            skip.plugin,
            skip.reason
        )?;
    }
    for skip in &parsed.skipped {
        writeln!(
            notes,
            "note: event {} not stored: {} by plugin {}: {}",
            skip.index,
            outcome(&skip.outcome),
            skip.plugin,
            skip.reason
        )?;
    }
    if replayed {
        writeln!(
            notes,
            "note: the node had already accepted this Idempotency-Key: nothing new was stored, \
             the ids are those of the first request"
        )?;
    }
    if !parsed.errors.is_empty() {
        let refused_events = parsed
            .ids
            .as_ref()
            .map_or(0, |ids| ids.iter().filter(|id| id.is_none()).count())
            .saturating_sub(parsed.skipped.len());
        let mut message = format!(
            "{} of {} refused, the others were stored:",
            refused_events,
            count(events, "event")
        );
        for detail in &parsed.errors {
            message.push_str(&format!("\n  - {detail}"));
        }
        bail!(message);
    }
    Ok(ExitCode::SUCCESS)
}

fn outcome(outcome: &str) -> &str {
    match outcome {
        "dead_lettered" => "sent to the dead letters",
        "dropped" => "dropped",
        other => other,
    }
}

/// The event the flags describe.
fn event_from_args(args: &PublishArgs) -> anyhow::Result<Value> {
    let (Some(kind), Some(data)) = (&args.kind, &args.data) else {
        bail!("pass TYPE with --data, or --file");
    };
    let data = if data == "-" {
        plugin::read_input("-").context("--data -")?
    } else {
        serde_json::from_str(data).with_context(|| {
            format!(
                "--data is not valid JSON: {data:?} (a string needs its quotes: --data '\"text\"')"
            )
        })?
    };
    let mut event = Map::new();
    event.insert("type".to_owned(), json!(kind));
    event.insert("data".to_owned(), data);
    if let Some(subject) = &args.subject {
        event.insert("subject".to_owned(), json!(subject));
    }
    if let Some(source) = &args.source {
        event.insert("source".to_owned(), json!(source));
    }
    if let Some(audience) = &args.audience {
        event.insert("audience".to_owned(), json!(audience));
    }
    if let Some(version) = args.version {
        event.insert("version".to_owned(), json!(version));
    }
    if let Some(key) = &args.key {
        event.insert("key".to_owned(), json!(key));
    }
    Ok(Value::Object(event))
}
