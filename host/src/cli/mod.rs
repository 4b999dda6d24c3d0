//! Subcommands that talk to a running node over HTTP.
//!
//! # Layout
//! - [`http`]: the connection flags (`--url`, `--admin-token`), the admin
//!   HTTP client and Beacon's JSON error answers.
//! - [`schema`]: `beacon schema push|list|get|check`.

mod http;
pub mod schema;

use std::process::ExitCode;

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
