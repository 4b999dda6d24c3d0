//! The HTTP client of the node commands: connection flags (`--url` with the
//! admin token, or with a tenant's API key), requests, and Beacon's JSON
//! error answers (`{"error","message","details"}`).
//!
//! Plain HTTP only: this build carries no TLS stack, so an `https://` URL is
//! refused with an explanation (reach such a node through a local
//! TLS-terminating proxy or an SSH tunnel).

use std::fmt;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

/// Where a node listens when started with default settings.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// Time to establish a connection before the node counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole request, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for an upload of a component, which the node validates and
/// compiles before it answers (a JavaScript engine takes a while).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest answer read: a type with 100 versions of 64 KiB fits with room.
const MAX_ANSWER_BYTES: usize = 32 << 20;
/// Longest piece of a non-JSON error answer shown.
const MAX_SHOWN_TEXT: usize = 500;
/// Largest error answer read when a stream is refused.
const MAX_ERROR_BYTES: usize = 64 << 10;

/// How to reach a node: shared by every subcommand that talks to one.
#[derive(Args, Debug, Clone)]
pub struct Server {
    /// Base URL of the node (plain http; for an https node use a local
    /// TLS-terminating proxy or an SSH tunnel).
    #[arg(
        long,
        env = "BEACON_URL",
        default_value = DEFAULT_URL,
        value_name = "URL",
        global = true
    )]
    pub url: String,

    /// The node's admin token (`BEACON_ADMIN_TOKEN` on the node, or the one
    /// it generated in `<data-dir>/admin-token`).
    #[arg(
        long,
        env = "BEACON_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        global = true
    )]
    pub admin_token: Option<String>,
}

/// How to reach a node as a tenant: shared by the commands that manage a
/// tenant's own resources (`beacon plugin`).
#[derive(Args, Debug, Clone)]
pub struct TenantServer {
    /// Base URL of the node (plain http; for an https node use a local
    /// TLS-terminating proxy or an SSH tunnel).
    #[arg(
        long,
        env = "BEACON_URL",
        default_value = DEFAULT_URL,
        value_name = "URL",
        global = true
    )]
    pub url: String,

    /// The tenant's API key (`bk_...`) with the `plugins` scope: the one
    /// `POST /v1/tenants` returned, or one from `POST /v1/tenants/{id}/keys`.
    #[arg(
        long,
        env = "BEACON_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        global = true
    )]
    pub api_key: Option<String>,
}

/// How to reach a node as a tenant that publishes: shared by `beacon
/// publish` and `beacon token`.
#[derive(Args, Debug, Clone)]
pub struct PublisherServer {
    /// Base URL of the node (plain http; for an https node use a local
    /// TLS-terminating proxy or an SSH tunnel).
    #[arg(long, env = "BEACON_URL", default_value = DEFAULT_URL, value_name = "URL")]
    pub url: String,

    /// The tenant's API key (`bk_...`) with the `publish` scope: the one
    /// `beacon tenant create` printed, or one from
    /// `POST /v1/tenants/{id}/keys`.
    #[arg(
        long,
        env = "BEACON_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
}

/// Which credential a client sends, for the messages about it.
#[derive(Debug, Clone, Copy)]
pub struct Credential {
    /// What it is called: `admin token`, `API key`.
    name: &'static str,
    /// Its flag.
    flag: &'static str,
    /// Its environment variable.
    env: &'static str,
    /// Where to get one.
    source: &'static str,
}

/// The node's admin token (`beacon schema`).
pub const ADMIN_TOKEN: Credential = Credential {
    name: "admin token",
    flag: "--admin-token",
    env: "BEACON_ADMIN_TOKEN",
    source: "a node without one generates it into <data-dir>/admin-token",
};

/// A tenant's API key (`beacon plugin`).
pub const API_KEY: Credential = Credential {
    name: "API key",
    flag: "--api-key",
    env: "BEACON_API_KEY",
    source: "a tenant's key with the `plugins` scope, from POST /v1/tenants or \
             POST /v1/tenants/{id}/keys",
};

/// A tenant's API key with the `publish` scope (`beacon publish`, `beacon
/// token`, `beacon tail --api-key`).
pub const PUBLISH_KEY: Credential = Credential {
    name: "API key",
    flag: "--api-key",
    env: "BEACON_API_KEY",
    source: "a tenant's key with the `publish` scope, from `beacon tenant create` or \
             POST /v1/tenants/{id}/keys",
};

/// A subscriber token (`beacon tail --token`).
pub const SUBSCRIBER_TOKEN: Credential = Credential {
    name: "subscriber token",
    flag: "--token",
    env: "BEACON_TOKEN",
    source: "from `beacon token <sub>`; or pass --api-key and tail mints its own",
};

/// A request body.
pub enum Body<'a> {
    /// JSON (`application/json`).
    Json(&'a Value),
    /// A WebAssembly component (`application/wasm`).
    Wasm(Vec<u8>),
}

/// A 2xx answer: its status, headers and JSON (`null` when it has no body).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

/// A client holding the node's base URL and a credential.
pub struct Client {
    base: Url,
    token: String,
    credential: Credential,
    http: reqwest::Client,
}

impl Client {
    /// A client with the admin token.
    pub fn new(server: &Server) -> anyhow::Result<Client> {
        Client::connect(&server.url, server.admin_token.as_deref(), ADMIN_TOKEN)
    }

    /// A client with a tenant's API key.
    pub fn tenant(server: &TenantServer) -> anyhow::Result<Client> {
        Client::connect(&server.url, server.api_key.as_deref(), API_KEY)
    }

    /// A client for the node at `url` sending `token`, a `credential`.
    pub fn connect(
        url: &str,
        token: Option<&str>,
        credential: Credential,
    ) -> anyhow::Result<Client> {
        let base = Url::parse(url).with_context(|| format!("--url {url}"))?;
        match base.scheme() {
            "http" => {}
            "https" => bail!(
                "--url {url}: this beacon speaks plain HTTP only; reach an https node through \
                 a local TLS-terminating proxy or an SSH tunnel and pass its http:// URL"
            ),
            other => bail!("--url {url}: expected an http:// URL, not {other}:"),
        }
        if base.cannot_be_a_base() {
            bail!("--url {url}: expected an http:// URL");
        }
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            let Credential {
                name,
                flag,
                env,
                source,
            } = credential;
            bail!("no {name}: pass {flag} or set {env} ({source})");
        };
        // No overall timeout on the client: each request sets its own, and
        // an event stream has none (it is watched for silence instead).
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            base,
            token: token.to_owned(),
            credential,
            http,
        })
    }

    /// The same node and HTTP client with another credential (a fresh
    /// subscriber token).
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            base: self.base.clone(),
            token: token.to_owned(),
            credential: self.credential,
            http: self.http.clone(),
        }
    }

    /// `method` on the path made of `segments` (each percent-encoded), with
    /// an optional JSON body. A 2xx answer is `Ok(Ok(json))`, a Beacon error
    /// answer `Ok(Err(problem))`; an unreachable node or a refused
    /// credential is an error, since no later request would fare better.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> anyhow::Result<Result<Value, Problem>> {
        let answer = self
            .send(method, segments, &[], body.map(Body::Json))
            .await?;
        Ok(answer.map(|a| a.json))
    }

    /// Like [`call`](Self::call), with query parameters, any [`Body`], and
    /// the status of a 2xx answer.
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Body<'_>>,
    ) -> anyhow::Result<Result<Answer, Problem>> {
        self.send_with(method, segments, query, &[], body).await
    }

    /// Like [`send`](Self::send), with more request headers.
    pub async fn send_with(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Body<'_>>,
    ) -> anyhow::Result<Result<Answer, Problem>> {
        let url = self.url_with(segments, query);
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut timeout = REQUEST_TIMEOUT;
        match body {
            Some(Body::Json(json)) => request = request.json(json),
            Some(Body::Wasm(bytes)) => {
                timeout = UPLOAD_TIMEOUT;
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/wasm")
                    .body(bytes);
            }
            None => {}
        }
        let mut response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(e, timeout))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("reading the answer to {method} {url}"))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                bail!("{method} {url}: the answer exceeds {MAX_ANSWER_BYTES} bytes");
            }
            bytes.extend_from_slice(&chunk);
        }
        if status == StatusCode::UNAUTHORIZED {
            let Credential {
                name, flag, env, ..
            } = self.credential;
            bail!(
                "{} refused the {name} (401 Unauthorized): check {flag} or {env}",
                self.base
            );
        }
        if status.is_success() {
            let json = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).with_context(|| {
                    format!("{method} {url} answered {status} with invalid JSON")
                })?
            };
            return Ok(Ok(Answer {
                status,
                headers,
                json,
            }));
        }
        Ok(Err(
            Problem::from_answer(status, &bytes).with_headers(&headers)
        ))
    }

    /// Opens a long-lived `GET` (an event stream) on the path made of
    /// `segments`: the response once its head arrived, to be read chunk by
    /// chunk, or the node's error answer (a 401 included: the caller may
    /// fetch a new token). Only the head has a time limit.
    pub async fn open_stream(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        last_event_id: Option<&str>,
    ) -> anyhow::Result<Result<reqwest::Response, Problem>> {
        let url = self.url_with(segments, query);
        let mut request = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .header(reqwest::header::CACHE_CONTROL, "no-cache");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let mut response = tokio::time::timeout(REQUEST_TIMEOUT, request.send())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "no answer from {} within {REQUEST_TIMEOUT:?} (opening the stream)",
                    self.base
                )
            })?
            .map_err(|e| self.unreachable(e, REQUEST_TIMEOUT))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Ok(response));
        }
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        // The error answer is best effort: its status says enough without it.
        while let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(REQUEST_TIMEOUT, response.chunk()).await
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_ERROR_BYTES {
                break;
            }
        }
        Ok(Err(
            Problem::from_answer(status, &bytes).with_headers(&headers)
        ))
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// [`url`](Self::url) with the query parameters `query` (encoded).
    fn url_with(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    fn unreachable(&self, error: reqwest::Error, timeout: Duration) -> anyhow::Error {
        let mut cause = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(&error);
        while let Some(e) = source {
            cause = e.to_string();
            source = e.source();
        }
        if error.is_timeout() {
            anyhow::anyhow!("no answer from {} within {timeout:?} ({cause})", self.base)
        } else {
            anyhow::anyhow!(
                "cannot reach Beacon at {} ({cause}): is a node running there? (--url, BEACON_URL)",
                self.base
            )
        }
    }
}

/// One reason of an error answer: a JSON pointer and what is wrong there.
#[derive(Debug, Clone, Deserialize)]
pub struct Detail {
    #[serde(default)]
    pub path: String,
    pub message: String,
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(whole schema): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A non-2xx answer: Beacon's error body, or the raw text of anything else.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Vec<Detail>,
    /// The answer's `Retry-After` (delta-seconds), for a 429 or 503.
    pub retry_after: Option<Duration>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
    #[serde(default)]
    details: Vec<Detail>,
}

impl Problem {
    fn from_answer(status: StatusCode, bytes: &[u8]) -> Problem {
        match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(body) => Problem {
                status,
                code: body.error,
                message: body.message,
                details: body.details,
                retry_after: None,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(bytes);
                let text: String = text.trim().chars().take(MAX_SHOWN_TEXT).collect();
                Problem {
                    status,
                    code: String::new(),
                    message: if text.is_empty() {
                        format!("the node answered {status}")
                    } else {
                        format!("the node answered {status}: {text}")
                    },
                    details: Vec::new(),
                    retry_after: None,
                }
            }
        }
    }

    /// Reads `Retry-After` from the answer's headers.
    fn with_headers(mut self, headers: &HeaderMap) -> Problem {
        self.retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        self
    }

    /// The details, one per line, indented by `indent`.
    pub fn detail_lines(&self, indent: &str) -> String {
        self.details
            .iter()
            .map(|d| format!("\n{indent}{d}"))
            .collect()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if !self.code.is_empty() {
            write!(f, " ({} {})", self.status.as_u16(), self.code)?;
        }
        write!(f, "{}", self.detail_lines("  "))
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> anyhow::Result<Client> {
        Client::new(&Server {
            url: url.to_owned(),
            admin_token: Some("t".to_owned()),
        })
    }

    #[test]
    fn paths_are_joined_and_encoded() {
        let c = client("http://localhost:8080/beacon/").expect("client");
        assert_eq!(
            c.url(&["v1", "schemas", "a b"]).as_str(),
            "http://localhost:8080/beacon/v1/schemas/a%20b"
        );
        let c = client("http://localhost:8080").expect("client");
        assert_eq!(
            c.url(&["v1", "schemas"]).as_str(),
            "http://localhost:8080/v1/schemas"
        );
    }

    #[test]
    fn queries_are_encoded() {
        let c = client("http://localhost:8080/").expect("client");
        assert_eq!(
            c.url_with(
                &["v1", "plugins", "p", "test"],
                &[
                    ("hook", "convert".to_owned()),
                    ("to_version", "1 2".to_owned())
                ]
            )
            .as_str(),
            "http://localhost:8080/v1/plugins/p/test?hook=convert&to_version=1+2"
        );
        assert_eq!(
            c.url_with(&["v1", "plugins"], &[]).as_str(),
            "http://localhost:8080/v1/plugins"
        );
    }

    #[test]
    fn missing_api_keys_are_explained() {
        let none = Client::tenant(&TenantServer {
            url: DEFAULT_URL.to_owned(),
            api_key: Some(String::new()),
        })
        .err()
        .expect("refused");
        assert!(
            none.to_string()
                .starts_with("no API key: pass --api-key or set BEACON_API_KEY ("),
            "{none}"
        );
    }

    #[test]
    fn https_and_missing_tokens_are_explained() {
        let https = client("https://example.com").err().expect("refused");
        assert!(https.to_string().contains("plain HTTP"), "{https}");
        let none = Client::new(&Server {
            url: DEFAULT_URL.to_owned(),
            admin_token: None,
        })
        .err()
        .expect("refused");
        assert!(none.to_string().contains("BEACON_ADMIN_TOKEN"), "{none}");
    }

    #[test]
    fn error_answers_are_read() {
        let body = br#"{"error":"incompatible_schema","message":"not compatible","details":[{"path":"/properties/a","message":"now required"}]}"#;
        let p = Problem::from_answer(StatusCode::CONFLICT, body);
        assert_eq!(
            p.to_string(),
            "not compatible (409 incompatible_schema)\n  /properties/a: now required"
        );
        let p = Problem::from_answer(StatusCode::BAD_GATEWAY, b"upstream down");
        assert_eq!(
            p.to_string(),
            "the node answered 502 Bad Gateway: upstream down"
        );
    }
}
