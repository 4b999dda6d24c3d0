//! The built-in catalogue: ready-made contracts for common event types,
//! in `schemas/catalog/<type>.json`, with one valid and one invalid example
//! each in `schemas/catalog/examples/<type>.{valid,invalid}.json`.
//!
//! [`builtin`] reads the contracts (embedded in the binary; `beacon schema
//! push` sends a folder of them to a running node); [`install`] registers
//! them (registration is idempotent, so installing twice changes nothing);
//! [`examples`] reads the examples, which the tests check pass or fail as
//! labelled.
//!
//! Bounds: at most [`MAX_TYPES`] contracts and examples per kind are read,
//! each file at most [`MAX_FILE_BYTES`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{MAX_SCHEMA_BYTES, MAX_TYPES, Registry, SchemaError};
use crate::backend::BackendError;

/// Largest catalogue file read (pretty-printed JSON is larger than compact).
pub const MAX_FILE_BYTES: u64 = 4 * MAX_SCHEMA_BYTES as u64;

/// One contract of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: String,
    pub schema: Value,
}

/// One example event's `data`, labelled valid or invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub kind: String,
    pub valid: bool,
    pub data: Value,
    pub path: PathBuf,
}

/// The catalogue shipped inside the binary (`schemas/catalog/*.json`), so
/// a node installs it without the source tree at hand.
static BUILTIN: include_dir::Dir<'_> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../schemas/catalog");

/// The built-in catalogue, ordered by type.
pub fn builtin() -> Result<Vec<Entry>, SchemaError> {
    let mut out = Vec::new();
    for file in BUILTIN.files() {
        let path = file.path();
        let (Some(kind), Some("json")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let schema = serde_json::from_slice(file.contents())
            .map_err(|e| BackendError::from(e).context(format_args!("built-in contract {kind}")))?;
        out.push(Entry {
            kind: kind.to_owned(),
            schema,
        });
    }
    out.sort_by(|a, b| a.kind.cmp(&b.kind));
    Ok(out)
}

/// Reads every `<type>.valid.json` / `<type>.invalid.json` in `dir`.
pub fn examples(dir: &Path) -> Result<Vec<Example>, SchemaError> {
    let mut out = Vec::new();
    for path in json_files(dir)? {
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let (kind, valid) = if let Some(kind) = stem.strip_suffix(".valid") {
            (kind, true)
        } else if let Some(kind) = stem.strip_suffix(".invalid") {
            (kind, false)
        } else {
            return Err(BackendError::internal(format!(
                "{}: an example is named <type>.valid.json or <type>.invalid.json",
                path.display()
            ))
            .into());
        };
        out.push(Example {
            kind: kind.to_owned(),
            valid,
            data: read_json(&path)?,
            path,
        });
    }
    out.sort_by(|a, b| (&a.kind, a.valid).cmp(&(&b.kind, b.valid)));
    Ok(out)
}

/// Registers every entry (as the next version of its type, or as nothing
/// if it equals the newest). Returns each type's version or error.
pub async fn install(
    registry: &Registry,
    entries: &[Entry],
) -> Vec<(String, Result<u32, SchemaError>)> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        out.push((
            e.kind.clone(),
            registry.register(&e.kind, e.schema.clone()).await,
        ));
    }
    out
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, SchemaError> {
    let io = |e: std::io::Error| {
        SchemaError::from(BackendError::from(e).context(format_args!("reading {}", dir.display())))
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && path.extension().is_some_and(|x| x == "json") {
            if out.len() >= 2 * MAX_TYPES {
                return Err(SchemaError::Limit(format!(
                    "{} holds more than {} files",
                    dir.display(),
                    2 * MAX_TYPES
                )));
            }
            out.push(path);
        }
    }
    Ok(out)
}

fn read_json(path: &Path) -> Result<Value, SchemaError> {
    let err = |e: BackendError| SchemaError::from(e.context(path.display()));
    let size = std::fs::metadata(path).map_err(|e| err(e.into()))?.len();
    if size > MAX_FILE_BYTES {
        return Err(err(BackendError::internal(format!(
            "{size} bytes; at most {MAX_FILE_BYTES}"
        ))));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.into()))?;
    serde_json::from_str(&text).map_err(|e| err(e.into()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::*;
    use crate::schema::{Invalid, embedded};

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/catalog")
    }

    #[tokio::test]
    async fn every_example_passes_or_fails_as_labelled() {
        let entries = builtin().unwrap();
        assert!(entries.len() >= 20, "{}", entries.len());
        let registry = Registry::new(Arc::new(embedded::in_memory().unwrap()));
        for (kind, result) in install(&registry, &entries).await {
            assert_eq!(result.unwrap(), 1, "{kind}");
        }
        // Installing again is a no-op.
        for (kind, result) in install(&registry, &entries).await {
            assert_eq!(result.unwrap(), 1, "{kind}");
        }
        let examples = examples(&dir().join("examples")).unwrap();
        for e in &examples {
            let outcome = registry.validate(&e.kind, None, &e.data);
            match (e.valid, outcome) {
                (true, Ok(1)) => {}
                (false, Err(Invalid::Violations(v))) => {
                    assert!(v.iter().all(|f| f.path.starts_with("/data")), "{v:?}");
                }
                (valid, other) => panic!(
                    "{}: labelled valid={valid}, got {other:?}",
                    e.path.display()
                ),
            }
        }
        // Every type has exactly one valid and one invalid example.
        let kinds: BTreeSet<_> = entries.iter().map(|e| e.kind.as_str()).collect();
        for label in [true, false] {
            let with: BTreeSet<_> = examples
                .iter()
                .filter(|e| e.valid == label)
                .map(|e| e.kind.as_str())
                .collect();
            assert_eq!(with, kinds, "examples labelled valid={label}");
        }
    }

    #[test]
    fn covers_the_seed_event_types() {
        let kinds: BTreeSet<_> = builtin().unwrap().into_iter().map(|e| e.kind).collect();
        for kind in [
            "order.created",
            "order.status.changed",
            "payment.authorized",
            "payment.succeeded",
            "payment.failed",
            "payment.released",
            "escrow.held",
            "escrow.released",
            "delivery.dispatched",
            "delivery.confirmed",
            "dispute.opened",
            "dispute.resolved",
            "wallet.payout",
            "kyc.verified",
            "deliverable.uploaded",
            "deliverable.accepted",
            "deliverable.rejected",
            "contract.fully_signed",
            "stream.created",
            "stream.topped_up",
            "stream.withdrawn",
            "stream.cancelled",
            "stream.completed",
            "inventory.low_stock",
            "metrics.snapshot",
            "metrics.alert",
        ] {
            assert!(kinds.contains(kind), "{kind} missing");
        }
    }

    #[test]
    fn rejects_misnamed_examples() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.b.json"), "{}").unwrap();
        assert!(examples(tmp.path()).is_err());
    }
}
