//! `beacon schema`: the real binary as a subprocess against a real node.

use std::path::{Path, PathBuf};
use std::process::Output;

use beacon_test_support::{Beacon, WAIT, beacon_bin};
use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

fn catalogue_types() -> Vec<String> {
    let mut types: Vec<String> = std::fs::read_dir(repo_root().join("schemas/catalog"))
        .expect("schemas/catalog")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    types.sort();
    types
}

/// What one `beacon schema ...` run printed, and how it exited.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit status; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `beacon schema <args>` from the repository root, with `BEACON_URL`
/// set to `url` and `BEACON_ADMIN_TOKEN` to `token`.
async fn schema(url: &str, token: &str, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(beacon_bin().unwrap_or_else(|e| panic!("{e}")));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BEACON_") {
            cmd.env_remove(&name);
        }
    }
    cmd.arg("schema")
        .args(args)
        .env("BEACON_URL", url)
        .env("BEACON_ADMIN_TOKEN", token)
        .current_dir(repo_root())
        .kill_on_drop(true);
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::time::timeout(WAIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("beacon schema {args:?} did not finish within {WAIT:?}"))
        .expect("run beacon schema");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn order_created() -> Value {
    let text = std::fs::read_to_string(repo_root().join("schemas/catalog/order.created.json"))
        .expect("order.created.json");
    serde_json::from_str(&text).expect("order.created.json is JSON")
}

#[tokio::test]
async fn schema_push_list_get_and_check_against_a_node() {
    let server = Beacon::builder()
        .arg("builtin-catalog", "false")
        .start()
        .await;
    let (url, token) = (server.url(""), server.admin_token().to_owned());
    let types = catalogue_types();
    assert!(types.len() >= 20, "{types:?}");

    let empty = schema(&url, &token, &["list"]).await;
    empty.assert_code(0);
    assert!(empty.stdout.contains("no contracts"), "{}", empty.stdout);

    let first = schema(&url, &token, &["push", "schemas/catalog"]).await;
    first.assert_code(0);
    for kind in &types {
        assert!(
            first
                .stdout
                .lines()
                .any(|l| l.starts_with(kind.as_str()) && l.ends_with("registered as version 1")),
            "{kind} not registered:\n{}",
            first.stdout
        );
    }

    let list = schema(&url, &token, &["list"]).await;
    list.assert_code(0);
    assert!(list.stdout.starts_with("TYPE"), "{}", list.stdout);
    for kind in &types {
        let row = list
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kind.as_str()))
            .unwrap_or_else(|| panic!("{kind} not listed:\n{}", list.stdout));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1..], ["1", "BACKWARD", "-"], "{row}");
    }

    // Through --url this time, overriding the environment.
    let again = schema(
        "http://127.0.0.1:1",
        &token,
        &["--url", &url, "push", "schemas/catalog"],
    )
    .await;
    again.assert_code(0);
    let unchanged = again
        .stdout
        .lines()
        .filter(|l| l.ends_with("unchanged (version 1)"))
        .count();
    assert_eq!(unchanged, types.len(), "{}", again.stdout);

    let dir = tempfile::tempdir().expect("temporary directory");
    let mut additive = order_created();
    additive["properties"]["channel"] = json!({"type": "string", "enum": ["web", "app", "pos"]});
    let additive_path = dir.path().join("v2.json");
    std::fs::write(&additive_path, additive.to_string()).expect("write v2.json");
    let additive_path = additive_path.to_str().expect("UTF-8 path");
    let compatible = schema(&url, &token, &["check", "order.created", additive_path]).await;
    compatible.assert_code(0);
    assert_eq!(compatible.stdout.trim(), "order.created: compatible");

    let mut breaking = additive.clone();
    breaking["required"]
        .as_array_mut()
        .expect("required is an array")
        .push(json!("channel"));
    let breaking_path = dir.path().join("order.created.json");
    std::fs::write(&breaking_path, breaking.to_string()).expect("write order.created.json");
    let breaking_path = breaking_path.to_str().expect("UTF-8 path");
    let incompatible = schema(&url, &token, &["check", "order.created", breaking_path]).await;
    incompatible.assert_code(1);
    assert!(
        incompatible.stdout.contains("not compatible")
            && incompatible.stdout.contains("/properties/channel: "),
        "{}",
        incompatible.stdout
    );

    let rejected = schema(&url, &token, &["push", breaking_path]).await;
    rejected.assert_code(1);
    assert!(
        rejected.stdout.contains("order.created  rejected: ")
            && rejected.stdout.contains("    /properties/channel: "),
        "{}",
        rejected.stdout
    );
    assert!(
        rejected
            .stderr
            .contains("error: 1 of 1 contract not registered"),
        "{}",
        rejected.stderr
    );

    let got = schema(&url, &token, &["get", "order.created", "--schema"]).await;
    got.assert_code(0);
    let got: Value = serde_json::from_str(&got.stdout).expect("get --schema prints JSON");
    assert_eq!(got, order_created(), "the rejected version was not stored");
    let v1 = schema(&url, &token, &["get", "order.created", "--version", "1"]).await;
    v1.assert_code(0);
    let v1: Value = serde_json::from_str(&v1.stdout).expect("get --version prints JSON");
    assert_eq!(
        (&v1["type"], &v1["version"]),
        (&json!("order.created"), &json!(1))
    );
}

#[tokio::test]
async fn schema_errors_are_explained() {
    let server = Beacon::builder()
        .arg("builtin-catalog", "false")
        .start()
        .await;
    let url = server.url("");

    let wrong_token = schema(&url, "not-the-admin-token", &["push", "schemas/catalog"]).await;
    wrong_token.assert_code(1);
    assert!(
        wrong_token.stderr.contains("refused the admin token")
            && wrong_token.stderr.contains("BEACON_ADMIN_TOKEN"),
        "{}",
        wrong_token.stderr
    );
    assert_eq!(wrong_token.stdout, "", "nothing was pushed");

    let unknown = schema(&url, server.admin_token(), &["get", "made.up"]).await;
    unknown.assert_code(1);
    assert!(
        unknown.stderr.starts_with("error: ") && unknown.stderr.contains("404"),
        "{}",
        unknown.stderr
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let unreachable = schema(&closed_url, server.admin_token(), &["list"]).await;
    unreachable.assert_code(1);
    assert!(
        unreachable.stderr.contains("cannot reach Beacon at"),
        "{}",
        unreachable.stderr
    );
}
