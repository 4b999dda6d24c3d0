//! Reaching a node: the connection flags (`--url` with the admin token or
//! a tenant's API key), the [`beacon_client::Client`] they make, and what
//! a person is told when a call fails — the node's refusal with its
//! details ([`Problem`]), a refused credential, an unreachable node.
//!
//! Plain HTTP only: this build carries no TLS stack, so an `https://` URL is
//! refused with an explanation (reach such a node through a local
//! TLS-terminating proxy or an SSH tunnel).

use std::fmt;

use anyhow::{Context, bail};
use beacon_client::{Client, ClientError, HttpError, Url};
use beacon_protocol::envelope::FieldError;
use clap::Args;

/// Where a node listens when started with default settings.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

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

/// The node's admin token (`beacon schema`, `beacon tenant`).
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

/// A node reached with one credential.
#[derive(Debug, Clone)]
pub struct Node {
    client: Client,
    credential: Credential,
}

impl Node {
    /// The node of `server`, with the admin token.
    pub fn admin(server: &Server) -> anyhow::Result<Node> {
        Node::connect(&server.url, server.admin_token.as_deref(), ADMIN_TOKEN)
    }

    /// The node of `server`, with a tenant's API key.
    pub fn tenant(server: &TenantServer) -> anyhow::Result<Node> {
        Node::connect(&server.url, server.api_key.as_deref(), API_KEY)
    }

    /// The node at `url`, sent `token`, a `credential`.
    pub fn connect(url: &str, token: Option<&str>, credential: Credential) -> anyhow::Result<Node> {
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
        let client = Client::builder(base.as_str())
            .token(token)
            .build()
            .with_context(|| format!("--url {url}"))?;
        Ok(Node { client, credential })
    }

    /// The client of this node, with this credential.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The outcome of a call: its answer, or the node's refusal as a
    /// [`Problem`]; a refused credential or an unreachable node is an
    /// error, since no later call would fare better.
    pub fn answer<T>(&self, outcome: Result<T, ClientError>) -> anyhow::Result<Result<T, Problem>> {
        match outcome {
            Ok(answer) => Ok(Ok(answer)),
            Err(ClientError::Http(refusal)) if refusal.status.as_u16() == 401 => {
                let Credential {
                    name, flag, env, ..
                } = self.credential;
                bail!(
                    "{} refused the {name} (401 Unauthorized): check {flag} or {env}",
                    self.client.base_url()
                )
            }
            Err(ClientError::Http(refusal)) => Ok(Err(Problem(*refusal))),
            Err(error) => Err(self.failed(error)),
        }
    }

    /// What a person is told about a call that failed without the node's
    /// refusal: an unreachable node, a silent one, a broken answer.
    pub fn failed(&self, error: ClientError) -> anyhow::Error {
        let base = self.client.base_url();
        match error {
            ClientError::Connect { source, .. } => anyhow::anyhow!(
                "cannot reach Beacon at {base} ({}): is a node running there? (--url, BEACON_URL)",
                innermost(&source)
            ),
            ClientError::Timeout { after, source, .. } => {
                let cause =
                    source.map_or_else(|| "opening the stream".to_owned(), |e| innermost(&e));
                anyhow::anyhow!("no answer from {base} within {after:?} ({cause})")
            }
            ClientError::Http(refusal) => Problem(*refusal).into(),
            other => other.into(),
        }
    }
}

/// The innermost cause of an error.
pub fn innermost(error: &dyn std::error::Error) -> String {
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        cause = e.to_string();
        source = e.source();
    }
    cause
}

/// The node's refusal of a call, as people read it: its message, status
/// and code, then each detail with its JSON pointer.
#[derive(Debug, Clone)]
pub struct Problem(pub HttpError);

impl Problem {
    pub fn message(&self) -> String {
        self.0.message().into_owned()
    }

    pub fn code(&self) -> &str {
        self.0.code()
    }

    pub fn details(&self) -> &[FieldError] {
        self.0.details()
    }

    /// The details, one per line, indented by `indent`.
    pub fn detail_lines(&self, indent: &str) -> String {
        self.details()
            .iter()
            .map(|d| format!("\n{indent}{}", detail(d)))
            .collect()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message())?;
        if !self.code().is_empty() {
            write!(f, " ({} {})", self.0.status.as_u16(), self.code())?;
        }
        write!(f, "{}", self.detail_lines("  "))
    }
}

impl std::error::Error for Problem {}

/// One reason of an answer: `pointer: message`, or the message about the
/// whole document.
pub fn detail(detail: &FieldError) -> String {
    if detail.path.is_empty() {
        format!("(whole schema): {}", detail.message)
    } else {
        format!("{}: {}", detail.path, detail.message)
    }
}

/// An error for a refused request: what was asked, then the node's answer
/// with its details (JSON pointers), one per line.
pub fn refused(what: &str, problem: &Problem) -> anyhow::Error {
    let mut message = format!("{what}: {}", problem.message());
    if !problem.code().is_empty() {
        message.push_str(&format!(
            " ({} {})",
            problem.0.status.as_u16(),
            problem.code()
        ));
    }
    for detail in problem.details() {
        if detail.path.is_empty() {
            message.push_str(&format!("\n  - {}", detail.message));
        } else {
            message.push_str(&format!("\n  - {}: {}", detail.path, detail.message));
        }
    }
    anyhow::anyhow!(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(url: &str) -> anyhow::Result<Node> {
        Node::admin(&Server {
            url: url.to_owned(),
            admin_token: Some("t".to_owned()),
        })
    }

    #[test]
    fn missing_api_keys_are_explained() {
        let none = Node::tenant(&TenantServer {
            url: DEFAULT_URL.to_owned(),
            api_key: Some(String::new()),
        })
        .expect_err("refused");
        assert!(
            none.to_string()
                .starts_with("no API key: pass --api-key or set BEACON_API_KEY ("),
            "{none}"
        );
    }

    #[test]
    fn https_and_missing_tokens_are_explained() {
        let https = admin("https://example.com").expect_err("refused");
        assert!(https.to_string().contains("plain HTTP"), "{https}");
        let none = Node::admin(&Server {
            url: DEFAULT_URL.to_owned(),
            admin_token: None,
        })
        .expect_err("refused");
        assert!(none.to_string().contains("BEACON_ADMIN_TOKEN"), "{none}");
    }

    #[test]
    fn error_answers_are_read() {
        let body = beacon_protocol::ErrorBody {
            error: "incompatible_schema".to_owned(),
            message: "not compatible".to_owned(),
            details: vec![FieldError::new("/properties/a", "now required")],
        };
        let p = Problem(HttpError {
            status: beacon_client::StatusCode::CONFLICT,
            body: Some(body),
            text: String::new(),
            retry_after: None,
        });
        assert_eq!(
            p.to_string(),
            "not compatible (409 incompatible_schema)\n  /properties/a: now required"
        );
        let p = Problem(HttpError {
            status: beacon_client::StatusCode::BAD_GATEWAY,
            body: None,
            text: "upstream down".to_owned(),
            retry_after: None,
        });
        assert_eq!(
            p.to_string(),
            "the node answered 502 Bad Gateway: upstream down"
        );
    }
}
