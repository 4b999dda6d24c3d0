//! What the plugin commands' tests share: a real node with a tenant `acme`
//! whose API key the commands use, the commands parsed as the binary
//! parses them, and the example components built by `plugins/build.sh`.

use std::path::Path;
use std::process::ExitCode;

use beacon_test_support::Beacon;
use clap::Parser;
use serde_json::{Value, json};

use super::{PluginArgs, execute};

/// `beacon plugin`'s arguments, parsed as the binary parses them.
#[derive(Parser)]
pub struct Cli {
    #[command(flatten)]
    pub args: PluginArgs,
}

/// A component built by `plugins/build.sh` (into `<target>/plugins/`).
pub fn component(name: &str) -> String {
    let path = beacon_test_support::plugins::target_dir()
        .join("plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: these tests upload real components; build them first with \
         `bash plugins/build.sh --rust-only`",
        path.display()
    );
    path.to_str().expect("UTF-8 path").to_owned()
}

/// A node serving on a local port, with a tenant `acme` whose API key the
/// commands use. Stopped when dropped.
pub struct Node {
    pub url: String,
    pub key: String,
    /// The node's process (kept running while this lives); `None` for a
    /// handle with other credentials.
    pub _beacon: Option<Beacon>,
    pub dir: tempfile::TempDir,
}

/// A node with the built-in catalogue; compiled components are shared
/// with the end-to-end tests.
pub async fn node() -> Node {
    let beacon = beacon_test_support::plugin_node()
        .arg("builtin-catalog", "true")
        .start()
        .await;
    let url = beacon.url("");
    let created: Value = reqwest::Client::new()
        .post(format!("{url}/v1/tenants"))
        .bearer_auth(beacon.admin_token())
        .json(&json!({"id": "acme", "allow_unregistered_types": true}))
        .send()
        .await
        .expect("POST /v1/tenants")
        .json()
        .await
        .expect("a JSON answer");
    let key = created["api_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no api_key in {created}"))
        .to_owned();
    Node {
        url,
        key,
        _beacon: Some(beacon),
        dir: tempfile::tempdir().expect("temporary directory"),
    }
}

impl Node {
    /// `beacon plugin <args>` against this node: the result and what
    /// it printed.
    pub async fn run(&self, args: &[&str]) -> (anyhow::Result<ExitCode>, String) {
        let argv = ["beacon-plugin", "--url", &self.url, "--api-key", &self.key]
            .into_iter()
            .chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let mut out = Vec::new();
        let result = execute(cli.args, &mut out).await;
        (result, String::from_utf8(out).expect("UTF-8 output"))
    }

    /// What a command that succeeds printed.
    pub async fn ok(&self, args: &[&str]) -> String {
        match self.run(args).await {
            (Ok(code), out) if code == ExitCode::SUCCESS => out,
            (Ok(code), out) => panic!("{args:?} exited with {code:?}:\n{out}"),
            (Err(e), out) => panic!("{args:?} failed: {e:#}\n{out}"),
        }
    }

    /// The error of a command that fails.
    pub async fn error(&self, args: &[&str]) -> String {
        match self.run(args).await {
            (Err(e), _) => format!("{e:#}"),
            (Ok(code), out) => panic!("{args:?} did not fail ({code:?}):\n{out}"),
        }
    }

    /// A file in this node's temporary directory holding `json`.
    pub fn file(&self, name: &str, json: &Value) -> String {
        let path: &Path = self.dir.path();
        let path = path.join(name);
        std::fs::write(&path, json.to_string()).expect("writing a test file");
        path.to_str().expect("UTF-8 path").to_owned()
    }
}

pub fn order_created() -> Value {
    json!({
        "type": "order.created",
        "subject": "order/IE-4486",
        "data": {"orderId": "IE-4486", "total": 85000, "currency": "KES"}
    })
}
