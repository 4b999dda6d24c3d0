//! Subcommands that talk to a running node over HTTP.
//!
//! # Layout
//! - [`http`]: the connection flags (`--url` with `--admin-token` or
//!   `--api-key`), the HTTP client and Beacon's JSON error answers.
//! - [`tenant`]: `beacon tenant create|list` (admin token).
//! - [`token`]: `beacon token` mints a subscriber token (API key).
//! - [`publish`]: `beacon publish` (API key).
//! - [`tail`]: `beacon tail` follows a tenant's stream; [`sse`] parses it.
//! - [`schema`]: `beacon schema push|list|get|check`.
//! - [`plugin`]: `beacon plugin new|build|push|activate|test|logs|list`;
//!   `plugin_template`: the crate `beacon plugin new` writes.

mod http;
pub mod plugin;
mod plugin_template;
pub mod publish;
pub mod schema;
mod sse;
pub mod tail;
pub mod tenant;
pub mod token;

#[cfg(test)]
mod tests;

use std::process::ExitCode;

use http::Problem;

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

/// An error for a refused request: what was asked, then the node's answer
/// with its details (JSON pointers), one per line.
fn refused(what: &str, problem: &Problem) -> anyhow::Error {
    let mut message = format!("{what}: {}", problem.message);
    if !problem.code.is_empty() {
        message.push_str(&format!(" ({} {})", problem.status.as_u16(), problem.code));
    }
    for detail in &problem.details {
        if detail.path.is_empty() {
            message.push_str(&format!("\n  - {}", detail.message));
        } else {
            message.push_str(&format!("\n  - {}: {}", detail.path, detail.message));
        }
    }
    anyhow::anyhow!(message)
}

/// `1 event`, `2 events`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
