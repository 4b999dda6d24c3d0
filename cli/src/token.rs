//! `beacon token`: mint a subscriber token with a tenant's API key
//! (`POST /v1/tokens`, scope `publish`).
//!
//! Only the token is printed on stdout, so `TOKEN=$(beacon token 42)`
//! works. Exit status: 0 when a token was minted; 1 when the node refused
//! (a bad claim, a key without the `publish` scope) or could not be
//! reached; 2 for a malformed command line.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::bail;
use beacon_protocol::api::tokens::{MintToken, Minted};
use clap::Args;
use serde_json::{Map, Value};

use crate::connect::{Node, PUBLISH_KEY, PublisherServer, refused};

/// Longest lifetime the node grants (30 days).
const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  export BEACON_URL=http://127.0.0.1:8080 BEACON_API_KEY=bk_...
  TOKEN=$(beacon token 42)
  beacon token 42 --ttl 15m --types 'order.*,payment.succeeded'
  beacon token 42 --subjects 'order/IE-4486' --claim vip=true --claim tier=gold
  curl -N \"$BEACON_URL/v1/stream?access_token=$(beacon token 42)\"

The token is an HS256 JWT signed with the tenant's signing secret; a
subscriber sends it as `Authorization: Bearer`, `?access_token=` or the
`beacon_token` cookie on GET /v1/stream (or `beacon tail --token`).")]
pub struct TokenArgs {
    #[command(flatten)]
    server: PublisherServer,

    /// The subscriber's user id (the `sub` claim): events with an
    /// `audience` reach only the users it lists.
    #[arg(value_name = "SUB")]
    sub: String,

    /// How long the token is valid: `90s`, `15m`, `1h`, `7d` (at most 30 days).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
    ttl: Duration,

    /// Event types the token may ever receive, comma-separated: exact
    /// types, `prefix.*` wildcards or `*` (default: every type). A
    /// stream's own filters can narrow this, never widen it.
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    types: Option<Vec<String>>,

    /// Subjects the token may ever receive, comma-separated: exact
    /// subjects or a trailing `*` (default: every subject).
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    subjects: Option<Vec<String>>,

    /// A claim for the tenant's deliver plugins, `key=value`; repeat for
    /// more. The value is JSON when it parses as JSON (`vip=true`,
    /// `level=3`, `tags=["a","b"]`), else a string (`tier=gold`).
    #[arg(long = "claim", value_name = "KEY=VALUE", value_parser = parse_claim)]
    claims: Vec<(String, Value)>,

    /// Print the node's JSON answer (`{"token", "expires_at"}`) instead of
    /// the bare token.
    #[arg(long)]
    json: bool,
}

/// `POST /v1/tokens` with `request` (`sub`, `ttl_s`, ...).
pub async fn mint(node: &Node, request: &MintToken) -> anyhow::Result<Minted> {
    node.answer(node.client().mint_token(request).await)?
        .map_err(|problem| refused("the node refused to mint a token", &problem))
}

/// The request of a token for a subscriber `sub` that lives `ttl`.
pub fn request(sub: &str, ttl: Duration) -> MintToken {
    let mut request = MintToken::new(sub);
    request.ttl_s = Some(ttl.as_secs());
    request
}

/// Runs `beacon token ...` and returns the exit status.
pub fn run(args: TokenArgs) -> ExitCode {
    crate::block_on(async move {
        let mut stdout = std::io::stdout();
        let terminal = stdout.is_terminal();
        execute(args, &mut stdout, terminal).await
    })
}

/// Mints the token and writes it to `out`; with `terminal`, when it
/// expires goes to stderr too.
pub async fn execute(
    args: TokenArgs,
    out: &mut dyn Write,
    terminal: bool,
) -> anyhow::Result<ExitCode> {
    let mut request = request(&args.sub, args.ttl);
    request.types = args.types;
    request.subjects = args.subjects;
    if !args.claims.is_empty() {
        let mut claims = Map::new();
        for (key, value) in args.claims {
            if claims.insert(key.clone(), value).is_some() {
                bail!("--claim {key}=...: given twice");
            }
        }
        request.claims = Some(claims);
    }
    let node = Node::connect(
        &args.server.url,
        args.server.api_key.as_deref(),
        PUBLISH_KEY,
    )?;
    let minted = mint(&node, &request).await?;
    if args.json {
        writeln!(out, "{}", serde_json::to_value(&minted)?)?;
    } else {
        writeln!(out, "{}", minted.token)?;
        if terminal {
            let at = UNIX_EPOCH + Duration::from_secs(minted.expires_at);
            eprintln!(
                "a token for {}, valid until {}",
                args.sub,
                humantime::format_rfc3339_seconds(at)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A lifetime of at least a second and at most 30 days, in whole seconds.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl =
        humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 90s, 15m, 1h, 7d)"))?;
    if ttl < Duration::from_secs(1) {
        return Err("at least 1s".to_owned());
    }
    if ttl > MAX_TTL {
        return Err("at most 30 days".to_owned());
    }
    Ok(Duration::from_secs(ttl.as_secs()))
}

/// `key=value`: the value as JSON when it parses, else as a string.
fn parse_claim(text: &str) -> Result<(String, Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| "expected KEY=VALUE, e.g. vip=true or tier=gold".to_owned())?;
    let key = key.trim();
    if key.is_empty() {
        return Err("the claim's name is empty".to_owned());
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{acme, claims, fails, node, ok};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_carry_the_claims_asked_for() {
        let node = node("15s").await;
        let key = acme(&node).await;
        let url = node.url.as_str();
        let minted = ok(&[
            "token",
            "42",
            "--ttl",
            "10m",
            "--types",
            "order.*,payment.succeeded",
            "--subjects",
            "order/*",
            "--claim",
            "vip=true",
            "--claim",
            "tier=gold",
            "--url",
            url,
            "--api-key",
            &key,
        ])
        .await;
        // Only the token, so that TOKEN=$(beacon token 42) works.
        let token = minted.out.strip_suffix('\n').expect("one line");
        assert!(!token.contains(char::is_whitespace), "{minted:?}");
        let claims = claims(token);
        assert_eq!(claims["sub"], "42");
        assert_eq!(claims["tenant"], "acme");
        assert_eq!(claims["types"], json!(["order.*", "payment.succeeded"]));
        assert_eq!(claims["subjects"], json!(["order/*"]));
        assert_eq!(claims["vip"], true);
        assert_eq!(claims["tier"], "gold");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let exp = claims["exp"].as_u64().expect("exp");
        assert!(
            (now + 590..=now + 610).contains(&exp),
            "exp {exp}, now {now}"
        );

        let json = ok(&["token", "42", "--json", "--url", url, "--api-key", &key]).await;
        let json: Value = serde_json::from_str(&json.out).expect("JSON");
        assert!(
            json["token"].is_string() && json["expires_at"].is_u64(),
            "{json}"
        );

        let (error, _) = fails(&[
            "token",
            "42",
            "--claim",
            "sub=x",
            "--url",
            url,
            "--api-key",
            &key,
        ])
        .await;
        assert!(error.contains("reserved claim `sub`"), "{error}");
        let (error, _) = fails(&["token", "42", "--url", url, "--api-key", "bk_wrong"]).await;
        assert!(error.contains("refused the API key"), "{error}");
        let (error, _) = fails(&["token", "42", "--url", url, "--api-key", ""]).await;
        assert!(error.contains("no API key"), "{error}");
    }

    #[test]
    fn claims_are_json_or_strings() {
        assert_eq!(parse_claim("vip=true"), Ok(("vip".to_owned(), json!(true))));
        assert_eq!(parse_claim("level=3"), Ok(("level".to_owned(), json!(3))));
        assert_eq!(
            parse_claim("tags=[\"a\",\"b\"]"),
            Ok(("tags".to_owned(), json!(["a", "b"])))
        );
        assert_eq!(
            parse_claim("tier=gold"),
            Ok(("tier".to_owned(), json!("gold")))
        );
        assert_eq!(
            parse_claim("code=\"42\""),
            Ok(("code".to_owned(), json!("42")))
        );
        assert_eq!(parse_claim("url=a=b"), Ok(("url".to_owned(), json!("a=b"))));
        assert_eq!(parse_claim("empty="), Ok(("empty".to_owned(), json!(""))));
        assert!(parse_claim("vip").is_err());
        assert!(parse_claim("=1").is_err());
    }

    #[test]
    fn lifetimes_are_whole_seconds_within_the_limits() {
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("1500ms"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_ttl("30days"), Ok(MAX_TTL));
        assert!(parse_ttl("31d").is_err());
        assert!(parse_ttl("500ms").is_err());
        assert!(parse_ttl("soon").is_err());
    }
}
