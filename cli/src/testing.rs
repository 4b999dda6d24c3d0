//! What the commands' tests share: a real node (the `beacon` binary,
//! started as the end-to-end tests start it), the commands parsed exactly
//! as the binary parses them and run in-process, and what they printed.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use beacon_test_support::{Beacon, BeaconBuilder};
use clap::Parser;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::Command;
use crate::tail::Styles;

/// The longest a tail in these tests may take.
pub const TAIL_LIMIT: Duration = Duration::from_secs(30);

/// The binary's command line, as far as these commands go: the binary
/// flattens [`Command`] beside `serve`.
#[derive(Parser)]
#[command(name = "beacon")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// A node serving on a local port, with the built-in catalogue. Stopped
/// when dropped.
pub struct Node {
    pub url: String,
    /// Its admin token.
    pub admin: String,
    /// A directory for the tests' files.
    pub dir: tempfile::TempDir,
    _beacon: Beacon,
}

/// A node whose heartbeats come every `heartbeat`, and whose streams ask
/// clients to wait 50 ms before reconnecting.
pub async fn node(heartbeat: &str) -> Node {
    start(
        Beacon::builder()
            .arg("heartbeat", heartbeat)
            .arg("retry", "50ms"),
    )
    .await
}

/// A node from `builder`, with the built-in catalogue.
pub async fn start(builder: BeaconBuilder) -> Node {
    let beacon = builder.arg("builtin-catalog", "true").start().await;
    Node {
        url: beacon.url(""),
        admin: beacon.admin_token().to_owned(),
        dir: tempfile::tempdir().expect("temporary directory"),
        _beacon: beacon,
    }
}

/// What a command printed: stdout and stderr.
#[derive(Debug)]
pub struct Output {
    pub out: String,
    pub notes: String,
}

/// `beacon <args>`, parsed as the binary parses them, run in-process.
pub async fn beacon(args: &[&str]) -> (anyhow::Result<ExitCode>, Output) {
    let cli = Cli::try_parse_from(std::iter::once("beacon").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let result = match cli.command {
        Command::Tenant(args) => crate::tenant::execute(args, &mut out, &mut notes).await,
        Command::Token(args) => crate::token::execute(args, &mut out, false).await,
        Command::Publish(args) => crate::publish::execute(args, &mut out, &mut notes).await,
        Command::Tail(args) => {
            let tail = crate::tail::execute(
                args,
                &mut out,
                &mut notes,
                Styles::default(),
                CancellationToken::new(),
            );
            tokio::time::timeout(TAIL_LIMIT, tail)
                .await
                .unwrap_or_else(|_| {
                    Err(anyhow::anyhow!("tail did not finish within {TAIL_LIMIT:?}"))
                })
        }
        _ => panic!("{args:?}: not a command these tests run"),
    };
    let output = Output {
        out: String::from_utf8(out).expect("UTF-8 stdout"),
        notes: String::from_utf8(notes).expect("UTF-8 stderr"),
    };
    (result, output)
}

/// What a command that succeeds printed.
pub async fn ok(args: &[&str]) -> Output {
    match beacon(args).await {
        (Ok(code), output) if code == ExitCode::SUCCESS => output,
        (Ok(code), output) => panic!("{args:?} exited with {code:?}: {output:?}"),
        (Err(e), output) => panic!("{args:?} failed: {e:#}\n{output:?}"),
    }
}

/// The error of a command that fails, and what it printed.
pub async fn fails(args: &[&str]) -> (String, Output) {
    match beacon(args).await {
        (Err(e), output) => (format!("{e:#}"), output),
        (Ok(code), output) => panic!("{args:?} did not fail ({code:?}): {output:?}"),
    }
}

/// The claims of a JWT, unverified.
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A file `name` in `dir` holding `json`; its path.
pub fn write(dir: &Path, name: &str, json: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, json.to_string()).expect("writing a test file");
    path.to_str().expect("UTF-8 path").to_owned()
}

/// The data of an `order.created` of the built-in catalogue.
pub fn order(id: &str, total: i64) -> Value {
    json!({"orderId": id, "total": total, "currency": "KES"})
}

/// A tenant `acme` (accepting unregistered types) created with `beacon
/// tenant create --json`: its API key.
pub async fn acme(node: &Node) -> String {
    let created = ok(&[
        "tenant",
        "create",
        "acme",
        "--allow-unregistered-types",
        "--json",
        "--url",
        &node.url,
        "--admin-token",
        &node.admin,
    ])
    .await;
    let created: Value = serde_json::from_str(&created.out).expect("--json prints JSON");
    created["api_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no api_key in {created}"))
        .to_owned()
}
