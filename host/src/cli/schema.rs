//! `beacon schema`: manage event contracts on a running node through the
//! admin API (`/v1/schemas`, see docs/contracts.md).
//!
//! Exit status: 0 when everything asked for succeeded, 1 when a contract
//! was rejected, a candidate is incompatible, or the node could not be
//! reached or refused the admin token; 2 for a malformed command line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use beacon::schema::catalog;

use super::http::{Client, Detail, Server};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  export BEACON_URL=http://127.0.0.1:8080 BEACON_ADMIN_TOKEN=...
  beacon schema push schemas/catalog
  beacon schema list
  beacon schema check order.created v2.json")]
pub struct SchemaArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Subcommand, Debug)]
enum SchemaCommand {
    /// Register contracts: every <type>.json of a folder, or the given files.
    ///
    /// Each contract becomes the next version of its type if it is
    /// compatible under the type's mode; a contract equal to the newest
    /// version changes nothing, so pushing a catalogue twice is safe. Every
    /// rejection is printed with the JSON pointers concerned. Exits 1 if
    /// any contract was rejected or could not be sent.
    #[command(after_help = "Examples:
  beacon schema push schemas/catalog
  beacon schema push order.created.json payment.failed.json")]
    Push {
        /// Folders (their `<type>.json` files) or files named `<type>.json`.
        #[arg(required = true, value_name = "DIR|FILE")]
        paths: Vec<PathBuf>,
    },

    /// List the registered types: newest version, mode, deprecated versions.
    #[command(after_help = "Example:
  beacon schema list")]
    List {
        /// Print the node's JSON answer instead of a table.
        #[arg(long)]
        json: bool,
    },

    /// Print a type's contracts (or one version) as JSON.
    ///
    /// Without options: the compatibility mode and every version. With
    /// --schema: only the schema, ready to edit and push again.
    #[command(after_help = "Examples:
  beacon schema get order.created
  beacon schema get order.created --version 1
  beacon schema get order.created --schema > order.created.json")]
    Get {
        /// The event type, e.g. `order.created`.
        #[arg(value_name = "TYPE")]
        kind: String,
        /// One version instead of all.
        #[arg(long, value_name = "N")]
        version: Option<u32>,
        /// Print only the schema (of --version, or of the newest version).
        #[arg(long)]
        schema: bool,
    },

    /// Ask whether a candidate schema could be registered; nothing is stored.
    ///
    /// Prints `compatible`, or every reason it is not, each with its JSON
    /// pointer. Exits 1 when the candidate is not compatible.
    #[command(after_help = "Example:
  jq '.properties.channel = {\"type\":\"string\"}' schemas/catalog/order.created.json > v2.json
  beacon schema check order.created v2.json")]
    Check {
        /// The event type, e.g. `order.created`.
        #[arg(value_name = "TYPE")]
        kind: String,
        /// The candidate schema (JSON).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Runs `beacon schema ...` and returns the exit status.
pub fn run(args: SchemaArgs) -> ExitCode {
    super::block_on(async move {
        let client = || Client::new(&args.server);
        match &args.command {
            SchemaCommand::Push { paths } => {
                // Every file is read first: a wrong path fails before anything is sent.
                let contracts = read_contracts(paths)?;
                push(&client()?, &contracts).await
            }
            SchemaCommand::List { json } => list(&client()?, *json).await,
            SchemaCommand::Get {
                kind,
                version,
                schema,
            } => get(&client()?, kind, *version, *schema).await,
            SchemaCommand::Check { kind, file } => check(&client()?, kind, file).await,
        }
    })
}

/// One line of `GET /v1/schemas`.
#[derive(Debug, Deserialize)]
struct Summary {
    #[serde(rename = "type")]
    kind: String,
    mode: String,
    latest: Option<u32>,
    #[serde(default)]
    deprecated: Vec<u32>,
}

#[derive(Debug, Deserialize)]
struct SummaryList {
    schemas: Vec<Summary>,
}

#[derive(Debug, Deserialize)]
struct CheckAnswer {
    compatible: bool,
    messages: Vec<Detail>,
}

async fn summaries(client: &Client) -> anyhow::Result<(Value, Vec<Summary>)> {
    let answer = client.call(Method::GET, &["v1", "schemas"], None).await??;
    let list: SummaryList =
        serde_json::from_value(answer.clone()).context("unexpected answer to GET /v1/schemas")?;
    Ok((answer, list.schemas))
}

async fn push(client: &Client, contracts: &[catalog::Entry]) -> anyhow::Result<ExitCode> {
    let (_, existing) = summaries(client).await?;
    let mut latest: HashMap<String, u32> = existing
        .into_iter()
        .filter_map(|s| Some((s.kind, s.latest?)))
        .collect();
    let width = contracts.iter().map(|c| c.kind.len()).max().unwrap_or(0);
    let (mut registered, mut unchanged, mut rejected, mut failed) = (0, 0, 0, 0);
    for contract in contracts {
        let kind = contract.kind.as_str();
        let answer = client
            .call(
                Method::POST,
                &["v1", "schemas", kind, "versions"],
                Some(&contract.schema),
            )
            .await?;
        match answer {
            Ok(body) => {
                let version = body["version"]
                    .as_u64()
                    .with_context(|| format!("{kind}: no version in the answer {body}"))?;
                if latest.get(kind).is_some_and(|&v| u64::from(v) >= version) {
                    unchanged += 1;
                    println!("{kind:width$}  unchanged (version {version})");
                } else {
                    registered += 1;
                    println!("{kind:width$}  registered as version {version}");
                    if let Ok(v) = u32::try_from(version) {
                        latest.insert(kind.to_owned(), v);
                    }
                }
            }
            Err(problem) if problem.status.is_client_error() => {
                rejected += 1;
                println!(
                    "{kind:width$}  rejected: {}{}",
                    problem.message,
                    problem.detail_lines("    ")
                );
            }
            Err(problem) => {
                failed += 1;
                println!("{kind:width$}  failed: {problem}");
            }
        }
    }
    println!(
        "{}: {registered} registered, {unchanged} unchanged, {rejected} rejected{}",
        count(contracts.len(), "contract"),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    );
    if rejected + failed > 0 {
        eprintln!(
            "error: {} of {} not registered",
            rejected + failed,
            count(contracts.len(), "contract")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(client: &Client, json: bool) -> anyhow::Result<ExitCode> {
    let (answer, schemas) = summaries(client).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    if schemas.is_empty() {
        println!("no contracts registered");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "TYPE".to_owned(),
        "LATEST".to_owned(),
        "MODE".to_owned(),
        "DEPRECATED".to_owned(),
    ]];
    for s in schemas {
        let deprecated: Vec<String> = s.deprecated.iter().map(u32::to_string).collect();
        rows.push([
            s.kind,
            s.latest.map_or("-".to_owned(), |v| v.to_string()),
            s.mode,
            if deprecated.is_empty() {
                "-".to_owned()
            } else {
                deprecated.join(",")
            },
        ]);
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for [kind, latest, mode, deprecated] in rows {
        println!(
            "{kind:w0$}  {latest:w1$}  {mode:w2$}  {deprecated}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn get(
    client: &Client,
    kind: &str,
    version: Option<u32>,
    schema_only: bool,
) -> anyhow::Result<ExitCode> {
    let answer = match version {
        Some(n) => {
            let n = n.to_string();
            client
                .call(Method::GET, &["v1", "schemas", kind, "versions", &n], None)
                .await??
        }
        None => {
            let info = client
                .call(Method::GET, &["v1", "schemas", kind], None)
                .await??;
            if schema_only {
                let newest = info["versions"]
                    .as_array()
                    .and_then(|v| v.last())
                    .with_context(|| format!("{kind} has no version yet"))?;
                newest.clone()
            } else {
                info
            }
        }
    };
    let shown = if schema_only {
        answer
            .get("schema")
            .with_context(|| format!("no schema in the answer {answer}"))?
    } else {
        &answer
    };
    println!("{}", serde_json::to_string_pretty(shown)?);
    Ok(ExitCode::SUCCESS)
}

async fn check(client: &Client, kind: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let candidate = read_json(file)?;
    let answer = client
        .call(
            Method::POST,
            &["v1", "schemas", kind, "check"],
            Some(&candidate),
        )
        .await??;
    let answer: CheckAnswer = serde_json::from_value(answer)
        .with_context(|| format!("unexpected answer to POST /v1/schemas/{kind}/check"))?;
    if answer.compatible {
        println!("{kind}: compatible");
        return Ok(ExitCode::SUCCESS);
    }
    let n = answer.messages.len();
    println!("{kind}: not compatible ({})", count(n, "reason"));
    for message in &answer.messages {
        println!("  {message}");
    }
    Ok(ExitCode::FAILURE)
}

/// `1 contract`, `2 contracts`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The contracts to push, in the order given; within a folder, by type.
fn read_contracts(paths: &[PathBuf]) -> anyhow::Result<Vec<catalog::Entry>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = catalog::load(path).with_context(|| format!("{}", path.display()))?;
            if entries.is_empty() {
                bail!("{}: no <type>.json files in this folder", path.display());
            }
            out.extend(entries);
        } else {
            let kind = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|k| !k.is_empty())
                .with_context(|| {
                    format!(
                        "{}: a contract file is named <type>.json, e.g. order.created.json",
                        path.display()
                    )
                })?;
            out.push(catalog::Entry {
                kind: kind.to_owned(),
                schema: read_json(path)?,
            });
        }
    }
    Ok(out)
}

/// A JSON file of at most [`catalog::MAX_FILE_BYTES`].
fn read_json(path: &Path) -> anyhow::Result<Value> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    if size > catalog::MAX_FILE_BYTES {
        bail!(
            "{}: {size} bytes; a contract is at most {} bytes",
            path.display(),
            catalog::MAX_FILE_BYTES
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}
