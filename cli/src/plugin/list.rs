//! `beacon plugin list`: the tenant's plugins, active and newest version,
//! hooks, types, order, failure policy, quarantine.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use super::show::table;
use crate::connect::{Node, refused};

/// `beacon plugin list`.
pub async fn list(node: &Node, json_out: bool, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let list = node
        .answer(node.client().plugins().await)?
        .map_err(|p| refused("listing the plugins", &p))?;
    if json_out {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&list)?)?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
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
            active.map_or_else(dash, |a| a.on_error.as_str().to_owned()),
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
