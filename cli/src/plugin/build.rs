//! `beacon plugin build`: `cargo build --release --target wasm32-wasip2` in a
//! plugin crate (adding the target with rustup when it is missing), then
//! the path and size of each component built.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};
use serde_json::Value;

use super::WASM_TARGET;
use super::show::bytes;

/// `beacon plugin build`.
pub fn build(dir: &Path, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
}
