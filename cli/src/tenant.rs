//! `beacon tenant`: create and list tenants with the node's admin token
//! (`/v1/tenants`, see docs/api.md).
//!
//! Exit status: 0 when everything asked for succeeded; 1 when the node
//! refused (an existing id, a malformed one) or could not be reached, or
//! refused the admin token; 2 for a malformed command line.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use beacon_protocol::api::keys::{CreateKey, Scope as KeyScope};
use beacon_protocol::api::tenants::CreateTenant;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::connect::{Node, Server, refused};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  export BEACON_URL=http://127.0.0.1:8080 BEACON_ADMIN_TOKEN=...
  beacon tenant create acme
  beacon tenant create acme --allow-unregistered-types --json > acme.json
  beacon tenant create shop-backend --scopes publish
  beacon tenant list")]
pub struct TenantArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    command: TenantCommand,
}

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scope {
    /// Publish events and mint subscriber tokens.
    Publish,
    /// Manage the tenant's plugins.
    Plugins,
    /// Read dead letters, stats and presence.
    Read,
}

impl Scope {
    fn as_str(self) -> &'static str {
        self.wire().as_str()
    }

    fn wire(self) -> KeyScope {
        match self {
            Scope::Publish => KeyScope::Publish,
            Scope::Plugins => KeyScope::Plugins,
            Scope::Read => KeyScope::Read,
        }
    }
}

#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Create a tenant and print its API key and signing secret.
    ///
    /// The API key (`bk_...`) publishes events and mints subscriber tokens
    /// (`beacon publish`, `beacon token`, `beacon tail`); the signing
    /// secret lets the tenant's backend sign its own subscriber tokens
    /// (HS256). Both are shown only this once: the node keeps a hash of
    /// the key, and never shows the secret again.
    #[command(after_help = "Examples:
  beacon tenant create acme
  beacon tenant create acme --allow-unregistered-types
  beacon tenant create shop-backend --scopes publish,read
  beacon tenant create acme --json > acme.json && export BEACON_API_KEY=$(jq -r .api_key acme.json)")]
    Create {
        /// The tenant id: 1-63 characters of a-z 0-9 -, starting with a
        /// letter or digit.
        #[arg(value_name = "ID")]
        id: String,
        /// Accept events whose type has no registered contract (stored
        /// unchecked).
        #[arg(long)]
        allow_unregistered_types: bool,
        /// Give the printed key only these scopes, comma-separated
        /// (default: every scope). The node creates a tenant's first key
        /// with every scope; with this option it is replaced at once by
        /// one with these scopes.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "SCOPES")]
        scopes: Option<Vec<Scope>>,
        /// Print the credentials as one JSON object (`id`, `api_key`,
        /// `key_id`, `scopes`, `signing_secret`).
        #[arg(long)]
        json: bool,
    },

    /// List the tenants: id, creation time, whether unregistered types are
    /// accepted, whether the tenant is disabled.
    #[command(after_help = "Examples:
  beacon tenant list
  beacon tenant list --json | jq -r '.tenants[].id'")]
    List {
        /// Print the node's JSON answer instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `beacon tenant ...` and returns the exit status.
pub fn run(args: TenantArgs) -> ExitCode {
    crate::block_on(async move {
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        execute(args, &mut stdout, &mut stderr).await
    })
}

/// Runs one command: what it reports goes to `out`, warnings to `notes`.
pub async fn execute(
    args: TenantArgs,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let node = Node::admin(&args.server)?;
    match args.command {
        TenantCommand::Create {
            id,
            allow_unregistered_types,
            scopes,
            json,
        } => {
            create(
                &node,
                &id,
                allow_unregistered_types,
                scopes.as_deref(),
                json,
                out,
                notes,
            )
            .await
        }
        TenantCommand::List { json } => list(&node, json, out).await,
    }
}

/// What `create --json` prints, in this order.
#[derive(Serialize)]
struct Shown<'a> {
    id: &'a str,
    api_key: &'a str,
    key_id: &'a str,
    scopes: &'a [&'a str],
    signing_secret: &'a str,
}

async fn create(
    node: &Node,
    id: &str,
    allow_unregistered_types: bool,
    scopes: Option<&[Scope]>,
    json_out: bool,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let mut request = CreateTenant::new(id);
    request.allow_unregistered_types = allow_unregistered_types;
    let mut created = node
        .answer(node.client().create_tenant(&request).await)?
        .map_err(|p| refused(&format!("tenant {id} was not created"), &p))?;
    let mut granted: Vec<&str> = vec!["publish", "plugins", "read"];
    // Narrowing the key is a second request; if it fails, the first key
    // (every scope) is still printed: it is the only way to reach the
    // tenant, and it cannot be shown again.
    let mut narrowing_failed = None;
    if let Some(scopes) = scopes {
        let mut wanted: Vec<Scope> = scopes.to_vec();
        wanted.sort_unstable_by_key(|s| s.as_str());
        wanted.dedup();
        let key = CreateKey {
            scopes: Some(wanted.iter().map(|s| s.wire()).collect()),
            rotate: Some(created.key_id.clone()),
            overlap_s: Some(0),
        };
        let answer = node.client().create_key(&created.id, &key).await;
        match node.answer(answer) {
            Ok(Ok(key)) => {
                created.api_key = key.api_key;
                created.key_id = key.id;
                granted = wanted.iter().map(|s| s.as_str()).collect();
            }
            Ok(Err(problem)) => {
                narrowing_failed = Some(refused("the key could not be narrowed", &problem));
            }
            Err(error) => narrowing_failed = Some(error),
        }
    }
    if json_out {
        let shown = Shown {
            id: &created.id,
            api_key: &created.api_key,
            key_id: &created.key_id,
            scopes: &granted,
            signing_secret: &created.signing_secret,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
    } else {
        let rows = [
            ("tenant", created.id.as_str()),
            ("api_key", created.api_key.as_str()),
            ("key_id", created.key_id.as_str()),
            ("scopes", &granted.join(",")),
            ("signing_secret", created.signing_secret.as_str()),
        ];
        for (name, value) in rows {
            writeln!(out, "{name:<15} {value}")?;
        }
    }
    writeln!(
        notes,
        "note: the API key and the signing secret are shown only this once; store them now \
         (e.g. export BEACON_API_KEY=...)"
    )?;
    if let Some(error) = narrowing_failed {
        return Err(error.context(format!(
            "tenant {id} was created, but its key keeps every scope"
        )));
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(node: &Node, json_out: bool, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let list = node.answer(node.client().tenants().await)??;
    if json_out {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&list)?)?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.tenants.is_empty() {
        writeln!(
            out,
            "no tenants (create one with `beacon tenant create <id>`)"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![[
        "ID".to_owned(),
        "CREATED".to_owned(),
        "UNREGISTERED TYPES".to_owned(),
        "STATE".to_owned(),
    ]];
    for t in list.tenants {
        let created = UNIX_EPOCH + Duration::from_secs(t.created_at);
        rows.push([
            t.id,
            humantime::format_rfc3339_seconds(created).to_string(),
            if t.allow_unregistered_types {
                "accepted"
            } else {
                "refused"
            }
            .to_owned(),
            if t.disabled { "disabled" } else { "active" }.to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for [id, created, unregistered, state] in rows {
        writeln!(
            out,
            "{id:w0$}  {created:w1$}  {unregistered:w2$}  {state}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::testing::{fails, node, ok};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tenants_are_created_once_and_listed() {
        let node = node("15s").await;
        let url = node.url.as_str();
        let created = ok(&[
            "tenant",
            "create",
            "acme",
            "--url",
            url,
            "--admin-token",
            &node.admin,
        ])
        .await;
        let rows: Vec<(&str, &str)> = created
            .out
            .lines()
            .map(|l| l.split_once(' ').expect("name value"))
            .map(|(n, v)| (n, v.trim()))
            .collect();
        let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
        assert_eq!(
            names,
            ["tenant", "api_key", "key_id", "scopes", "signing_secret"]
        );
        assert_eq!(rows[0].1, "acme");
        assert!(rows[1].1.starts_with("bk_"), "{created:?}");
        assert!(rows[2].1.starts_with("k_"), "{created:?}");
        assert_eq!(rows[3].1, "publish,plugins,read");
        assert!(
            created.notes.contains("shown only this once"),
            "{created:?}"
        );

        // A key narrowed to `publish`: it publishes, but cannot manage plugins.
        let narrow = ok(&[
            "tenant",
            "create",
            "shop",
            "--scopes",
            "publish",
            "--json",
            "--url",
            url,
            "--admin-token",
            &node.admin,
        ])
        .await;
        let narrow: Value = serde_json::from_str(&narrow.out).expect("JSON");
        assert_eq!(narrow["scopes"], json!(["publish"]));
        let key = narrow["api_key"].as_str().expect("api_key");
        let token = ok(&["token", "7", "--url", url, "--api-key", key]).await;
        assert_eq!(token.out.lines().count(), 1);
        let plugins = reqwest::Client::new()
            .get(format!("{url}/v1/plugins"))
            .bearer_auth(key)
            .send()
            .await
            .expect("GET /v1/plugins");
        assert_eq!(plugins.status(), reqwest::StatusCode::FORBIDDEN);

        let (error, _) = fails(&[
            "tenant",
            "create",
            "acme",
            "--url",
            url,
            "--admin-token",
            &node.admin,
        ])
        .await;
        assert!(error.contains("tenant acme was not created"), "{error}");
        assert!(error.contains("409"), "{error}");
        let (error, _) = fails(&["tenant", "list", "--url", url, "--admin-token", "wrong"]).await;
        assert!(error.contains("refused the admin token"), "{error}");

        let list = ok(&["tenant", "list", "--url", url, "--admin-token", &node.admin]).await;
        let lines: Vec<&str> = list.out.lines().collect();
        assert_eq!(lines.len(), 3, "{list:?}");
        assert!(lines[0].starts_with("ID"), "{list:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("acme ") && l.ends_with("active")),
            "{list:?}"
        );
        let json = ok(&[
            "tenant",
            "list",
            "--json",
            "--url",
            url,
            "--admin-token",
            &node.admin,
        ])
        .await;
        let json: Value = serde_json::from_str(&json.out).expect("JSON");
        assert_eq!(json["tenants"].as_array().map(Vec::len), Some(2));
    }
}
