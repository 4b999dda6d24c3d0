//! Set-up calls to the Beacon API: readiness, contract, tenant, plugin,
//! subscriber tokens, plugin counters.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http::Method;
use serde_json::json;

use crate::clock::TS_KEY;
use crate::http::{Call, Conn};
use crate::publisher::EVENT_TYPE;

/// Tenant used by every scenario (each scenario runs on a fresh server).
pub const TENANT: &str = "bench";
/// Connections used to mint tokens in parallel.
const MINT_CONNECTIONS: usize = 4;
/// The data fields a money enricher formats (see `--plugin`).
pub const MONEY_FIELDS: &str = r#","amount":123450,"currency":"EUR""#;

/// Polls `GET /readyz` until it answers 200.
pub async fn wait_ready(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut conn = Conn::new(addr);
    loop {
        let last = match conn.request(Call::get("/readyz")).await {
            Ok(resp) if resp.status == 200 => return Ok(()),
            Ok(resp) => format!("{}: {}", resp.status, resp.text()),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!("server not ready after {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expect(resp: &crate::http::Response, what: &str, statuses: &[u16]) -> Result<()> {
    if !statuses.contains(&resp.status) {
        bail!("{what} answered {}: {}", resp.status, resp.text());
    }
    Ok(())
}

/// Registers a contract for the bench's event type (so publishes are validated).
pub async fn register_contract(addr: SocketAddr, admin_token: &str) -> Result<()> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            TS_KEY: {"type": "integer", "minimum": 0},
            "seq": {"type": "integer", "minimum": 0},
            "pad": {"type": "string", "maxLength": 65536},
            "amount": {"type": "integer", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "displayAmount": {"type": "string"},
            "enrichedBy": {"type": "string"}
        },
        "required": [TS_KEY, "seq"],
        "additionalProperties": false
    })
    .to_string();
    let path = format!("/v1/schemas/{EVENT_TYPE}/versions");
    let resp = Conn::new(addr)
        .request(Call::post_json(&path, schema).bearer(admin_token))
        .await?;
    expect(&resp, &format!("POST {path}"), &[201])
}

/// Creates the bench tenant and returns its API key. Without a registered
/// contract the tenant must be allowed to publish unregistered types.
pub async fn create_tenant(addr: SocketAddr, admin_token: &str, contract: bool) -> Result<String> {
    let body = json!({ "id": TENANT, "allow_unregistered_types": !contract }).to_string();
    let resp = Conn::new(addr)
        .request(Call::post_json("/v1/tenants", body).bearer(admin_token))
        .await?;
    expect(&resp, "POST /v1/tenants", &[201])?;
    resp.json()?["api_key"]
        .as_str()
        .map(str::to_owned)
        .context("POST /v1/tenants: no api_key in the answer")
}

/// Uploads a plugin component and activates it for the bench's event type.
pub async fn activate_plugin(addr: SocketAddr, api_key: &str, wasm: Vec<u8>) -> Result<()> {
    let mut conn = Conn::new(addr);
    let upload = conn
        .request(
            Call::post_json("/v1/plugins/bench/versions", wasm)
                .content_type("application/wasm")
                .bearer(api_key),
        )
        .await?;
    expect(&upload, "plugin upload", &[201])?;
    let activation = json!({"version": 1, "types": [EVENT_TYPE]}).to_string();
    let activate = conn
        .request(
            Call::post_json("/v1/plugins/bench", activation)
                .method(Method::PUT)
                .bearer(api_key),
        )
        .await?;
    expect(&activate, "plugin activation", &[200])
}

/// The counters of the bench's plugin (`GET /v1/stats` with the tenant key).
pub async fn plugin_stats(addr: SocketAddr, api_key: &str) -> Result<serde_json::Value> {
    let resp = Conn::new(addr)
        .request(Call::get("/v1/stats").bearer(api_key))
        .await?;
    expect(&resp, "GET /v1/stats", &[200])?;
    resp.json()?["plugins"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "bench"))
        .cloned()
        .context("no counters for the bench plugin")
}

/// Mints `count` subscriber tokens (subjects `u0`, `u1`, …) over a few keep-alive connections.
pub async fn mint_tokens(addr: SocketAddr, api_key: &str, count: usize) -> Result<Vec<String>> {
    let workers = MINT_CONNECTIONS.min(count.max(1));
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let api_key = api_key.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut out = Vec::new();
            for i in (worker..count).step_by(workers) {
                let body = json!({ "sub": format!("u{i}"), "ttl_s": 3600 }).to_string();
                let resp = conn
                    .request(Call::post_json("/v1/tokens", body).bearer(&api_key))
                    .await?;
                expect(&resp, "POST /v1/tokens", &[200, 201])?;
                let token = resp.json()?["token"]
                    .as_str()
                    .map(str::to_owned)
                    .context("POST /v1/tokens: no token in the answer")?;
                out.push((i, token));
            }
            anyhow::Ok(out)
        }));
    }
    let mut tokens = vec![String::new(); count];
    for task in tasks {
        for (i, token) in task.await.context("token minting task")?? {
            tokens[i] = token;
        }
    }
    Ok(tokens)
}

/// The stream path for a token.
pub fn stream_path(token: &str) -> String {
    format!("/v1/stream?access_token={token}")
}
