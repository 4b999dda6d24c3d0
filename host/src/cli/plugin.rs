//! `beacon plugin`: write, build, upload and try a tenant's WebAssembly
//! plugins (see docs/plugins.md). `new` and `build` work on a local crate;
//! the other commands talk to a node with the tenant's API key
//! (`/v1/plugins`, scope `plugins`).
//!
//! Exit status: 0 when everything asked for succeeded; 1 when a build
//! failed, the node refused a request or could not be reached, or a dry
//! run's plugin failed (trap, timeout, ...); 2 for a malformed command line.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use beacon::plugins::logs::MAX_LINES;
use beacon_protocol::api::plugins::MAX_NAME_LEN;

use super::http::{Body, Client, TenantServer};
use super::plugin_template as template;
use super::refused;

/// The Rust target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Largest file `push` reads: far above any node's component limit (24 MiB
/// by default), so the node's own answer explains a refusal.
const MAX_UPLOAD_BYTES: u64 = 256 << 20;

/// Largest event file `test` reads.
const MAX_EVENT_FILE_BYTES: u64 = 16 << 20;

/// The start of a WebAssembly component: magic, version 0x0d, layer 1.
const COMPONENT_PREAMBLE: [u8; 8] = [0, b'a', b's', b'm', 0x0d, 0, 0x01, 0];
/// The start of a core WebAssembly module (version 1).
const MODULE_PREAMBLE: [u8; 8] = [0, b'a', b's', b'm', 1, 0, 0, 0];

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  beacon plugin new order-tagger --hook publish
  cd order-tagger && cargo test && beacon plugin build
  export BEACON_URL=http://127.0.0.1:8080 BEACON_API_KEY=bk_...
  beacon plugin push order-tagger target/wasm32-wasip2/release/order_tagger.wasm --activate
  beacon plugin test order-tagger event.json
  beacon plugin logs order-tagger
  beacon plugin list

The node commands need a tenant API key with the `plugins` scope.
Writing plugins, limits and failure policies: docs/plugins.md.")]
pub struct PluginArgs {
    #[command(flatten)]
    server: TenantServer,
    #[command(subcommand)]
    command: PluginCommand,
}

/// A plugin hook: the three things a plugin can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Hook {
    /// Runs on each published event before it is stored: keep, modify,
    /// drop or reject it.
    Publish,
    /// Turns an event into another version of its contract, for
    /// subscribers of a version view that projection cannot serve.
    Convert,
    /// Decides which subscriber groups receive an event.
    Deliver,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Publish => "publish",
            Hook::Convert => "convert",
            Hook::Deliver => "deliver",
        }
    }
}

/// What happens to an event when the plugin fails on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OnError {
    /// The event goes on as if the plugin were not there.
    #[value(name = "fail_open", alias = "fail-open")]
    FailOpen,
    /// The event is stopped: a published one goes to the dead letters
    /// (`GET /v1/dead-letters`), a delivery is held back.
    #[value(name = "fail_closed", alias = "fail-closed")]
    FailClosed,
}

impl OnError {
    fn as_str(self) -> &'static str {
        match self {
            OnError::FailOpen => "fail_open",
            OnError::FailClosed => "fail_closed",
        }
    }
}

#[derive(Subcommand, Debug)]
enum PluginCommand {
    /// Write a new Rust plugin crate, ready to test and build.
    ///
    /// The crate builds on its own (it has its own `[workspace]` table):
    /// `Cargo.toml` (the guest SDK, serde_json), `wit/plugin.wit` (the
    /// plugin contract of this beacon), `src/lib.rs` (the hook's logic as
    /// plain functions with unit tests, and the SDK's export macro),
    /// `event.json` (an input for `beacon plugin test`), a README and
    /// `vendor/beacon-plugin-sdk/` (this beacon's guest SDK). An existing
    /// directory is never written into.
    #[command(after_help = "Examples:
  beacon plugin new order-tagger
  beacon plugin new v2-to-v1 --hook convert --dir plugins/v2-to-v1
  beacon plugin new region-gate --hook deliver
  cd region-gate && cargo test && beacon plugin build")]
    New {
        /// The plugin's name, also the crate's: 1-63 characters of
        /// a-z 0-9 -, starting with a letter.
        #[arg(value_name = "NAME")]
        name: String,
        /// The hook the plugin implements.
        #[arg(long, value_enum, default_value_t = Hook::Publish)]
        hook: Hook,
        /// The directory to create (default: ./<NAME>); it must not exist.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },

    /// Build a plugin crate into a WebAssembly component.
    ///
    /// Runs `cargo build --release --target wasm32-wasip2` in the crate
    /// (adding the target with `rustup target add` when it is missing) and
    /// prints the path and size of the component, ready for
    /// `beacon plugin push`.
    #[command(after_help = "Examples:
  beacon plugin build
  beacon plugin build --dir plugins/order-tagger")]
    Build {
        /// The crate's directory (where its Cargo.toml is).
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },

    /// Upload a component as the plugin's next version, and optionally
    /// activate it.
    ///
    /// Versions are immutable and named by their digest: pushing the same
    /// bytes again uploads nothing and names the existing version. With
    /// --activate the version runs at once (on every node within a quarter
    /// second); --types, --order and --on-error default to those of the
    /// current activation, so a new version runs where the old one did,
    /// and to the plugin's own `describe` types, order 0 and fail_open for
    /// a first activation. Activating also lifts a quarantine.
    #[command(after_help = "Examples:
  beacon plugin push order-tagger target/wasm32-wasip2/release/order_tagger.wasm
  beacon plugin push order-tagger order_tagger.wasm --activate
  beacon plugin push pii-redact pii_redact.wasm --activate --types 'order.*,payment.*' --order -10 --on-error fail_closed")]
    Push {
        /// The plugin's name: 1-63 characters of a-z 0-9 -.
        #[arg(value_name = "NAME")]
        name: String,
        /// The component (`.wasm`, built for wasm32-wasip2).
        #[arg(value_name = "FILE.wasm")]
        file: PathBuf,
        /// Activate the uploaded version.
        #[arg(long)]
        activate: bool,
        /// With --activate: the event type patterns it runs on,
        /// comma-separated (`order.*`, `payment.succeeded`, `*`).
        #[arg(
            long,
            value_delimiter = ',',
            value_name = "PATTERNS",
            requires = "activate"
        )]
        types: Option<Vec<String>>,
        /// With --activate: its place among the tenant's plugins; lower
        /// runs first (ties by name).
        #[arg(
            long,
            value_name = "N",
            allow_negative_numbers = true,
            requires = "activate"
        )]
        order: Option<i32>,
        /// With --activate: what happens to an event when the plugin fails
        /// on it (or is quarantined).
        #[arg(long, value_enum, value_name = "POLICY", requires = "activate")]
        on_error: Option<OnError>,
    },

    /// Activate an uploaded version: deploy, roll back, or lift a quarantine.
    ///
    /// Without --version, the newest version. --types, --order and
    /// --on-error default to those of the current activation (for a first
    /// activation: the plugin's own `describe` types, order 0, fail_open).
    #[command(after_help = "Examples:
  beacon plugin activate order-tagger
  beacon plugin activate order-tagger --version 3        # roll back to version 3
  beacon plugin activate order-tagger --on-error fail_closed")]
    Activate {
        /// The plugin's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// The version to run (default: the newest).
        #[arg(long, value_name = "N")]
        version: Option<u32>,
        /// The event type patterns it runs on, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
        types: Option<Vec<String>>,
        /// Its place among the tenant's plugins; lower runs first.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        order: Option<i32>,
        /// What happens to an event when the plugin fails on it.
        #[arg(long, value_enum, value_name = "POLICY")]
        on_error: Option<OnError>,
    },

    /// Dry-run a plugin version on an event; nothing is stored.
    ///
    /// The input is an event as `POST /v1/events` takes it
    /// (`{"type", "data", "subject", "version", ...}`); for the deliver
    /// hook, `{"event": {...}, "subscribers": [{"user_id", "claims",
    /// "types", "subjects"}, ...]}`. Prints the outcome (keep, modify,
    /// drop, reject; converted, refused; decided; or failed), the output,
    /// the plugin's log lines and the time the call took. Exits 1 when the
    /// plugin failed (trap, timeout, out of fuel or memory, output too
    /// large).
    #[command(after_help = "Examples:
  beacon plugin test display-amount event.json
  echo '{\"type\":\"order.created\",\"data\":{\"total\":85000,\"currency\":\"KES\"}}' | beacon plugin test display-amount -
  beacon plugin test converter v2-event.json --to-version 1
  beacon plugin test vip-only deliver.json --hook deliver --version 2")]
    Test {
        /// The plugin's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// A JSON file with the input, or `-` for standard input.
        #[arg(value_name = "EVENT.json|-")]
        input: String,
        /// The version to run (default: the active one, else the newest).
        #[arg(long, value_name = "N")]
        version: Option<u32>,
        /// The hook to call (default: the first the version exports, in
        /// the order publish, convert, deliver).
        #[arg(long, value_enum)]
        hook: Option<Hook>,
        /// For the convert hook: the contract version to convert to
        /// (implies --hook convert).
        #[arg(long, value_name = "N")]
        to_version: Option<u32>,
        /// Print the node's JSON answer instead.
        #[arg(long)]
        json: bool,
    },

    /// Show a plugin's recent log lines on the node that answers.
    ///
    /// Lines the plugin wrote (its `log` import, stdout, stderr) and
    /// Beacon's own notes about it (activations, failures, quarantine),
    /// oldest first. Each node keeps the last 500 lines of each plugin.
    #[command(after_help = "Examples:
  beacon plugin logs display-amount
  beacon plugin logs display-amount --limit 20")]
    Logs {
        /// The plugin's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// The most recent lines to show (1-500).
        #[arg(long, value_name = "N", default_value_t = 100,
              value_parser = clap::value_parser!(u64).range(1..=MAX_LINES as u64))]
        limit: u64,
        /// Print the node's JSON answer instead.
        #[arg(long)]
        json: bool,
    },

    /// List the tenant's plugins: active and newest version, hooks, types,
    /// order, failure policy, quarantine.
    #[command(after_help = "Example:
  beacon plugin list")]
    List {
        /// Print the node's JSON answer (with versions and counters) instead.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `beacon plugin ...` and returns the exit status.
pub fn run(args: PluginArgs) -> ExitCode {
    super::block_on(async move {
        let mut stdout = std::io::stdout();
        execute(args, &mut stdout).await
    })
}

/// Runs one command, writing what it reports to `out`.
async fn execute(args: PluginArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let client = || Client::tenant(&args.server);
    match args.command {
        PluginCommand::New { name, hook, dir } => new_crate(&name, hook, dir.as_deref(), out),
        PluginCommand::Build { dir } => build(&dir, out),
        PluginCommand::Push {
            name,
            file,
            activate,
            types,
            order,
            on_error,
        } => {
            check_name(&name)?;
            // The file is read first: a wrong path fails before anything is sent.
            let wasm = read_component(&file)?;
            let routing = activate.then_some(Routing {
                types,
                order,
                on_error,
            });
            push(&client()?, &name, wasm, routing, out).await
        }
        PluginCommand::Activate {
            name,
            version,
            types,
            order,
            on_error,
        } => {
            check_name(&name)?;
            let routing = Routing {
                types,
                order,
                on_error,
            };
            activate(&client()?, &name, version, routing, out).await?;
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Test {
            name,
            input,
            version,
            hook,
            to_version,
            json,
        } => {
            check_name(&name)?;
            let hook = match (hook, to_version) {
                (None, Some(_)) => Some(Hook::Convert),
                (Some(hook), Some(_)) if hook != Hook::Convert => {
                    bail!(
                        "--to-version is for the convert hook, not --hook {}",
                        hook.as_str()
                    )
                }
                (Some(Hook::Convert), None) => bail!(
                    "--hook convert needs --to-version N: the contract version to convert the event to"
                ),
                (hook, _) => hook,
            };
            let body = read_input(&input)?;
            let query = TestQuery {
                version,
                hook,
                to_version,
            };
            test(&client()?, &name, &body, &query, json, out).await
        }
        PluginCommand::Logs { name, limit, json } => {
            check_name(&name)?;
            logs(&client()?, &name, limit, json, out).await
        }
        PluginCommand::List { json } => list(&client()?, json, out).await,
    }
}

// --- new ---------------------------------------------------------------------

/// Refuses a name the node would refuse: 1-63 characters of `a-z 0-9 -`,
/// starting with a letter or digit.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        bail!(
            "{name:?}: a plugin name is 1-{MAX_NAME_LEN} characters of a-z 0-9 -, \
             starting with a letter or digit"
        );
    }
    Ok(())
}

/// `beacon plugin new`.
fn new_crate(
    name: &str,
    hook: Hook,
    dir: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    check_name(name)?;
    if name.as_bytes()[0].is_ascii_digit() {
        bail!(
            "{name:?}: a Rust crate's name cannot start with a digit; pick one that starts with a letter"
        );
    }
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if std::fs::symlink_metadata(&dir).is_ok() {
        bail!(
            "{} already exists; nothing was written (pick another --dir)",
            dir.display()
        );
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // `create_dir`, not `create_dir_all`: it fails if the directory appeared
    // in the meantime, so nothing is ever written into an existing one.
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = template::files(name, hook);
    let written = files.iter().try_for_each(|file| {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &file.text)
    });
    if let Err(error) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(anyhow!(error).context(format!("writing the crate into {}", dir.display())));
    }
    let lib = template::lib_name(name);
    let shown = dir.display();
    writeln!(
        out,
        "created {name} ({} hook, world `{}`) in {shown}:",
        hook.as_str(),
        template::world(hook)
    )?;
    for file in &files {
        writeln!(out, "  {}", file.path)?;
    }
    let try_it = match hook {
        Hook::Convert => format!("beacon plugin test {name} event.json --to-version 1"),
        _ => format!("beacon plugin test {name} event.json"),
    };
    writeln!(
        out,
        "next:\n  cd {shown}\n  cargo test\n  beacon plugin build\n  \
         beacon plugin push {name} target/wasm32-wasip2/release/{lib}.wasm --activate\n  {try_it}"
    )?;
    Ok(ExitCode::SUCCESS)
}

// --- build -------------------------------------------------------------------

/// `beacon plugin build`.
fn build(dir: &Path, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "{}: no Cargo.toml here; pass the plugin crate's directory with --dir \
             (`beacon plugin new <name>` writes one)",
            dir.display()
        );
    }
    ensure_target(dir, out)?;
    writeln!(
        out,
        "building {} (cargo build --release --target {WASM_TARGET})",
        dir.display()
    )?;
    out.flush()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running cargo (is Rust installed? see https://rustup.rs)")?;
    let mut components = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's output")?;
            if let Ok(message) = serde_json::from_str::<Value>(&line) {
                components.extend(component_paths(&message));
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status}); its messages are above");
    }
    if components.is_empty() {
        bail!(
            "cargo built no component: the crate's [lib] needs \
             crate-type = [\"cdylib\", \"rlib\"]"
        );
    }
    let here = std::env::current_dir().unwrap_or_default();
    for (path, lib) in &components {
        let size = std::fs::metadata(path)
            .with_context(|| format!("{}", path.display()))?
            .len();
        let shown = path.strip_prefix(&here).unwrap_or(path);
        writeln!(out, "{}: {}", shown.display(), bytes(size))?;
        writeln!(
            out,
            "next: beacon plugin push {} {} --activate",
            lib.replace('_', "-"),
            shown.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The `.wasm` files of a `cdylib` in one of cargo's JSON messages, each
/// with its library name.
fn component_paths(message: &Value) -> Vec<(PathBuf, String)> {
    let is_cdylib = message["target"]["kind"]
        .as_array()
        .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
    if message["reason"] != "compiler-artifact" || !is_cdylib {
        return Vec::new();
    }
    let lib = message["target"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    message["filenames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|f| f.ends_with(".wasm"))
        .map(|f| (PathBuf::from(f), lib.clone()))
        .collect()
}

/// Adds the wasm32-wasip2 target through rustup when it is missing. Without
/// rustup nothing is checked: cargo then says what is missing.
fn ensure_target(dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(listed) = listed.map_err(drop).and_then(|o| {
        if o.status.success() {
            Ok(o.stdout)
        } else {
            Err(())
        }
    }) else {
        return Ok(());
    };
    if String::from_utf8_lossy(&listed)
        .lines()
        .any(|t| t.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    writeln!(
        out,
        "adding the Rust target {WASM_TARGET} (rustup target add {WASM_TARGET})"
    )?;
    out.flush()?;
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .context("running rustup")?;
    if !status.success() {
        bail!("rustup target add {WASM_TARGET} failed ({status})");
    }
    Ok(())
}

// --- push and activate ---------------------------------------------------------

/// A component file: read whole, after checking that it is one.
fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    if size > MAX_UPLOAD_BYTES {
        bail!(
            "{}: {size} bytes, far more than a node accepts",
            path.display()
        );
    }
    let wasm = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    match wasm.get(..8) {
        Some(start) if start == COMPONENT_PREAMBLE => Ok(wasm),
        Some(start) if start == MODULE_PREAMBLE => bail!(
            "{}: a core WebAssembly module, not a component; build the plugin for \
             {WASM_TARGET} (`beacon plugin build`), not wasm32-unknown-unknown or wasm32-wasip1",
            path.display()
        ),
        _ => bail!(
            "{}: not a WebAssembly component (build one with `beacon plugin build`)",
            path.display()
        ),
    }
}

/// `POST /v1/plugins/{name}/versions`.
#[derive(Debug, Deserialize)]
struct Uploaded {
    version: u32,
    digest: String,
    #[serde(default)]
    hooks: Vec<String>,
    #[serde(default)]
    info: InfoView,
    size: u64,
}

#[derive(Debug, Default, Deserialize)]
struct InfoView {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    types: Vec<String>,
}

/// `GET /v1/plugins/{name}`, as far as the commands need it.
#[derive(Debug, Deserialize)]
struct PluginView {
    name: String,
    #[serde(default)]
    versions: Vec<VersionView>,
    activation: Option<ActivationView>,
    quarantine: Option<QuarantineView>,
}

#[derive(Debug, Deserialize)]
struct VersionView {
    version: u32,
    #[serde(default)]
    hooks: HooksView,
}

#[derive(Debug, Default, Deserialize)]
struct HooksView {
    #[serde(default)]
    publish: bool,
    #[serde(default)]
    convert: bool,
    #[serde(default)]
    deliver: bool,
}

impl HooksView {
    fn names(&self) -> Vec<&'static str> {
        [
            (self.publish, "publish"),
            (self.convert, "convert"),
            (self.deliver, "deliver"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
struct ActivationView {
    version: u32,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    order: i32,
    on_error: String,
    /// Carried over as is to the next activation.
    #[serde(default)]
    limits: Value,
}

#[derive(Debug, Deserialize)]
struct QuarantineView {
    since_ms: u64,
    reason: String,
}

/// How an activation runs; `None` keeps the current activation's setting.
#[derive(Debug, Default)]
struct Routing {
    types: Option<Vec<String>>,
    order: Option<i32>,
    on_error: Option<OnError>,
}

/// `beacon plugin push`.
async fn push(
    client: &Client,
    name: &str,
    wasm: Vec<u8>,
    activation: Option<Routing>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let answer = client
        .send(
            Method::POST,
            &["v1", "plugins", name, "versions"],
            &[],
            Some(Body::Wasm(wasm)),
        )
        .await?
        .map_err(|p| refused(&format!("{name}: the upload was refused"), &p))?;
    let uploaded: Uploaded = serde_json::from_value(answer.json)
        .context("unexpected answer to POST /v1/plugins/{name}/versions")?;
    if answer.status == StatusCode::CREATED {
        writeln!(out, "uploaded {name} version {}", uploaded.version)?;
    } else {
        writeln!(
            out,
            "{name}: these bytes are already version {} (nothing uploaded)",
            uploaded.version
        )?;
    }
    writeln!(out, "  digest   {}", uploaded.digest)?;
    writeln!(out, "  size     {}", bytes(uploaded.size))?;
    writeln!(out, "  hooks    {}", list_or(&uploaded.hooks, "none"))?;
    let info = &uploaded.info;
    writeln!(
        out,
        "  describe {} {} for {}",
        info.name,
        info.version,
        types_shown(&info.types)
    )?;
    if let Some(routing) = activation {
        activate(client, name, Some(uploaded.version), routing, out).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `PUT /v1/plugins/{name}` for `version` (default: the newest), keeping
/// what `routing` leaves open from the current activation.
async fn activate(
    client: &Client,
    name: &str,
    version: Option<u32>,
    routing: Routing,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let current = plugin(client, name).await?;
    let version = match version {
        Some(v) => v,
        None => current
            .versions
            .last()
            .map(|v| v.version)
            .with_context(|| format!("{name} has no version yet; push one first"))?,
    };
    let previous = current.activation.as_ref();
    let mut body = json!({ "version": version });
    let mut kept = Vec::new();
    match (routing.types, previous) {
        (Some(types), _) => body["types"] = json!(types),
        (None, Some(p)) => {
            body["types"] = json!(p.types);
            kept.push("types");
        }
        (None, None) => {}
    }
    match (routing.order, previous) {
        (Some(order), _) => body["order"] = json!(order),
        (None, Some(p)) => {
            body["order"] = json!(p.order);
            kept.push("order");
        }
        (None, None) => {}
    }
    match (routing.on_error, previous) {
        (Some(policy), _) => body["on_error"] = json!(policy.as_str()),
        (None, Some(p)) => {
            body["on_error"] = json!(p.on_error);
            kept.push("on_error");
        }
        (None, None) => {}
    }
    if let Some(p) = previous.filter(|p| p.limits.as_object().is_some_and(|l| !l.is_empty())) {
        body["limits"] = p.limits.clone();
        kept.push("limits");
    }
    let answer = client
        .call(Method::PUT, &["v1", "plugins", name], Some(&body))
        .await?
        .map_err(|p| {
            refused(
                &format!("{name}: activating version {version} was refused"),
                &p,
            )
        })?;
    let view: PluginView = serde_json::from_value(answer)
        .with_context(|| format!("unexpected answer to PUT /v1/plugins/{name}"))?;
    let active = view
        .activation
        .with_context(|| format!("the node answered without an activation of {name}"))?;
    writeln!(
        out,
        "activated {name} version {}: {}, order {}, {}",
        active.version,
        types_shown(&active.types),
        active.order,
        active.on_error
    )?;
    if let (Some(p), false) = (previous, kept.is_empty()) {
        writeln!(
            out,
            "  kept from the activation of version {}: {}",
            p.version,
            kept.join(", ")
        )?;
    }
    if current.quarantine.is_some() {
        writeln!(out, "  the quarantine is lifted")?;
    }
    Ok(())
}

/// `GET /v1/plugins/{name}`.
async fn plugin(client: &Client, name: &str) -> anyhow::Result<PluginView> {
    let answer = client
        .call(Method::GET, &["v1", "plugins", name], None)
        .await?
        .map_err(|p| refused(name, &p))?;
    serde_json::from_value(answer)
        .with_context(|| format!("unexpected answer to GET /v1/plugins/{name}"))
}

// --- test --------------------------------------------------------------------

/// What `test` asks for besides the input.
#[derive(Debug, Default)]
struct TestQuery {
    version: Option<u32>,
    hook: Option<Hook>,
    to_version: Option<u32>,
}

/// `POST /v1/plugins/{name}/test`.
#[derive(Debug, Deserialize)]
struct TestResult {
    version: u32,
    hook: String,
    outcome: String,
    output: Option<Value>,
    deliver: Option<Vec<bool>>,
    reason: Option<String>,
    failure: Option<String>,
    #[serde(default)]
    logs: Vec<LogEntry>,
    duration_us: u64,
}

/// A JSON input: a file, or standard input for `-`.
pub(super) fn read_input(input: &str) -> anyhow::Result<Value> {
    let (text, origin) = if input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_EVENT_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .context("reading standard input")?;
        (text, "standard input".to_owned())
    } else {
        let path = Path::new(input);
        let size = std::fs::metadata(path)
            .with_context(|| input.to_owned())?
            .len();
        if size > MAX_EVENT_FILE_BYTES {
            bail!("{input}: {size} bytes; an event file is at most {MAX_EVENT_FILE_BYTES} bytes");
        }
        let text = std::fs::read_to_string(path).with_context(|| input.to_owned())?;
        (text, input.to_owned())
    };
    if text.len() as u64 > MAX_EVENT_FILE_BYTES {
        bail!("{origin}: more than {MAX_EVENT_FILE_BYTES} bytes");
    }
    serde_json::from_str(&text).with_context(|| format!("{origin}: not valid JSON"))
}

/// `beacon plugin test`.
async fn test(
    client: &Client,
    name: &str,
    body: &Value,
    query: &TestQuery,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let mut params = Vec::new();
    if let Some(v) = query.version {
        params.push(("version", v.to_string()));
    }
    if let Some(hook) = query.hook {
        params.push(("hook", hook.as_str().to_owned()));
    }
    if let Some(v) = query.to_version {
        params.push(("to_version", v.to_string()));
    }
    let answer = client
        .send(
            Method::POST,
            &["v1", "plugins", name, "test"],
            &params,
            Some(Body::Json(body)),
        )
        .await?
        .map_err(|p| refused(&format!("{name}: the test was refused"), &p))?;
    let result: TestResult = serde_json::from_value(answer.json.clone())
        .with_context(|| format!("unexpected answer to POST /v1/plugins/{name}/test"))?;
    let failed = result.outcome == "failed";
    if json_out {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer.json)?)?;
    } else {
        print_test(name, body, &result, out)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_test(
    name: &str,
    body: &Value,
    result: &TestResult,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let outcome = match &result.failure {
        Some(code) => format!("failed ({code})"),
        None => result.outcome.clone(),
    };
    writeln!(
        out,
        "{name} version {}, {} hook: {outcome} in {}",
        result.version,
        result.hook,
        micros(result.duration_us)
    )?;
    if let Some(reason) = &result.reason {
        writeln!(out, "reason: {reason}")?;
    }
    if let Some(output) = &result.output {
        writeln!(out, "output:")?;
        for line in serde_json::to_string_pretty(output)?.lines() {
            writeln!(out, "  {line}")?;
        }
    }
    if let Some(answers) = &result.deliver {
        writeln!(out, "deliver:")?;
        let groups = body["subscribers"].as_array();
        let users: Vec<String> = (0..answers.len())
            .map(|i| {
                groups
                    .and_then(|g| g.get(i)?["user_id"].as_str())
                    .map_or_else(|| format!("#{}", i + 1), str::to_owned)
            })
            .collect();
        let width = users.iter().map(String::len).max().unwrap_or(0);
        for (user, deliver) in users.iter().zip(answers) {
            let answer = if *deliver { "deliver" } else { "hold back" };
            writeln!(out, "  {user:width$}  {answer}")?;
        }
    }
    if result.logs.is_empty() {
        writeln!(out, "logs: none")?;
    } else {
        writeln!(out, "logs:")?;
        for line in &result.logs {
            writeln!(out, "  {}", log_line(line))?;
        }
    }
    Ok(())
}

// --- logs and list -------------------------------------------------------------

/// One line of `GET /v1/plugins/{name}/logs`.
#[derive(Debug, Deserialize)]
struct LogEntry {
    time_ms: u64,
    level: String,
    source: String,
    message: String,
}

#[derive(Debug, Deserialize)]
struct Logs {
    lines: Vec<LogEntry>,
}

/// `2026-01-01T12:00:00.123Z  info   log     message`.
fn log_line(line: &LogEntry) -> String {
    let time = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(line.time_ms));
    format!(
        "{time}  {:5}  {:6}  {}",
        line.level, line.source, line.message
    )
}

/// `beacon plugin logs`.
async fn logs(
    client: &Client,
    name: &str,
    limit: u64,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let answer = client
        .send(
            Method::GET,
            &["v1", "plugins", name, "logs"],
            &[("limit", limit.to_string())],
            None,
        )
        .await?
        .map_err(|p| refused(name, &p))?;
    if json_out {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer.json)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let logs: Logs = serde_json::from_value(answer.json)
        .with_context(|| format!("unexpected answer to GET /v1/plugins/{name}/logs"))?;
    if logs.lines.is_empty() {
        writeln!(out, "{name}: no log lines on this node yet")?;
    }
    for line in &logs.lines {
        writeln!(out, "{}", log_line(line))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Deserialize)]
struct PluginList {
    plugins: Vec<PluginView>,
}

/// `beacon plugin list`.
async fn list(client: &Client, json_out: bool, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let answer = client
        .call(Method::GET, &["v1", "plugins"], None)
        .await?
        .map_err(|p| refused("listing the plugins", &p))?;
    if json_out {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let list: PluginList =
        serde_json::from_value(answer).context("unexpected answer to GET /v1/plugins")?;
    if list.plugins.is_empty() {
        writeln!(
            out,
            "no plugins yet (beacon plugin push <name> <file.wasm>)"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        [
            "NAME", "ACTIVE", "NEWEST", "HOOKS", "TYPES", "ORDER", "ON_ERROR", "STATUS",
        ]
        .map(str::to_owned),
    ];
    let dash = || "-".to_owned();
    for p in &list.plugins {
        let active = p.activation.as_ref();
        let shown = active
            .and_then(|a| p.versions.iter().find(|v| v.version == a.version))
            .or(p.versions.last());
        let status = match (active, &p.quarantine) {
            (_, Some(_)) => "quarantined",
            (Some(_), None) => "active",
            (None, None) => "inactive",
        };
        rows.push([
            p.name.clone(),
            active.map_or_else(dash, |a| a.version.to_string()),
            p.versions
                .last()
                .map_or_else(dash, |v| v.version.to_string()),
            shown.map_or_else(dash, |v| v.hooks.names().join(",")),
            active.map_or_else(dash, |a| {
                if a.types.is_empty() {
                    "*".to_owned()
                } else {
                    a.types.join(",")
                }
            }),
            active.map_or_else(dash, |a| a.order.to_string()),
            active.map_or_else(dash, |a| a.on_error.clone()),
            status.to_owned(),
        ]);
    }
    table(&rows, out)?;
    for p in &list.plugins {
        if let Some(q) = &p.quarantine {
            let since =
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(q.since_ms));
            writeln!(
                out,
                "{}: quarantined since {since}: {}; `beacon plugin activate {}` resumes it",
                p.name, q.reason, p.name
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

// --- output --------------------------------------------------------------------

/// Rows in columns of aligned width (the last one unpadded).
fn table<const N: usize>(rows: &[[String; N]], out: &mut dyn Write) -> anyhow::Result<()> {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:w$}  ", w = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `every type` for no patterns, else the patterns.
fn types_shown(types: &[String]) -> String {
    if types.is_empty() {
        "every type".to_owned()
    } else {
        format!("types {}", types.join(", "))
    }
}

fn list_or(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join(", ")
    }
}

/// `86210 bytes (84.2 KiB)`.
fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let x = n as f64;
    if x < KIB {
        format!("{n} bytes")
    } else if x < KIB * KIB {
        format!("{n} bytes ({:.1} KiB)", x / KIB)
    } else {
        format!("{n} bytes ({:.1} MiB)", x / (KIB * KIB))
    }
}

/// A duration in microseconds, for people: `312 µs`, `1.25 ms`.
fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} s", us as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use tokio_util::sync::CancellationToken;

    use super::*;

    /// The admin token of the test nodes.
    const ADMIN: &str = "admin-token-for-plugin-cli-tests";

    /// `beacon plugin`'s arguments, parsed as the binary parses them.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: PluginArgs,
    }

    /// A component built by `plugins/build.sh` (into `target/plugins/`).
    fn component(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/plugins")
            .join(format!("{name}.wasm"));
        assert!(
            path.is_file(),
            "{} is missing: these tests upload real components; build them first with \
             `bash plugins/build.sh --rust-only`",
            path.display()
        );
        path.to_str().expect("UTF-8 path").to_owned()
    }

    /// A node serving on a local port, with a tenant `acme` whose API key
    /// the commands use. Stopped when dropped.
    struct Node {
        url: String,
        key: String,
        shutdown: CancellationToken,
        dir: tempfile::TempDir,
    }

    impl Drop for Node {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    async fn node() -> Node {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut settings = beacon::config::Settings::defaults();
        settings.data_dir = dir.path().join("data");
        settings.admin_token = Some(ADMIN.to_owned());
        // Compiled components are shared with the host's own tests.
        settings.plugin_cache_dir =
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-test-cache"));
        let shutdown = CancellationToken::new();
        let state = beacon::server::start(settings, shutdown.clone())
            .await
            .expect("starting a node");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a local port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        tokio::spawn(beacon::server::serve(listener, state));
        let created: Value = reqwest::Client::new()
            .post(format!("{url}/v1/tenants"))
            .bearer_auth(ADMIN)
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
            shutdown,
            dir,
        }
    }

    impl Node {
        /// `beacon plugin <args>` against this node: the result and what
        /// it printed.
        async fn run(&self, args: &[&str]) -> (anyhow::Result<ExitCode>, String) {
            let argv = ["beacon-plugin", "--url", &self.url, "--api-key", &self.key]
                .into_iter()
                .chain(args.iter().copied());
            let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let mut out = Vec::new();
            let result = execute(cli.args, &mut out).await;
            (result, String::from_utf8(out).expect("UTF-8 output"))
        }

        /// What a command that succeeds printed.
        async fn ok(&self, args: &[&str]) -> String {
            match self.run(args).await {
                (Ok(code), out) if code == ExitCode::SUCCESS => out,
                (Ok(code), out) => panic!("{args:?} exited with {code:?}:\n{out}"),
                (Err(e), out) => panic!("{args:?} failed: {e:#}\n{out}"),
            }
        }

        /// The error of a command that fails.
        async fn error(&self, args: &[&str]) -> String {
            match self.run(args).await {
                (Err(e), _) => format!("{e:#}"),
                (Ok(code), out) => panic!("{args:?} did not fail ({code:?}):\n{out}"),
            }
        }

        /// A file in this node's temporary directory holding `json`.
        fn file(&self, name: &str, json: &Value) -> String {
            let path = self.dir.path().join(name);
            std::fs::write(&path, json.to_string()).expect("writing a test file");
            path.to_str().expect("UTF-8 path").to_owned()
        }
    }

    fn order_created() -> Value {
        json!({
            "type": "order.created",
            "subject": "order/IE-4486",
            "data": {"orderId": "IE-4486", "total": 85000, "currency": "KES"}
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn push_activates_and_a_new_push_keeps_the_routing() {
        let node = node().await;
        let wasm = component("display-amount");
        let first = node
            .ok(&[
                "push",
                "display-amount",
                &wasm,
                "--activate",
                "--types",
                "order.*,payment.*",
                "--order",
                "-3",
                "--on-error",
                "fail_closed",
            ])
            .await;
        for expected in [
            "uploaded display-amount version 1\n",
            "  digest   sha256:",
            "  hooks    publish\n",
            "  describe display-amount 0.1.0 for types payment.*, escrow.*",
            "activated display-amount version 1: types order.*, payment.*, order -3, fail_closed\n",
        ] {
            assert!(first.contains(expected), "{expected:?} in:\n{first}");
        }
        assert!(!first.contains("kept from"), "{first}");

        // The same bytes: no new version; the activation keeps its routing.
        let again = node
            .ok(&["push", "display-amount", &wasm, "--activate"])
            .await;
        for expected in [
            "display-amount: these bytes are already version 1 (nothing uploaded)\n",
            "activated display-amount version 1: types order.*, payment.*, order -3, fail_closed\n",
            "  kept from the activation of version 1: types, order, on_error\n",
        ] {
            assert!(again.contains(expected), "{expected:?} in:\n{again}");
        }

        let changed = node
            .ok(&["activate", "display-amount", "--on-error", "fail_open"])
            .await;
        assert!(
            changed.starts_with(
                "activated display-amount version 1: types order.*, payment.*, order -3, fail_open\n  \
                 kept from the activation of version 1: types, order\n"
            ),
            "{changed}"
        );

        let list = node.ok(&["list"]).await;
        let lines: Vec<Vec<&str>> = list
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines,
            [
                vec![
                    "NAME", "ACTIVE", "NEWEST", "HOOKS", "TYPES", "ORDER", "ON_ERROR", "STATUS"
                ],
                vec![
                    "display-amount",
                    "1",
                    "1",
                    "publish",
                    "order.*,payment.*",
                    "-3",
                    "fail_open",
                    "active"
                ],
            ],
            "{list}"
        );
        let json: Value =
            serde_json::from_str(&node.ok(&["list", "--json"]).await).expect("list --json");
        assert_eq!(json["plugins"][0]["activation"]["order"], -3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_prints_the_outcome_output_logs_and_time() {
        let node = node().await;
        node.ok(&["push", "display-amount", &component("display-amount")])
            .await;
        let event = node.file("order.json", &order_created());

        let modified = node.ok(&["test", "display-amount", &event]).await;
        assert!(
            modified.starts_with("display-amount version 1, publish hook: modify in "),
            "{modified}"
        );
        for expected in [
            "\noutput:\n  {\n",
            "    \"type\": \"order.created\",\n",
            "      \"displayAmount\": \"KSh 850.00\",\n",
            "\nlogs: none\n",
        ] {
            assert!(modified.contains(expected), "{expected:?} in:\n{modified}");
        }

        let plain = json!({"type": "note.added", "data": {"text": "no amount here"}});
        let kept = node
            .ok(&["test", "display-amount", &node.file("plain.json", &plain)])
            .await;
        assert!(kept.contains("publish hook: keep in "), "{kept}");
        assert!(!kept.contains("output:"), "{kept}");

        let json: Value = serde_json::from_str(
            &node
                .ok(&["test", "display-amount", &event, "--version", "1", "--json"])
                .await,
        )
        .expect("test --json prints JSON");
        assert_eq!(json["outcome"], "modify");
        assert_eq!(json["output"]["data"]["displayAmount"], "KSh 850.00");
        assert!(json["duration_us"].is_u64(), "{json}");

        // The node's refusals are shown with their code.
        let no_hook = node
            .error(&["test", "display-amount", &event, "--hook", "deliver"])
            .await;
        assert_eq!(
            no_hook,
            "display-amount: the test was refused: version 1 does not export the hook \
             \"deliver\" (400 invalid_hook)"
        );
        let bad_event = node
            .error(&[
                "test",
                "display-amount",
                &node.file("bad.json", &json!({"type": "", "data": {}})),
            ])
            .await;
        assert!(
            bad_event.contains("(400 invalid_event)\n  - /type: "),
            "{bad_event}"
        );

        // A plugin that fails: exit status 1, with the failure shown.
        node.ok(&["push", "misbehave", &component("misbehave")])
            .await;
        let trap = json!({"type": "test.misbehave", "data": {"do": "trap"}});
        let (result, out) = node
            .run(&["test", "misbehave", &node.file("trap.json", &trap)])
            .await;
        assert_eq!(
            result.expect("the call was made"),
            ExitCode::FAILURE,
            "{out}"
        );
        assert!(
            out.contains("publish hook: failed (trap) in ") && out.contains("\nreason: "),
            "{out}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logs_show_the_recent_lines() {
        let node = node().await;
        let wasm = component("display-amount");
        node.ok(&["push", "display-amount", &wasm, "--activate"])
            .await;
        node.ok(&["activate", "display-amount"]).await;
        let logs = node.ok(&["logs", "display-amount"]).await;
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(lines.len(), 2, "{logs}");
        for line in &lines {
            assert!(
                line.ends_with("Z  info   host    version 1 activated"),
                "{line:?}"
            );
        }
        let last = node
            .ok(&["logs", "display-amount", "--limit", "1", "--json"])
            .await;
        let last: Value = serde_json::from_str(&last).expect("logs --json prints JSON");
        assert_eq!(last["lines"].as_array().map(Vec::len), Some(1), "{last}");

        let unknown = node.error(&["logs", "nope"]).await;
        assert_eq!(unknown, "nope: no plugin \"nope\" (404 not_found)");
        let empty = node.ok(&["push", "other", &wasm]).await;
        assert!(empty.contains("uploaded other version 1"), "{empty}");
        assert_eq!(
            node.ok(&["logs", "other"]).await,
            "other: no log lines on this node yet\n"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_key_or_file_is_explained() {
        let node = node().await;
        let wasm = component("display-amount");
        let mut wrong = Node {
            url: node.url.clone(),
            key: "bk_not-a-key".to_owned(),
            shutdown: CancellationToken::new(),
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        let refused = wrong.error(&["push", "display-amount", &wasm]).await;
        assert!(
            refused.contains(
                "refused the API key (401 Unauthorized): check --api-key or BEACON_API_KEY"
            ),
            "{refused}"
        );
        wrong.key = String::new();
        let missing = wrong.error(&["list"]).await;
        assert!(
            missing.starts_with("no API key: pass --api-key"),
            "{missing}"
        );

        let not_wasm = node.file("event.json", &order_created());
        let error = node.error(&["push", "display-amount", &not_wasm]).await;
        assert!(error.contains("not a WebAssembly component"), "{error}");
        let module = node.dir.path().join("module.wasm");
        std::fs::write(&module, MODULE_PREAMBLE).expect("writing a module");
        let error = node
            .error(&["push", "display-amount", module.to_str().expect("UTF-8")])
            .await;
        assert!(
            error.contains("a core WebAssembly module, not a component"),
            "{error}"
        );
        let error = node.error(&["push", "Display", &wasm]).await;
        assert!(
            error.contains("a plugin name is 1-63 characters"),
            "{error}"
        );

        // Routing flags without --activate are a usage error.
        let usage = Cli::try_parse_from(["beacon-plugin", "push", "p", "p.wasm", "--order", "1"]);
        assert!(usage.is_err());
    }

    #[tokio::test]
    async fn new_writes_a_crate_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let crate_dir = dir.path().join("gates/region-gate");
        let crate_path = crate_dir.to_str().expect("UTF-8 path");
        let run = |args: Vec<&str>| {
            let cli = Cli::try_parse_from(["beacon-plugin"].into_iter().chain(args))
                .expect("valid arguments");
            async move {
                let mut out = Vec::new();
                let result = execute(cli.args, &mut out).await;
                (result, String::from_utf8(out).expect("UTF-8"))
            }
        };
        let (result, out) = run(vec![
            "new",
            "region-gate",
            "--hook",
            "deliver",
            "--dir",
            crate_path,
        ])
        .await;
        assert_eq!(result.expect("new"), ExitCode::SUCCESS);
        assert!(
            out.starts_with("created region-gate (deliver hook, world `gate`) in "),
            "{out}"
        );
        assert!(
            out.contains("beacon plugin push region-gate target/wasm32-wasip2/release/region_gate.wasm --activate"),
            "{out}"
        );
        let read = |path: &str| {
            std::fs::read_to_string(crate_dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let manifest = read("Cargo.toml");
        for expected in [
            "name = \"region-gate\"",
            "crate-type = [\"cdylib\", \"rlib\"]",
            "\n[workspace]\n",
            "beacon-plugin-sdk = { path = \"vendor/beacon-plugin-sdk\" }",
        ] {
            assert!(manifest.contains(expected), "{expected:?} in:\n{manifest}");
        }
        assert!(!manifest.contains("wit-bindgen"), "{manifest}");
        let sdk_manifest = read("vendor/beacon-plugin-sdk/Cargo.toml");
        for expected in ["name = \"beacon-plugin-sdk\"", "wit-bindgen = "] {
            assert!(
                sdk_manifest.contains(expected),
                "{expected:?} in:\n{sdk_manifest}"
            );
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let repo_file = |path: &str| {
            std::fs::read_to_string(repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        assert_eq!(read("wit/plugin.wit"), repo_file("wit/plugin.wit"));
        for source in [
            "build.rs",
            "src/lib.rs",
            "src/event.rs",
            "src/export.rs",
            "src/logging.rs",
        ] {
            assert_eq!(
                read(&format!("vendor/beacon-plugin-sdk/{source}")),
                repo_file(&format!("plugins/sdk/{source}")),
                "{source}"
            );
        }
        let lib = read("src/lib.rs");
        for expected in [
            "pub fn deliver(",
            "impl Plugin for RegionGatePlugin",
            "beacon_plugin_sdk::export_plugin!(RegionGatePlugin: deliver);",
            "#[cfg(test)]",
        ] {
            assert!(lib.contains(expected), "{expected:?} in:\n{lib}");
        }
        assert!(!lib.contains("{{"), "a placeholder is left:\n{lib}");
        let event: Value = serde_json::from_str(&read("event.json")).expect("event.json");
        assert!(event["subscribers"].is_array(), "{event}");
        assert!(read("README.md").contains("beacon plugin test region-gate event.json"));

        // A second run changes nothing.
        std::fs::write(crate_dir.join("src/lib.rs"), "// mine").expect("write");
        let (result, _) = run(vec!["new", "region-gate", "--dir", crate_path]).await;
        let error = format!("{:#}", result.expect_err("refused"));
        assert!(
            error.contains("already exists; nothing was written"),
            "{error}"
        );
        assert_eq!(read("src/lib.rs"), "// mine");

        for (name, why) in [
            ("1st", "cannot start with a digit"),
            ("Big", "a plugin name is"),
            ("a_b", "a plugin name is"),
        ] {
            let (result, _) = run(vec!["new", name, "--dir", crate_path]).await;
            let error = format!("{:#}", result.expect_err("refused"));
            assert!(error.contains(why), "{name}: {error}");
        }
    }

    #[test]
    fn every_hook_has_a_complete_template() {
        for hook in [Hook::Publish, Hook::Convert, Hook::Deliver] {
            let files = template::files("my-plugin", hook);
            let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
            assert_eq!(
                paths,
                [
                    "Cargo.toml",
                    ".gitignore",
                    "wit/plugin.wit",
                    "src/lib.rs",
                    "event.json",
                    "README.md",
                    "vendor/beacon-plugin-sdk/Cargo.toml",
                    "vendor/beacon-plugin-sdk/build.rs",
                    "vendor/beacon-plugin-sdk/src/lib.rs",
                    "vendor/beacon-plugin-sdk/src/event.rs",
                    "vendor/beacon-plugin-sdk/src/export.rs",
                    "vendor/beacon-plugin-sdk/src/logging.rs",
                ]
            );
            for file in &files {
                assert!(!file.text.contains("{{"), "{hook:?} {}", file.path);
            }
            let lib = &files[3].text;
            assert!(
                lib.contains(&format!("world `{}`", template::world(hook))),
                "{hook:?}"
            );
            assert!(
                lib.contains(&format!(
                    "beacon_plugin_sdk::export_plugin!(MyPluginPlugin: {});",
                    hook.as_str()
                )),
                "{hook:?}"
            );
            serde_json::from_str::<Value>(&files[4].text).expect("event.json is JSON");
            assert_eq!(template::type_name("region-gate"), "RegionGatePlugin");
            assert!(
                files[5]
                    .text
                    .contains("target/wasm32-wasip2/release/my_plugin.wasm")
            );
        }
    }

    #[test]
    fn components_are_found_in_cargos_messages() {
        let artifact = json!({
            "reason": "compiler-artifact",
            "target": {"kind": ["cdylib", "rlib"], "name": "region_gate"},
            "filenames": [
                "/t/wasm32-wasip2/release/libregion_gate.rlib",
                "/t/wasm32-wasip2/release/region_gate.wasm"
            ]
        });
        assert_eq!(
            component_paths(&artifact),
            [(
                PathBuf::from("/t/wasm32-wasip2/release/region_gate.wasm"),
                "region_gate".to_owned()
            )]
        );
        let dependency = json!({
            "reason": "compiler-artifact",
            "target": {"kind": ["lib"], "name": "serde_json"},
            "filenames": ["/t/libserde_json.rlib"]
        });
        assert!(component_paths(&dependency).is_empty());
        assert!(component_paths(&json!({"reason": "build-finished", "success": true})).is_empty());
    }

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(86_210), "86210 bytes (84.2 KiB)");
        assert_eq!(bytes(12 << 20), "12582912 bytes (12.0 MiB)");
        assert_eq!(micros(312), "312 µs");
        assert_eq!(micros(1_250), "1.25 ms");
        assert_eq!(micros(2_000_000), "2.00 s");
    }
}
