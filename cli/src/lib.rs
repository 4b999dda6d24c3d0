//! The commands of the `beacon` binary that talk to a running node (or,
//! for `beacon plugin new|build`, work on a local plugin crate). Every
//! call goes through [`beacon_client`]; nothing here speaks HTTP or SSE
//! itself. The binary parses [`Command`] beside `serve` and hands it to
//! [`run`].
//!
//! Errors are `anyhow` throughout: they only ever reach a person, as
//! `error: ...` on stderr with exit status 1.
//!
//! # Layout
//! - [`connect`]: the connection flags (`--url` with `--admin-token` or
//!   `--api-key`), the client they make, and the messages about refusals,
//!   refused credentials and unreachable nodes.
//! - [`input`]: JSON from a file or standard input, bounded.
//! - [`tenant`]: `beacon tenant create|list` (admin token).
//! - [`token`]: `beacon token` mints a subscriber token (API key).
//! - [`publish`]: `beacon publish` (API key).
//! - [`tail`]: `beacon tail` follows a tenant's stream and prints it.
//! - [`schema`]: `beacon schema push|list|get|check` (admin token).
//! - [`plugin`]: `beacon plugin new|build|push|activate|test|logs|list`;
//!   `beacon plugin new` writes the crate of `templates/rust/`.

pub mod connect;
pub mod input;
pub mod plugin;
pub mod publish;
pub mod schema;
pub mod tail;
pub mod tenant;
pub mod token;

#[cfg(test)]
mod testing;

use std::process::ExitCode;

use clap::Subcommand;

/// The commands that talk to a node, as the binary parses them.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and list tenants (admin token): their API key and signing
    /// secret are printed once, at creation.
    Tenant(tenant::TenantArgs),
    /// Mint a subscriber token for a user (API key); prints only the token.
    Token(token::TokenArgs),
    /// Publish an event from the command line, or the event(s) of a JSON
    /// file (API key); prints the ids.
    Publish(publish::PublishArgs),
    /// Follow a tenant's live stream and print each event; replay with
    /// --from, filter with --types and --subjects.
    Tail(tail::TailArgs),
    /// Manage event contracts on a running node: push, list, get, check.
    Schema(schema::SchemaArgs),
    /// Write, build, upload, activate and test tenant WebAssembly plugins:
    /// new, build, push, activate, test, logs, list.
    Plugin(plugin::PluginArgs),
}

/// Runs `command` and returns the exit status.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Tenant(args) => tenant::run(args),
        Command::Token(args) => token::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Plugin(args) => plugin::run(args),
    }
}

/// Runs one command on a single-threaded runtime; an error is printed as
/// `error: ...` on stderr and exits with status 1.
fn block_on(work: impl Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(work));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `1 event`, `2 events`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
