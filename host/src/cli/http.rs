//! The admin HTTP client: connection flags, requests with the admin token,
//! and Beacon's JSON error answers (`{"error","message","details"}`).
//!
//! Plain HTTP only: this build carries no TLS stack, so an `https://` URL is
//! refused with an explanation (reach such a node through a local
//! TLS-terminating proxy or an SSH tunnel).

use std::fmt;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

/// Where a node listens when started with default settings.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// Time to establish a connection before the node counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole request, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read: a type with 100 versions of 64 KiB fits with room.
const MAX_ANSWER_BYTES: usize = 32 << 20;
/// Longest piece of a non-JSON error answer shown.
const MAX_SHOWN_TEXT: usize = 500;

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

/// A client holding the node's base URL and the admin token.
pub struct Client {
    base: Url,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(server: &Server) -> anyhow::Result<Client> {
        let base = Url::parse(&server.url).with_context(|| format!("--url {}", server.url))?;
        match base.scheme() {
            "http" => {}
            "https" => bail!(
                "--url {}: this beacon speaks plain HTTP only; reach an https node through \
                 a local TLS-terminating proxy or an SSH tunnel and pass its http:// URL",
                server.url
            ),
            other => bail!(
                "--url {}: expected an http:// URL, not {other}:",
                server.url
            ),
        }
        if base.cannot_be_a_base() {
            bail!("--url {}: expected an http:// URL", server.url);
        }
        let Some(token) = server.admin_token.clone().filter(|t| !t.is_empty()) else {
            bail!(
                "no admin token: pass --admin-token or set BEACON_ADMIN_TOKEN \
                 (a node without one generates it into <data-dir>/admin-token)"
            );
        };
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        Ok(Client { base, token, http })
    }

    /// `method` on the path made of `segments` (each percent-encoded), with
    /// an optional JSON body. A 2xx answer is `Ok(Ok(json))`, a Beacon error
    /// answer `Ok(Err(problem))`; an unreachable node or a refused admin
    /// token is an error, since no later request would fare better.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> anyhow::Result<Result<Value, Problem>> {
        let url = self.url(segments);
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
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
            bail!(
                "{} refused the admin token (401 Unauthorized): check --admin-token or BEACON_ADMIN_TOKEN",
                self.base
            );
        }
        if status.is_success() {
            let json = serde_json::from_slice(&bytes)
                .with_context(|| format!("{method} {url} answered {status} with invalid JSON"))?;
            return Ok(Ok(json));
        }
        Ok(Err(Problem::from_answer(status, &bytes)))
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

    fn unreachable(&self, error: reqwest::Error) -> anyhow::Error {
        let mut cause = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(&error);
        while let Some(e) = source {
            cause = e.to_string();
            source = e.source();
        }
        if error.is_timeout() {
            anyhow::anyhow!(
                "no answer from {} within {REQUEST_TIMEOUT:?} ({cause})",
                self.base
            )
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
                }
            }
        }
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
