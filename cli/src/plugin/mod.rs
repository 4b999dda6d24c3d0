//! `beacon plugin`: write, build, upload and try a tenant's WebAssembly
//! plugins (see docs/plugins.md). `new` and `build` work on a local crate;
//! the other commands talk to a node with the tenant's API key
//! (`/v1/plugins`, scope `plugins`).
//!
//! Exit status: 0 when everything asked for succeeded; 1 when a build
//! failed, the node refused a request or could not be reached, or a dry
//! run's plugin failed (trap, timeout, ...); 2 for a malformed command line.
//!
//! # Layout
//! - [`new`]: `beacon plugin new` writes a crate from [`template`].
//! - [`build`]: `beacon plugin build` runs cargo for wasm32-wasip2.
//! - [`push`]: `beacon plugin push` and `activate`.
//! - [`dry_run`]: `beacon plugin test`.
//! - [`logs`]: `beacon plugin logs`; [`list`]: `beacon plugin list`.
//! - [`show`]: tables, sizes and durations, for people.

pub mod build;
pub mod dry_run;
pub mod list;
pub mod logs;
pub mod new;
pub mod push;
pub mod show;
pub mod template;
#[cfg(test)]
mod testing;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use beacon_protocol::api::plugins::{MAX_LOG_LINES, MAX_NAME_LEN, TestQuery, valid_name};
use clap::{Args, Subcommand, ValueEnum};

use crate::connect::{Node, TenantServer};
use push::Routing;

/// The Rust target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

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
pub enum OnError {
    /// The event goes on as if the plugin were not there.
    #[value(name = "fail_open", alias = "fail-open")]
    FailOpen,
    /// The event is stopped: a published one goes to the dead letters
    /// (`GET /v1/dead-letters`), a delivery is held back.
    #[value(name = "fail_closed", alias = "fail-closed")]
    FailClosed,
}

impl OnError {
    fn wire(self) -> beacon_protocol::api::plugins::OnError {
        match self {
            OnError::FailOpen => beacon_protocol::api::plugins::OnError::FailOpen,
            OnError::FailClosed => beacon_protocol::api::plugins::OnError::FailClosed,
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
              value_parser = clap::value_parser!(u64).range(1..=MAX_LOG_LINES as u64))]
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
    crate::block_on(async move {
        let mut stdout = std::io::stdout();
        execute(args, &mut stdout).await
    })
}

/// Runs one command, writing what it reports to `out`.
pub async fn execute(args: PluginArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let node = || Node::tenant(&args.server);
    match args.command {
        PluginCommand::New { name, hook, dir } => new::new_crate(&name, hook, dir.as_deref(), out),
        PluginCommand::Build { dir } => build::build(&dir, out),
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
            let wasm = push::read_component(&file)?;
            let routing = activate.then_some(Routing {
                types,
                order,
                on_error,
            });
            push::push(&node()?, &name, wasm, routing, out).await
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
            push::activate(&node()?, &name, version, routing, out).await?;
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
            let body = crate::input::read(&input)?;
            let query = TestQuery {
                version,
                hook: hook.map(|h| h.as_str().to_owned()),
                to_version,
            };
            dry_run::test(&node()?, &name, &body, &query, json, out).await
        }
        PluginCommand::Logs { name, limit, json } => {
            check_name(&name)?;
            logs::logs(&node()?, &name, limit, json, out).await
        }
        PluginCommand::List { json } => list::list(&node()?, json, out).await,
    }
}

/// Refuses a name the node would refuse: 1-63 characters of `a-z 0-9 -`,
/// starting with a letter or digit.
fn check_name(name: &str) -> anyhow::Result<()> {
    if !valid_name(name) {
        bail!(
            "{name:?}: a plugin name is 1-{MAX_NAME_LEN} characters of a-z 0-9 -, \
             starting with a letter or digit"
        );
    }
    Ok(())
}
