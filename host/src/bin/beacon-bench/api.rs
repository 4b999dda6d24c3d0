//! Set-up calls to the Beacon API: readiness, tenant creation, subscriber tokens.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::http::HttpConn;

/// Tenant used by every scenario (each scenario runs on a fresh server).
pub const TENANT: &str = "bench";
/// Connections used to mint tokens in parallel.
const MINT_CONNECTIONS: usize = 4;

/// Polls `GET /readyz` until it answers 200.
pub async fn wait_ready(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut conn = HttpConn::new(addr);
    loop {
        let last = match conn.request("GET", "/readyz", None, None).await {
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

/// Registers a contract for the bench's event type (so publishes are validated).
pub async fn register_contract(addr: SocketAddr, admin_token: &str) -> Result<()> {
    let mut conn = HttpConn::new(addr);
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            crate::sse::TS_KEY: {"type": "integer", "minimum": 0},
            "seq": {"type": "integer", "minimum": 0},
            "pad": {"type": "string", "maxLength": 65536},
            "amount": {"type": "integer", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "displayAmount": {"type": "string"},
            "enrichedBy": {"type": "string"}
        },
        "required": [crate::sse::TS_KEY, "seq"],
        "additionalProperties": false
    })
    .to_string();
    let path = format!("/v1/schemas/{}/versions", crate::publisher::EVENT_TYPE);
    let resp = conn
        .request("POST", &path, Some(admin_token), Some(schema.as_bytes()))
        .await?;
    if resp.status != 201 {
        bail!("POST {path} answered {}: {}", resp.status, resp.text());
    }
    Ok(())
}

/// The data fields a money enricher formats (see `--plugin`).
pub const MONEY_FIELDS: &str = r#","amount":123450,"currency":"EUR""#;

/// Uploads a plugin component and activates it for the bench's event type.
pub async fn activate_plugin(addr: SocketAddr, api_key: &str, wasm: Vec<u8>) -> Result<()> {
    let client = reqwest::Client::new();
    let base = format!("http://{addr}/v1/plugins/bench");
    let upload = client
        .post(format!("{base}/versions"))
        .bearer_auth(api_key)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await?;
    if upload.status() != 201 {
        bail!(
            "upload answered {}: {}",
            upload.status(),
            upload.text().await?
        );
    }
    let activation = json!({"version": 1, "types": [crate::publisher::EVENT_TYPE]});
    let activate = client
        .put(&base)
        .bearer_auth(api_key)
        .json(&activation)
        .send()
        .await?;
    if activate.status() != 200 {
        bail!(
            "activation answered {}: {}",
            activate.status(),
            activate.text().await?
        );
    }
    Ok(())
}

/// The counters of the bench's plugin (`GET /v1/stats` with the tenant key).
pub async fn plugin_stats(addr: SocketAddr, api_key: &str) -> Result<serde_json::Value> {
    let stats: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{addr}/v1/stats"))
        .bearer_auth(api_key)
        .send()
        .await?
        .json()
        .await?;
    stats["plugins"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "bench"))
        .cloned()
        .context("no counters for the bench plugin")
}

/// Creates the bench tenant and returns its API key. Without a registered
/// contract the tenant must be allowed to publish unregistered types.
pub async fn create_tenant(addr: SocketAddr, admin_token: &str, contract: bool) -> Result<String> {
    let mut conn = HttpConn::new(addr);
    let body = json!({ "id": TENANT, "allow_unregistered_types": !contract }).to_string();
    let resp = conn
        .request(
            "POST",
            "/v1/tenants",
            Some(admin_token),
            Some(body.as_bytes()),
        )
        .await?;
    if resp.status != 201 {
        bail!("POST /v1/tenants answered {}: {}", resp.status, resp.text());
    }
    resp.json()?["api_key"]
        .as_str()
        .map(str::to_owned)
        .context("POST /v1/tenants: no api_key in the answer")
}

/// Mints `count` subscriber tokens (subjects `u0`, `u1`, …) over a few keep-alive connections.
pub async fn mint_tokens(addr: SocketAddr, api_key: &str, count: usize) -> Result<Vec<String>> {
    let workers = MINT_CONNECTIONS.min(count.max(1));
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let api_key = api_key.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut conn = HttpConn::new(addr);
            let mut out = Vec::new();
            for i in (worker..count).step_by(workers) {
                let body = json!({ "sub": format!("u{i}"), "ttl_s": 3600 }).to_string();
                let resp = conn
                    .request("POST", "/v1/tokens", Some(&api_key), Some(body.as_bytes()))
                    .await?;
                if resp.status != 200 && resp.status != 201 {
                    bail!("POST /v1/tokens answered {}: {}", resp.status, resp.text());
                }
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
