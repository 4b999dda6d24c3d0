//! `beacon plugin logs`: a plugin's recent log lines on the node that
//! answers.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use beacon_protocol::api::plugins::LogEntry;

use crate::connect::{Node, refused};

/// `2026-01-01T12:00:00.123Z  info   log     message`.
pub fn log_line(line: &LogEntry) -> String {
    let time = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(line.time_ms));
    format!(
        "{time}  {:5}  {:6}  {}",
        line.level, line.source, line.message
    )
}

/// `beacon plugin logs`.
pub async fn logs(
    node: &Node,
    name: &str,
    limit: u64,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let limit = usize::try_from(limit).ok();
    let logs = node
        .answer(node.client().plugin_logs(name, limit).await)?
        .map_err(|p| refused(name, &p))?;
    if json_out {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&logs)?)?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if logs.lines.is_empty() {
        writeln!(out, "{name}: no log lines on this node yet")?;
    }
    for line in &logs.lines {
        writeln!(out, "{}", log_line(line))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::plugin::testing::{component, node};

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
}
