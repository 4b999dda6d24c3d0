//! The crate `beacon plugin new` writes: a standalone Rust plugin (its own
//! `[workspace]`, a copy of the contract, a copy of the guest SDK) with one
//! hook, its logic as plain functions with native unit tests, the SDK's
//! export macro, a README and an event to try it with.
//!
//! The files are in `cli/templates/rust/`, embedded in the binary:
//! `Cargo.toml`, `gitignore` (written as `.gitignore`), `README.md` and
//! `sdk/Cargo.toml` (the SDK copy's manifest) are shared;
//! `<hook>/src/lib.rs` and `<hook>/event.json` are each hook's. The SDK's
//! sources are Beacon's own (`plugins/sdk`). Placeholders: `{{name}}` (the
//! plugin and package name), `{{lib}}` (the library name: `-` becomes
//! `_`), `{{type}}` (the plugin's type: see [`type_name`]), `{{hook}}`,
//! `{{world}}`, and in the README `{{try}}` (its dry run) and
//! `{{contract}}` (the contract of its event).

use super::Hook;

/// The contract, copied into every new crate as `wit/plugin.wit`.
pub const WIT: &str = include_str!("../../../wit/plugin.wit");

/// The guest SDK (`plugins/sdk`, not published), copied into every new
/// crate under `vendor/beacon-plugin-sdk/`: two levels down, like
/// `plugins/sdk` in Beacon's tree, so the SDK finds the contract at
/// `../../wit` in both. Its manifest is `templates/rust/sdk/Cargo.toml`
/// (Beacon's own inherits from Beacon's workspace); the sources are
/// Beacon's.
pub const SDK_SOURCES: &[(&str, &str)] = &[
    (
        "vendor/beacon-plugin-sdk/build.rs",
        include_str!("../../../plugins/sdk/build.rs"),
    ),
    (
        "vendor/beacon-plugin-sdk/src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "vendor/beacon-plugin-sdk/src/event.rs",
        include_str!("../../../plugins/sdk/src/event.rs"),
    ),
    (
        "vendor/beacon-plugin-sdk/src/export.rs",
        include_str!("../../../plugins/sdk/src/export.rs"),
    ),
    (
        "vendor/beacon-plugin-sdk/src/logging.rs",
        include_str!("../../../plugins/sdk/src/logging.rs"),
    ),
];

const CARGO_TOML: &str = include_str!("../../templates/rust/Cargo.toml");
const GITIGNORE: &str = include_str!("../../templates/rust/gitignore");
const README: &str = include_str!("../../templates/rust/README.md");
const SDK_CARGO_TOML: &str = include_str!("../../templates/rust/sdk/Cargo.toml");

/// One hook's own files.
struct HookFiles {
    lib: &'static str,
    event: &'static str,
    /// The README's dry run.
    try_it: &'static str,
    /// What the README says about the event's contract.
    contract: &'static str,
}

const CATALOGUE_CONTRACT: &str = "is an `order.created` of Beacon's built-in catalogue.";

fn hook_files(hook: Hook) -> HookFiles {
    match hook {
        Hook::Publish => HookFiles {
            lib: include_str!("../../templates/rust/publish/src/lib.rs"),
            event: include_str!("../../templates/rust/publish/event.json"),
            try_it: "beacon plugin test {{name}} event.json",
            contract: CATALOGUE_CONTRACT,
        },
        Hook::Convert => HookFiles {
            lib: include_str!("../../templates/rust/convert/src/lib.rs"),
            event: include_str!("../../templates/rust/convert/event.json"),
            try_it: "beacon plugin test {{name}} event.json --to-version 1",
            contract: "is version 2 of `customer.updated`, a type the catalogue does not have: \
                       register\nits two versions first (`/v1/schemas`, the compatibility mode \
                       `NONE`; see Beacon's\n`docs/contracts.md`), or try it as a tenant created \
                       with `\"allow_unregistered_types\": true`.",
        },
        Hook::Deliver => HookFiles {
            lib: include_str!("../../templates/rust/deliver/src/lib.rs"),
            event: include_str!("../../templates/rust/deliver/event.json"),
            try_it: "beacon plugin test {{name}} event.json",
            contract: CATALOGUE_CONTRACT,
        },
    }
}

/// One file of the crate.
#[derive(Debug)]
pub struct File {
    /// Relative to the crate's directory, `/`-separated.
    pub path: &'static str,
    pub text: String,
}

/// The world of `wit/plugin.wit` that exports `hook`.
pub fn world(hook: Hook) -> &'static str {
    match hook {
        Hook::Publish => "publisher",
        Hook::Convert => "converter",
        Hook::Deliver => "gate",
    }
}

/// The library name of package `name`: the component is `<lib>.wasm`.
pub fn lib_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The plugin's type for package `name`: `region-gate` → `RegionGatePlugin`.
/// The suffix keeps it from shadowing a name the crate uses (`Event`,
/// `Info`, `Result`, `Vec`, …) whatever the plugin is called.
pub fn type_name(name: &str) -> String {
    let mut type_name: String = name
        .split('-')
        .flat_map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect();
    type_name.push_str("Plugin");
    type_name
}

/// Every file of a new plugin crate `name` with `hook`.
pub fn files(name: &str, hook: Hook) -> Vec<File> {
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{lib}}", &lib_name(name))
            .replace("{{type}}", &type_name(name))
            .replace("{{hook}}", hook.as_str())
            .replace("{{world}}", world(hook))
    };
    let own = hook_files(hook);
    let readme = README
        .replace("{{try}}", own.try_it)
        .replace("{{contract}}", own.contract);
    let mut files = vec![
        File {
            path: "Cargo.toml",
            text: fill(CARGO_TOML),
        },
        File {
            path: ".gitignore",
            text: GITIGNORE.to_owned(),
        },
        File {
            path: "wit/plugin.wit",
            text: WIT.to_owned(),
        },
        File {
            path: "src/lib.rs",
            text: fill(own.lib),
        },
        File {
            path: "event.json",
            text: own.event.to_owned(),
        },
        File {
            path: "README.md",
            text: fill(&readme),
        },
        File {
            path: "vendor/beacon-plugin-sdk/Cargo.toml",
            text: fill(SDK_CARGO_TOML),
        },
    ];
    files.extend(SDK_SOURCES.iter().map(|(path, text)| File {
        path,
        text: (*text).to_owned(),
    }));
    files
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::Value;

    use super::*;

    #[test]
    fn every_hook_has_a_complete_template() {
        for hook in [Hook::Publish, Hook::Convert, Hook::Deliver] {
            let files = files("my-plugin", hook);
            let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
            assert_eq!(
                paths,
                [
                    "Cargo.toml",
                    ".gitignore",
                    "wit/plugin.wit",
                    "src/lib.rs",
                    "event.json",
                    "README.md",
                    "vendor/beacon-plugin-sdk/Cargo.toml",
                    "vendor/beacon-plugin-sdk/build.rs",
                    "vendor/beacon-plugin-sdk/src/lib.rs",
                    "vendor/beacon-plugin-sdk/src/event.rs",
                    "vendor/beacon-plugin-sdk/src/export.rs",
                    "vendor/beacon-plugin-sdk/src/logging.rs",
                ]
            );
            for file in &files {
                assert!(!file.text.contains("{{"), "{hook:?} {}", file.path);
            }
            let lib = &files[3].text;
            assert!(
                lib.contains(&format!("world `{}`", world(hook))),
                "{hook:?}"
            );
            assert!(
                lib.contains(&format!(
                    "beacon_plugin_sdk::export_plugin!(MyPluginPlugin: {});",
                    hook.as_str()
                )),
                "{hook:?}"
            );
            serde_json::from_str::<Value>(&files[4].text).expect("event.json is JSON");
            assert_eq!(type_name("region-gate"), "RegionGatePlugin");
            assert!(
                files[5]
                    .text
                    .contains("target/wasm32-wasip2/release/my_plugin.wasm")
            );
        }
    }

    #[test]
    fn the_sdk_copy_builds_with_the_wit_bindgen_of_beacons_own_plugins() {
        let workspace =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
                .expect("the workspace's Cargo.toml");
        let line = |text: &str| {
            text.lines()
                .find(|l| l.starts_with("wit-bindgen = "))
                .map(str::to_owned)
        };
        assert!(line(SDK_CARGO_TOML).is_some(), "{SDK_CARGO_TOML}");
        assert_eq!(line(SDK_CARGO_TOML), line(&workspace));
    }
}
