//! Tenant WebAssembly plugins: the example components built by
//! `plugins/build.sh`, nodes that share one compiled-plugin cache, and the
//! `/v1/plugins`, `/v1/dead-letters` and `/v1/stats` calls of a tenant.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::WAIT;
use crate::api::{Reply, Tenant, send, send_within};
use crate::{Beacon, BeaconBuilder};

/// Upper bound for an upload: a node compiles the component before it
/// answers, and a JavaScript one takes tens of seconds on a cold cache in
/// a debug build on a busy machine.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(180);

/// The target directory the tests run from: `<target>/<profile>/deps/<exe>`
/// gives `<target>`; otherwise the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        (deps.file_name()? == "deps")
            .then(|| deps.parent()?.parent().map(Path::to_path_buf))
            .flatten()
    });
    from_exe.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The component `name` built by `plugins/build.sh`
/// (`<target>/plugins/<name>.wasm`).
pub fn plugin(name: &str) -> Vec<u8> {
    let path = target_dir().join("plugins").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the plugin component {}: {e}; run `bash plugins/build.sh` first",
            path.display()
        )
    })
}

/// The compiled-plugin cache every plugin test node shares, so a component
/// (the JavaScript one takes seconds) compiles once per run.
pub fn plugin_cache_dir() -> PathBuf {
    target_dir().join("e2e-plugin-cache")
}

/// [`Beacon::builder`] with the shared compiled-plugin cache and a
/// generous per-call time limit: the default (50 ms of wall time) is for
/// production; a debug build on a machine busy with the whole suite can
/// stall a call that long. Tests of the time limit lower it per activation
/// (`limits.timeout_ms`).
pub fn plugin_node() -> BeaconBuilder {
    Beacon::builder()
        .arg("plugin-cache-dir", plugin_cache_dir().display().to_string())
        .arg("plugin-timeout", "2s")
}

/// An activation body: `version`, `types`, `on_error` and `limits`
/// (order 0).
pub fn activation(version: u32, types: &[&str], on_error: &str, limits: Value) -> Value {
    json!({
        "version": version,
        "types": types,
        "order": 0,
        "on_error": on_error,
        "limits": limits,
    })
}

/// A plugin's counters from `/v1/stats` (zeros if the node has none yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Counters(pub Value);

impl Counters {
    /// One counter (`calls`, `modifies`, `failures`, …); 0 when absent.
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).and_then(Value::as_u64).unwrap_or(0)
    }
}

impl Tenant {
    fn plugins_request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.api_key)
    }

    /// `POST /v1/plugins/{name}/versions` with `Content-Type: application/wasm`.
    pub async fn upload_plugin(&self, name: &str, wasm: &[u8]) -> Reply {
        self.upload_plugin_as(name, wasm, "application/wasm").await
    }

    /// `POST /v1/plugins/{name}/versions` with this content type.
    pub async fn upload_plugin_as(&self, name: &str, wasm: &[u8], content_type: &str) -> Reply {
        send_within(
            self.plugins_request(Method::POST, &format!("/v1/plugins/{name}/versions"))
                .header("content-type", content_type)
                .body(wasm.to_vec()),
            UPLOAD_TIMEOUT,
        )
        .await
    }

    /// Uploads a component (asserting 201, or 200 for bytes uploaded
    /// before) and returns its version number.
    pub async fn upload_version(&self, name: &str, wasm: &[u8]) -> u32 {
        let reply = self.upload_plugin(name, wasm).await;
        assert!(
            reply.status == 201 || reply.status == 200,
            "uploading {name}: {} {}",
            reply.status,
            reply.text
        );
        let body = reply.json();
        assert_eq!(body["name"], name, "{body}");
        body["version"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or_else(|| panic!("no version in {body}"))
    }

    /// `PUT /v1/plugins/{name}` with this body.
    pub async fn activate_plugin(&self, name: &str, body: &Value) -> Reply {
        send(
            self.plugins_request(Method::PUT, &format!("/v1/plugins/{name}"))
                .json(body),
        )
        .await
    }

    /// Activates (asserting 200) and returns the plugin as the API shows it.
    pub async fn activate(&self, name: &str, body: &Value) -> Value {
        let reply = self.activate_plugin(name, body).await;
        reply.assert_status(200);
        let plugin = reply.json();
        assert_eq!(
            plugin["activation"]["version"], body["version"],
            "activation answer: {plugin}"
        );
        plugin
    }

    /// Uploads `wasm` as `name` and activates that version with `body`
    /// (whose `version` is filled in). Returns the version.
    pub async fn install(&self, name: &str, wasm: &[u8], mut body: Value) -> u32 {
        let version = self.upload_version(name, wasm).await;
        body["version"] = json!(version);
        self.activate(name, &body).await;
        version
    }

    /// `GET /v1/plugins/{name}`.
    pub async fn plugin_request(&self, name: &str) -> Reply {
        send(self.plugins_request(Method::GET, &format!("/v1/plugins/{name}"))).await
    }

    /// `GET /v1/plugins/{name}`, asserting 200.
    pub async fn plugin(&self, name: &str) -> Value {
        let reply = self.plugin_request(name).await;
        reply.assert_status(200);
        reply.json()
    }

    /// `GET /v1/plugins`, asserting 200: the `plugins` array.
    pub async fn plugins(&self) -> Vec<Value> {
        let reply = send(self.plugins_request(Method::GET, "/v1/plugins")).await;
        reply.assert_status(200);
        let body = reply.json();
        body["plugins"]
            .as_array()
            .unwrap_or_else(|| panic!("no plugins array in {body}"))
            .clone()
    }

    /// `DELETE /v1/plugins/{name}`.
    pub async fn delete_plugin(&self, name: &str) -> Reply {
        send(self.plugins_request(Method::DELETE, &format!("/v1/plugins/{name}"))).await
    }

    /// `GET /v1/plugins/{name}/logs` (`query` like `?limit=5` or "").
    pub async fn plugin_logs_request(&self, name: &str, query: &str) -> Reply {
        send(self.plugins_request(Method::GET, &format!("/v1/plugins/{name}/logs{query}"))).await
    }

    /// The plugin's log lines on this node, oldest first (asserting 200).
    pub async fn plugin_logs(&self, name: &str) -> Vec<Value> {
        let reply = self.plugin_logs_request(name, "?limit=500").await;
        reply.assert_status(200);
        let body = reply.json();
        body["lines"]
            .as_array()
            .unwrap_or_else(|| panic!("no lines array in {body}"))
            .clone()
    }

    /// `POST /v1/plugins/{name}/test{query}` with this body (a dry run).
    pub async fn dry_run(&self, name: &str, query: &str, body: &Value) -> Reply {
        send(
            self.plugins_request(Method::POST, &format!("/v1/plugins/{name}/test{query}"))
                .json(body),
        )
        .await
    }

    /// `GET /v1/dead-letters`.
    pub async fn dead_letters_request(&self) -> Reply {
        send(self.plugins_request(Method::GET, "/v1/dead-letters?limit=100")).await
    }

    /// The tenant's dead letters, oldest first (asserting 200).
    pub async fn dead_letters(&self) -> Vec<Value> {
        let reply = self.dead_letters_request().await;
        reply.assert_status(200);
        let body = reply.json();
        body["dead_letters"]
            .as_array()
            .unwrap_or_else(|| panic!("no dead_letters array in {body}"))
            .clone()
    }

    /// `GET /v1/stats` with this tenant's key.
    pub async fn stats_request(&self) -> Reply {
        send(self.plugins_request(Method::GET, "/v1/stats")).await
    }

    /// The counters of plugin `name` in `GET /v1/stats` on this node.
    pub async fn plugin_stats(&self, name: &str) -> Counters {
        let reply = self.stats_request().await;
        reply.assert_status(200);
        let body = reply.json();
        assert_eq!(body["tenant"], self.id.as_str(), "{body}");
        let entry = body["plugins"]
            .as_array()
            .unwrap_or_else(|| panic!("no plugins array in {body}"))
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(Value::Null);
        Counters(entry)
    }

    /// Mints a subscriber token for `sub` with extra claims; asserts 200.
    pub async fn token_with_claims(&self, sub: &str, claims: Value) -> String {
        let reply = self
            .token_request(&json!({ "sub": sub, "claims": claims }))
            .await;
        reply.assert_status(200);
        let body = reply.json();
        body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"token\" in {body}"))
            .to_owned()
    }

    /// The same tenant with another API key.
    pub fn with_key(&self, api_key: &str) -> Tenant {
        Tenant {
            api_key: api_key.to_owned(),
            ..self.clone()
        }
    }
}

impl Beacon {
    /// Creates an API key of tenant `id` with these scopes (admin; asserts 201).
    pub async fn create_key(&self, id: &str, scopes: &[&str]) -> String {
        let reply = send(
            self.admin(Method::POST, &format!("/v1/tenants/{id}/keys"))
                .json(&json!({ "scopes": scopes })),
        )
        .await;
        reply.assert_status(201);
        let body = reply.json();
        body["api_key"]
            .as_str()
            .unwrap_or_else(|| panic!("no api_key in {body}"))
            .to_owned()
    }

    /// Registers a contract version of `kind` (admin; asserts 201) and
    /// returns its number.
    pub async fn register_schema(&self, kind: &str, schema: &Value) -> u64 {
        let reply = send(
            self.admin(Method::POST, &format!("/v1/schemas/{kind}/versions"))
                .json(schema),
        )
        .await;
        reply.assert_status(201);
        let body = reply.json();
        body["version"]
            .as_u64()
            .unwrap_or_else(|| panic!("no version in {body}"))
    }
}

/// A bounded wait for something that happens soon (another node
/// following a change, a counter moving).
#[derive(Debug)]
pub struct Patience {
    what: String,
    limit: Duration,
    started: tokio::time::Instant,
}

impl Patience {
    /// Waiting for `what`, at most `limit`.
    pub fn new(what: impl Into<String>, limit: Duration) -> Patience {
        Patience {
            what: what.into(),
            limit,
            started: tokio::time::Instant::now(),
        }
    }

    /// Waiting for `what`, at most [`WAIT`].
    pub fn soon(what: impl Into<String>) -> Patience {
        Patience::new(what, WAIT)
    }

    /// Before the next try: panics (with `last`, what the last try saw)
    /// once the limit has passed, else sleeps 50 ms.
    pub async fn retry(&self, last: impl std::fmt::Display) {
        assert!(
            self.started.elapsed() < self.limit,
            "{}: not within {:?}; last seen: {last}",
            self.what,
            self.limit
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Time since the wait started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
