//! `beacon plugin new`: a new Rust plugin crate, ready to test and build,
//! written from the [`template`](super::template) of its hook. An existing
//! directory is never written into.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};

use super::{Hook, check_name, template};

/// `beacon plugin new`.
pub fn new_crate(
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::ExitCode;

    use clap::Parser;
    use serde_json::Value;

    use crate::plugin::execute;
    use crate::plugin::testing::Cli;

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
}
