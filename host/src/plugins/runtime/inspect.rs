//! Upload validation before anything is compiled: the size, the binary
//! kind (a component, not a core module), the imports against the
//! allow-list, and the exports the contract requires. Every problem found
//! becomes one human-readable reason; the caller answers 400 (413 when too
//! large) with all of them.

use wasmparser::{Encoding, Parser, Payload};

use super::UploadError;
use super::wit::{CONVERT_EXPORT, DELIVER_EXPORT, PLUGIN_EXPORT, PUBLISH_EXPORT};

/// Largest number of reasons reported for one upload; the rest are
/// summarised in one last reason.
pub const MAX_REASONS: usize = 20;

/// Longest interface name quoted in a reason.
const MAX_QUOTED_NAME_BYTES: usize = 200;

/// The WASI 0.2 interfaces a plugin may import: what Rust's standard
/// library for `wasm32-wasip2` (and other languages' runtimes) pull in.
/// The host links them locked down: no preopened directories, no
/// environment, arguments or stdin, and stdout/stderr captured.
pub const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// The WASI versions linked: any 0.2.x (the host's wasmtime-wasi serves
/// every 0.2 release).
const WASI_VERSION_PREFIX: &str = "0.2.";

/// The contract's own importable interfaces.
pub const ALLOWED_BEACON: &[&str] = &["beacon:plugin/log", "beacon:plugin/types"];

/// The contract version linked: any 0.1.x.
const BEACON_VERSION_PREFIX: &str = "0.1.";

/// What the scan found in an acceptable component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scan {
    /// Top-level import names, e.g. `wasi:cli/stdout@0.2.6`.
    pub imports: Vec<String>,
    /// Top-level export names, e.g. `beacon:plugin/plugin@0.1.0`.
    pub exports: Vec<String>,
}

/// Checks an upload without compiling it. `allowed` decides which import
/// names are acceptable (normally [`is_allowed_import`]).
pub(super) fn check(
    wasm: &[u8],
    max_bytes: usize,
    allowed: impl Fn(&str) -> bool,
) -> Result<Scan, UploadError> {
    if wasm.len() > max_bytes {
        return Err(UploadError {
            reasons: vec![format!(
                "the component is {} bytes, more than the limit of {max_bytes} bytes",
                wasm.len()
            )],
            too_large: true,
        });
    }
    let scan = scan(wasm).map_err(|reason| UploadError {
        reasons: vec![reason],
        too_large: false,
    })?;
    let mut reasons = Vec::new();
    for name in &scan.imports {
        if !allowed(name) {
            reasons.push(forbidden_import(name));
        }
    }
    let exports = |name: &str| scan.exports.iter().any(|e| e == name);
    if !exports(PLUGIN_EXPORT) {
        reasons.push(format!(
            "the component does not export `{PLUGIN_EXPORT}`: every plugin implements \
             `describe` (build it from one of the worlds `publisher`, `converter` or `gate` \
             of wit/plugin.wit)"
        ));
    }
    if ![PUBLISH_EXPORT, CONVERT_EXPORT, DELIVER_EXPORT]
        .iter()
        .any(|hook| exports(hook))
    {
        reasons.push(format!(
            "the component exports no hook: a plugin exports at least one of \
             `{PUBLISH_EXPORT}`, `{CONVERT_EXPORT}` and `{DELIVER_EXPORT}`"
        ));
    }
    for name in &scan.exports {
        if name.starts_with("beacon:plugin/") && !name.ends_with("@0.1.0") {
            reasons.push(format!(
                "the component exports `{}`, but this host implements version 0.1.0 of \
                 the contract",
                quoted(name)
            ));
        }
    }
    if reasons.is_empty() {
        Ok(scan)
    } else {
        Err(UploadError {
            reasons: capped(reasons),
            too_large: false,
        })
    }
}

/// Whether a plugin may import the interface `name` (`ns:pkg/iface@version`).
pub(super) fn is_allowed_import(name: &str) -> bool {
    let Some((interface, version)) = name.split_once('@') else {
        return false;
    };
    (ALLOWED_WASI.contains(&interface) && version.starts_with(WASI_VERSION_PREFIX))
        || (ALLOWED_BEACON.contains(&interface) && version.starts_with(BEACON_VERSION_PREFIX))
}

/// The reason for a forbidden import, with a hint for the usual ones.
fn forbidden_import(name: &str) -> String {
    let hint = if name.starts_with("wasi:sockets/") || name.starts_with("wasi:http/") {
        "plugins have no network access"
    } else if name.starts_with("wasi:") {
        "plugins get only the WASI 0.2 subset Rust's std needs (cli, io, clocks, random, \
         filesystem types without any directory)"
    } else {
        "plugins may import only `beacon:plugin/log`, `beacon:plugin/types` and a WASI 0.2 subset"
    };
    format!("the component imports `{}`: {hint}", quoted(name))
}

/// `name`, cut to [`MAX_QUOTED_NAME_BYTES`] (names come from the upload).
fn quoted(name: &str) -> String {
    super::types::truncate(name.to_owned(), MAX_QUOTED_NAME_BYTES)
}

/// At most [`MAX_REASONS`] reasons, the last one counting the rest.
fn capped(mut reasons: Vec<String>) -> Vec<String> {
    if reasons.len() > MAX_REASONS {
        let more = reasons.len() - (MAX_REASONS - 1);
        reasons.truncate(MAX_REASONS - 1);
        reasons.push(format!("… and {more} more problems"));
    }
    reasons
}

/// Reads the top-level imports and exports, or says why the bytes are not
/// a component.
fn scan(wasm: &[u8]) -> Result<Scan, String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(
            "the upload is not a WebAssembly binary (it does not start with `\\0asm`)".to_owned(),
        );
    }
    let mut found = Scan {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    // Nested modules and components are parsed inline, each between its
    // own `Version` and `End`; only depth 1 is the upload itself.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("the component is malformed: {e}"))?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding == Encoding::Module {
                    return Err("the upload is a core WebAssembly module, not a component: \
                         build it for `wasm32-wasip2` (`cargo build --target wasm32-wasip2`), \
                         or turn a `wasm32-unknown-unknown` module into a component with \
                         `wasm-tools component new`"
                        .to_owned());
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| format!("the component is malformed: {e}"))?;
                    found.imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|e| format!("the component is malformed: {e}"))?;
                    found.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use wasm_encoder::{
        Component, ComponentExportKind, ComponentExportSection, ComponentImportSection,
        ComponentTypeRef, ComponentTypeSection, InstanceType,
    };

    /// A component that imports an empty instance under each of `imports`
    /// and exports nothing.
    pub(crate) fn component_importing(imports: &[&str]) -> Vec<u8> {
        let mut component = Component::new();
        let mut types = ComponentTypeSection::new();
        types.instance(&InstanceType::new());
        component.section(&types);
        let mut section = ComponentImportSection::new();
        for name in imports {
            section.import(*name, ComponentTypeRef::Instance(0));
        }
        component.section(&section);
        component.finish()
    }

    /// A component exporting the contract's interfaces from an instance
    /// that does not exist: it passes the scan and fails to compile.
    pub(crate) fn component_with_dangling_exports() -> Vec<u8> {
        let mut component = Component::new();
        let mut exports = ComponentExportSection::new();
        for name in [PLUGIN_EXPORT, PUBLISH_EXPORT] {
            exports.export(name, ComponentExportKind::Instance, 99, None);
        }
        component.section(&exports);
        component.finish()
    }

    #[test]
    fn dangling_exports_pass_the_scan() {
        let scan = check(
            &component_with_dangling_exports(),
            1 << 20,
            is_allowed_import,
        )
        .unwrap();
        assert_eq!(scan.exports, [PLUGIN_EXPORT, PUBLISH_EXPORT]);
        assert!(scan.imports.is_empty());
    }

    #[test]
    fn allow_list() {
        for ok in [
            "wasi:cli/stdout@0.2.0",
            "wasi:io/streams@0.2.6",
            "wasi:filesystem/preopens@0.2.3",
            "beacon:plugin/log@0.1.0",
            "beacon:plugin/types@0.1.0",
        ] {
            assert!(is_allowed_import(ok), "{ok}");
        }
        for refused in [
            "wasi:sockets/tcp@0.2.0",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:cli/stdout@0.3.0",
            "wasi:cli/stdout",
            "beacon:plugin/log@0.2.0",
            "my:own/thing@1.0.0",
            "run",
        ] {
            assert!(!is_allowed_import(refused), "{refused}");
        }
    }

    #[test]
    fn too_large_is_flagged() {
        let error = check(&[0; 100], 10, is_allowed_import).unwrap_err();
        assert!(error.too_large);
        assert_eq!(error.reasons.len(), 1);
        assert!(error.reasons[0].contains("100 bytes"), "{error:?}");
    }

    #[test]
    fn garbage_and_core_modules_are_refused() {
        let garbage = check(b"hello, world", 1000, is_allowed_import).unwrap_err();
        assert!(!garbage.too_large);
        assert!(
            garbage.reasons[0].contains("not a WebAssembly binary"),
            "{garbage:?}"
        );
        let core = check(b"\0asm\x01\0\0\0", 1000, is_allowed_import).unwrap_err();
        assert_eq!(core.reasons.len(), 1);
        assert!(
            core.reasons[0].contains("core WebAssembly module"),
            "{core:?}"
        );
        assert!(core.reasons[0].contains("wasm32-wasip2"), "{core:?}");
        let truncated = check(b"\0asm\x0d\0\x01\0\x07\x05", 1000, is_allowed_import).unwrap_err();
        assert!(truncated.reasons[0].contains("malformed"), "{truncated:?}");
    }

    #[test]
    fn every_problem_is_a_reason() {
        let wasm = component_importing(&[
            "wasi:sockets/tcp@0.2.0",
            "wasi:cli/stdout@0.2.0",
            "wasi:http/outgoing-handler@0.2.0",
            "evil:thing/x@1.0.0",
        ]);
        let error = check(&wasm, 1 << 20, is_allowed_import).unwrap_err();
        let all = error.reasons.join("\n");
        assert_eq!(error.reasons.len(), 5, "{all}");
        assert!(all.contains("`wasi:sockets/tcp@0.2.0`: plugins have no network access"));
        assert!(all.contains("`wasi:http/outgoing-handler@0.2.0`"));
        assert!(all.contains("`evil:thing/x@1.0.0`"));
        assert!(!all.contains("wasi:cli/stdout"));
        assert!(all.contains("does not export `beacon:plugin/plugin@0.1.0`"));
        assert!(all.contains("exports no hook"));
    }

    #[test]
    fn reasons_are_capped() {
        let names: Vec<String> = (0..50).map(|i| format!("evil:n/i{i}@1.0.0")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let error = check(&component_importing(&refs), 1 << 20, is_allowed_import).unwrap_err();
        assert_eq!(error.reasons.len(), MAX_REASONS);
        assert_eq!(error.reasons.last().unwrap(), "… and 33 more problems");
    }
}
