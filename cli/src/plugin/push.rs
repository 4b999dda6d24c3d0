//! `beacon plugin push` (upload a component, optionally activate it) and
//! `beacon plugin activate` (deploy, roll back, lift a quarantine).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use beacon_protocol::api::plugins::{Activate, PluginView};

use super::show::{bytes, list_or, types_shown};
use super::{OnError, WASM_TARGET};
use crate::connect::{Node, refused};

/// Largest file `push` reads: far above any node's component limit (24 MiB
/// by default), so the node's own answer explains a refusal.
const MAX_UPLOAD_BYTES: u64 = 256 << 20;

/// The start of a WebAssembly component: magic, version 0x0d, layer 1.
const COMPONENT_PREAMBLE: [u8; 8] = [0, b'a', b's', b'm', 0x0d, 0, 0x01, 0];
/// The start of a core WebAssembly module (version 1).
const MODULE_PREAMBLE: [u8; 8] = [0, b'a', b's', b'm', 1, 0, 0, 0];

/// A component file: read whole, after checking that it is one.
pub fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    if size > MAX_UPLOAD_BYTES {
        bail!(
            "{}: {size} bytes, far more than a node accepts",
            path.display()
        );
    }
    let wasm = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    match wasm.get(..8) {
        Some(start) if start == COMPONENT_PREAMBLE => Ok(wasm),
        Some(start) if start == MODULE_PREAMBLE => bail!(
            "{}: a core WebAssembly module, not a component; build the plugin for \
             {WASM_TARGET} (`beacon plugin build`), not wasm32-unknown-unknown or wasm32-wasip1",
            path.display()
        ),
        _ => bail!(
            "{}: not a WebAssembly component (build one with `beacon plugin build`)",
            path.display()
        ),
    }
}

/// How an activation runs; `None` keeps the current activation's setting.
#[derive(Debug, Default)]
pub struct Routing {
    pub types: Option<Vec<String>>,
    pub order: Option<i32>,
    pub on_error: Option<OnError>,
}

/// `beacon plugin push`.
pub async fn push(
    node: &Node,
    name: &str,
    wasm: Vec<u8>,
    activation: Option<Routing>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let upload = node
        .answer(node.client().upload_plugin(name, wasm).await)?
        .map_err(|p| refused(&format!("{name}: the upload was refused"), &p))?;
    let uploaded = &upload.uploaded;
    if upload.created {
        writeln!(out, "uploaded {name} version {}", uploaded.version)?;
    } else {
        writeln!(
            out,
            "{name}: these bytes are already version {} (nothing uploaded)",
            uploaded.version
        )?;
    }
    writeln!(out, "  digest   {}", uploaded.digest)?;
    writeln!(out, "  size     {}", bytes(uploaded.size))?;
    writeln!(out, "  hooks    {}", list_or(&uploaded.hooks, "none"))?;
    let info = &uploaded.info;
    writeln!(
        out,
        "  describe {} {} for {}",
        info.name,
        info.version,
        types_shown(&info.types)
    )?;
    if let Some(routing) = activation {
        activate(node, name, Some(uploaded.version), routing, out).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `PUT /v1/plugins/{name}` for `version` (default: the newest), keeping
/// what `routing` leaves open from the current activation.
pub async fn activate(
    node: &Node,
    name: &str,
    version: Option<u32>,
    routing: Routing,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let current = plugin(node, name).await?;
    let version = match version {
        Some(v) => v,
        None => current
            .versions
            .last()
            .map(|v| v.version)
            .with_context(|| format!("{name} has no version yet; push one first"))?,
    };
    let previous = current.activation.as_ref();
    let mut request = Activate::version(version);
    let mut kept = Vec::new();
    match (routing.types, previous) {
        (Some(types), _) => request.types = Some(types),
        (None, Some(p)) => {
            request.types = Some(p.types.clone());
            kept.push("types");
        }
        (None, None) => {}
    }
    match (routing.order, previous) {
        (Some(order), _) => request.order = order,
        (None, Some(p)) => {
            request.order = p.order;
            kept.push("order");
        }
        (None, None) => {}
    }
    match (routing.on_error, previous) {
        (Some(policy), _) => request.on_error = policy.wire(),
        (None, Some(p)) => {
            request.on_error = p.on_error;
            kept.push("on_error");
        }
        (None, None) => {}
    }
    if let Some(p) = previous.filter(|p| !p.limits.is_empty()) {
        request.limits = p.limits;
        kept.push("limits");
    }
    let view = node
        .answer(node.client().activate_plugin(name, &request).await)?
        .map_err(|p| {
            refused(
                &format!("{name}: activating version {version} was refused"),
                &p,
            )
        })?;
    let active = view
        .activation
        .with_context(|| format!("the node answered without an activation of {name}"))?;
    writeln!(
        out,
        "activated {name} version {}: {}, order {}, {}",
        active.version,
        types_shown(&active.types),
        active.order,
        active.on_error.as_str()
    )?;
    if let (Some(p), false) = (previous, kept.is_empty()) {
        writeln!(
            out,
            "  kept from the activation of version {}: {}",
            p.version,
            kept.join(", ")
        )?;
    }
    if current.quarantine.is_some() {
        writeln!(out, "  the quarantine is lifted")?;
    }
    Ok(())
}

/// `GET /v1/plugins/{name}`.
async fn plugin(node: &Node, name: &str) -> anyhow::Result<PluginView> {
    node.answer(node.client().plugin(name).await)?
        .map_err(|p| refused(name, &p))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::Value;

    use super::*;
    use crate::plugin::testing::{Cli, Node as TestNode, component, node, order_created};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn push_activates_and_a_new_push_keeps_the_routing() {
        let node = node().await;
        let wasm = component("display-amount");
        let first = node
            .ok(&[
                "push",
                "display-amount",
                &wasm,
                "--activate",
                "--types",
                "order.*,payment.*",
                "--order",
                "-3",
                "--on-error",
                "fail_closed",
            ])
            .await;
        for expected in [
            "uploaded display-amount version 1\n",
            "  digest   sha256:",
            "  hooks    publish\n",
            "  describe display-amount 0.1.0 for types payment.*, escrow.*",
            "activated display-amount version 1: types order.*, payment.*, order -3, fail_closed\n",
        ] {
            assert!(first.contains(expected), "{expected:?} in:\n{first}");
        }
        assert!(!first.contains("kept from"), "{first}");

        // The same bytes: no new version; the activation keeps its routing.
        let again = node
            .ok(&["push", "display-amount", &wasm, "--activate"])
            .await;
        for expected in [
            "display-amount: these bytes are already version 1 (nothing uploaded)\n",
            "activated display-amount version 1: types order.*, payment.*, order -3, fail_closed\n",
            "  kept from the activation of version 1: types, order, on_error\n",
        ] {
            assert!(again.contains(expected), "{expected:?} in:\n{again}");
        }

        let changed = node
            .ok(&["activate", "display-amount", "--on-error", "fail_open"])
            .await;
        assert!(
            changed.starts_with(
                "activated display-amount version 1: types order.*, payment.*, order -3, fail_open\n  \
                 kept from the activation of version 1: types, order\n"
            ),
            "{changed}"
        );

        let list = node.ok(&["list"]).await;
        let lines: Vec<Vec<&str>> = list
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines,
            [
                vec![
                    "NAME", "ACTIVE", "NEWEST", "HOOKS", "TYPES", "ORDER", "ON_ERROR", "STATUS"
                ],
                vec![
                    "display-amount",
                    "1",
                    "1",
                    "publish",
                    "order.*,payment.*",
                    "-3",
                    "fail_open",
                    "active"
                ],
            ],
            "{list}"
        );
        let json: Value =
            serde_json::from_str(&node.ok(&["list", "--json"]).await).expect("list --json");
        assert_eq!(json["plugins"][0]["activation"]["order"], -3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_key_or_file_is_explained() {
        let node = node().await;
        let wasm = component("display-amount");
        let mut wrong = TestNode {
            url: node.url.clone(),
            key: "bk_not-a-key".to_owned(),
            _beacon: None,
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        let refused = wrong.error(&["push", "display-amount", &wasm]).await;
        assert!(
            refused.contains(
                "refused the API key (401 Unauthorized): check --api-key or BEACON_API_KEY"
            ),
            "{refused}"
        );
        wrong.key = String::new();
        let missing = wrong.error(&["list"]).await;
        assert!(
            missing.starts_with("no API key: pass --api-key"),
            "{missing}"
        );

        let not_wasm = node.file("event.json", &order_created());
        let error = node.error(&["push", "display-amount", &not_wasm]).await;
        assert!(error.contains("not a WebAssembly component"), "{error}");
        let module = node.dir.path().join("module.wasm");
        std::fs::write(&module, MODULE_PREAMBLE).expect("writing a module");
        let error = node
            .error(&["push", "display-amount", module.to_str().expect("UTF-8")])
            .await;
        assert!(
            error.contains("a core WebAssembly module, not a component"),
            "{error}"
        );
        let error = node.error(&["push", "Display", &wasm]).await;
        assert!(
            error.contains("a plugin name is 1-63 characters"),
            "{error}"
        );

        // Routing flags without --activate are a usage error.
        let usage = Cli::try_parse_from(["beacon-plugin", "push", "p", "p.wasm", "--order", "1"]);
        assert!(usage.is_err());
    }
}
