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
use beacon_client::{ClientError, PublishAnswer, PublishOptions};
use beacon_protocol::api::publish::{SkipOutcome, Skipped};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::connect::{Node, PUBLISH_KEY, PublisherServer, detail, refused};
use crate::{count, input};

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
    crate::block_on(async move {
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        execute(args, &mut stdout, &mut stderr).await
    })
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
            let body = input::read(file)?;
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
    let node = Node::connect(
        &args.server.url,
        args.server.api_key.as_deref(),
        PUBLISH_KEY,
    )?;
    let options = PublishOptions {
        idempotency_key: args.idempotency_key.clone(),
        partial: args.partial,
    };
    let events = body.as_array().map_or(1, Vec::len);
    let answer = match node.client().publish_json(&body, &options).await {
        Err(ClientError::Header { value, .. }) => {
            bail!("--idempotency-key {value:?}: not a valid header value")
        }
        answer => node.answer(answer)?,
    };
    let publication = answer.map_err(|problem| {
        let what = if events == 1 && body.is_object() {
            "the event was refused".to_owned()
        } else {
            format!("the batch of {} was refused", count(events, "event"))
        };
        refused(&what, &problem)
    })?;
    let answer = &publication.answer;
    if args.json {
        writeln!(out, "{}", serde_json::to_value(answer)?)?;
    } else {
        for id in answer.ids() {
            writeln!(out, "{}", id.unwrap_or("-"))?;
        }
    }
    let no_skips: &[Skipped] = &[];
    let (skipped, errors) = match answer {
        PublishAnswer::NotStored(skip) => {
            writeln!(
                notes,
                "note: not stored: {} by plugin {}: {}",
                outcome(skip.outcome),
                skip.plugin,
                skip.reason
            )?;
            (no_skips, &[][..])
        }
        PublishAnswer::Stored(_) => (no_skips, &[][..]),
        PublishAnswer::Batch(batch) => (batch.skipped.as_slice(), &[][..]),
        PublishAnswer::Partial(partial) => (partial.skipped.as_slice(), partial.errors.as_slice()),
    };
    for skip in skipped {
        writeln!(
            notes,
            "note: event {} not stored: {} by plugin {}: {}",
            skip.index,
            outcome(skip.outcome),
            skip.plugin,
            skip.reason
        )?;
    }
    if publication.replayed {
        writeln!(
            notes,
            "note: the node had already accepted this Idempotency-Key: nothing new was stored, \
             the ids are those of the first request"
        )?;
    }
    if !errors.is_empty() {
        let refused_events = answer
            .ids()
            .iter()
            .filter(|id| id.is_none())
            .count()
            .saturating_sub(skipped.len());
        let mut message = format!(
            "{} of {} refused, the others were stored:",
            refused_events,
            count(events, "event")
        );
        for problem in errors {
            message.push_str(&format!("\n  - {}", detail(problem)));
        }
        bail!(message);
    }
    Ok(ExitCode::SUCCESS)
}

fn outcome(outcome: SkipOutcome) -> &'static str {
    match outcome {
        SkipOutcome::DeadLettered => "sent to the dead letters",
        SkipOutcome::Dropped => "dropped",
    }
}

/// The event the flags describe.
fn event_from_args(args: &PublishArgs) -> anyhow::Result<Value> {
    let (Some(kind), Some(data)) = (&args.kind, &args.data) else {
        bail!("pass TYPE with --data, or --file");
    };
    let data = if data == "-" {
        input::read("-").context("--data -")?
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
