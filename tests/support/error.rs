//! What can go wrong when starting or checking a process under test.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// A process under test did not start, or is no longer running.
///
/// The variants that concern a started process carry the tail of its log,
/// so the error alone explains what happened.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program is not installed where it was looked for.
    #[error("{program} not found (looked at {looked_at}); {hint}")]
    NotFound {
        program: &'static str,
        looked_at: String,
        hint: &'static str,
    },
    /// Spawning, signalling or waiting failed at the operating-system level.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The process exited before it was ready (or while it should be running).
    #[error("{program} exited ({status}){}", tail_section(.log))]
    Exited {
        program: String,
        status: ExitStatus,
        log: String,
    },
    /// The process did not become ready in time.
    #[error("{program} was not ready within {limit:?}{}", tail_section(.log))]
    NotReady {
        program: String,
        limit: Duration,
        log: String,
    },
    /// The process printed something this crate does not understand.
    #[error("{program}: {message}{}", tail_section(.log))]
    Unexpected {
        program: String,
        message: String,
        log: String,
    },
    /// A helper program (`cargo build`, `redis-cli`) failed.
    #[error("{command} failed: {detail}")]
    Helper { command: String, detail: String },
    /// A configured path does not exist.
    #[error("{} is not a file ({why})", path.display())]
    BadPath { path: PathBuf, why: &'static str },
}

impl LaunchError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LaunchError::Io {
            what: what.into(),
            source,
        }
    }
}

fn tail_section(log: &str) -> String {
    if log.trim().is_empty() {
        String::new()
    } else {
        format!("; last lines of its output:\n{log}")
    }
}
