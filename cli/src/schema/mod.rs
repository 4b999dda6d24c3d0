//! `beacon schema`: manage event contracts on a running node through the
//! admin API (`/v1/schemas`, see docs/contracts.md).
//!
//! Exit status: 0 when everything asked for succeeded, 1 when a contract
//! was rejected, a candidate is incompatible, or the node could not be
//! reached or refused the admin token; 2 for a malformed command line.

mod files;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use beacon_protocol::api::schemas::TypeSummary;
use clap::{Args, Subcommand};

use crate::count;

use crate::connect::{Node, Server, detail};
use files::Contract;

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
    crate::block_on(async move {
        let node = || Node::admin(&args.server);
        match &args.command {
            SchemaCommand::Push { paths } => {
                // Every file is read first: a wrong path fails before anything is sent.
                let contracts = files::read_contracts(paths)?;
                push(&node()?, &contracts).await
            }
            SchemaCommand::List { json } => list(&node()?, *json).await,
            SchemaCommand::Get {
                kind,
                version,
                schema,
            } => get(&node()?, kind, *version, *schema).await,
            SchemaCommand::Check { kind, file } => check(&node()?, kind, file).await,
        }
    })
}

async fn summaries(node: &Node) -> anyhow::Result<Vec<TypeSummary>> {
    Ok(node.answer(node.client().schemas().await)??.schemas)
}

async fn push(node: &Node, contracts: &[Contract]) -> anyhow::Result<ExitCode> {
    let existing = summaries(node).await?;
    let mut latest: HashMap<String, u32> = existing
        .into_iter()
        .filter_map(|s| Some((s.kind, s.latest?)))
        .collect();
    let width = contracts.iter().map(|c| c.kind.len()).max().unwrap_or(0);
    let (mut registered, mut unchanged, mut rejected, mut failed) = (0, 0, 0, 0);
    for contract in contracts {
        let kind = contract.kind.as_str();
        let answer = node.client().register_schema(kind, &contract.schema).await;
        match node.answer(answer)? {
            Ok(answer) => {
                let version = answer.version;
                if latest.get(kind).is_some_and(|&v| v >= version) {
                    unchanged += 1;
                    println!("{kind:width$}  unchanged (version {version})");
                } else {
                    registered += 1;
                    println!("{kind:width$}  registered as version {version}");
                    latest.insert(kind.to_owned(), version);
                }
            }
            Err(problem) if problem.0.status.is_client_error() => {
                rejected += 1;
                println!(
                    "{kind:width$}  rejected: {}{}",
                    problem.message(),
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

async fn list(node: &Node, json: bool) -> anyhow::Result<ExitCode> {
    let schemas = summaries(node).await?;
    if json {
        let list = beacon_protocol::api::schemas::SchemaList { schemas };
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&list)?)?
        );
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
            s.mode.to_string(),
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
    node: &Node,
    kind: &str,
    version: Option<u32>,
    schema_only: bool,
) -> anyhow::Result<ExitCode> {
    let client = node.client();
    let shown = match version {
        Some(n) => {
            let contract = node.answer(client.schema_version(kind, n).await)??;
            if schema_only {
                contract.schema
            } else {
                serde_json::to_value(&contract)?
            }
        }
        None => {
            let info = node.answer(client.schema(kind).await)??;
            if schema_only {
                let newest = info
                    .versions
                    .last()
                    .with_context(|| format!("{kind} has no version yet"))?;
                newest.schema.clone()
            } else {
                serde_json::to_value(&info)?
            }
        }
    };
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}

async fn check(node: &Node, kind: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let candidate = files::read_json(file)?;
    let answer = node.answer(node.client().check_schema(kind, &candidate).await)??;
    if answer.compatible {
        println!("{kind}: compatible");
        return Ok(ExitCode::SUCCESS);
    }
    let n = answer.messages.len();
    println!("{kind}: not compatible ({})", count(n, "reason"));
    for message in &answer.messages {
        println!("  {}", detail(message));
    }
    Ok(ExitCode::FAILURE)
}
