//! The contracts `beacon schema push` sends: every `<type>.json` of a
//! folder, or files named `<type>.json`; and the candidate of `check`.
//!
//! Bounds: a folder holds at most twice the node's type limit of JSON
//! files, each at most [`MAX_FILE_BYTES`].

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use beacon_protocol::api::schemas::{MAX_SCHEMA_BYTES, MAX_TYPES};
use beacon_protocol::envelope::valid_type;
use serde_json::Value;

/// Largest contract file read (pretty-printed JSON is larger than the
/// compact JSON the node's limit counts).
pub const MAX_FILE_BYTES: u64 = 4 * MAX_SCHEMA_BYTES as u64;

/// One contract to register.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub kind: String,
    pub schema: Value,
}

/// The contracts to push, in the order given; within a folder, by type.
pub fn read_contracts(paths: &[PathBuf]) -> anyhow::Result<Vec<Contract>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = folder(path).with_context(|| format!("{}", path.display()))?;
            if entries.is_empty() {
                bail!("{}: no <type>.json files in this folder", path.display());
            }
            out.extend(entries);
        } else {
            let kind = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|k| !k.is_empty())
                .with_context(|| {
                    format!(
                        "{}: a contract file is named <type>.json, e.g. order.created.json",
                        path.display()
                    )
                })?;
            out.push(Contract {
                kind: kind.to_owned(),
                schema: read_json(path)?,
            });
        }
    }
    Ok(out)
}

/// Every `<type>.json` directly in `dir`, ordered by type.
fn folder(dir: &Path) -> anyhow::Result<Vec<Contract>> {
    let reading = || format!("reading {}", dir.display());
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(reading)? {
        let path = entry.with_context(reading)?.path();
        if path.is_file() && path.extension().is_some_and(|x| x == "json") {
            if paths.len() >= 2 * MAX_TYPES {
                bail!("{} holds more than {} files", dir.display(), 2 * MAX_TYPES);
            }
            paths.push(path);
        }
    }
    let mut out = Vec::new();
    for path in paths {
        let Some(kind) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if !valid_type(kind) {
            bail!("invalid event type {kind:?}");
        }
        out.push(Contract {
            kind: kind.to_owned(),
            schema: read_json(&path)?,
        });
    }
    out.sort_by(|a, b| a.kind.cmp(&b.kind));
    Ok(out)
}

/// A JSON file of at most [`MAX_FILE_BYTES`].
pub fn read_json(path: &Path) -> anyhow::Result<Value> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        bail!(
            "{}: {size} bytes; a contract is at most {MAX_FILE_BYTES} bytes",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_read_by_type_and_misnamed_files_are_refused() {
        let catalogue = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/catalog");
        let contracts = read_contracts(&[catalogue]).expect("the catalogue");
        assert!(contracts.len() >= 20, "{}", contracts.len());
        assert!(contracts.windows(2).all(|w| w[0].kind < w[1].kind));
        assert!(contracts.iter().any(|c| c.kind == "order.created"));

        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = vec![tmp.path().to_owned()];
        let empty = read_contracts(&dir).expect_err("an empty folder");
        assert!(
            empty.to_string().contains("no <type>.json files"),
            "{empty}"
        );
        std::fs::write(tmp.path().join("a.b.json"), "{}").expect("write");
        assert_eq!(read_contracts(&dir).expect("one contract")[0].kind, "a.b");
        std::fs::write(tmp.path().join("bad name.json"), "{}").expect("write");
        let misnamed = format!("{:#}", read_contracts(&dir).expect_err("a misnamed file"));
        assert!(
            misnamed.contains("invalid event type \"bad name\""),
            "{misnamed}"
        );
        let unnamed = read_contracts(&[tmp.path().join(".json")]).expect_err("no type");
        assert!(
            unnamed.to_string().contains("named <type>.json"),
            "{unnamed}"
        );
    }
}
