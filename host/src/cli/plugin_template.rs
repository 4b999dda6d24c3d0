//! The crate `beacon plugin new` writes: a standalone Rust plugin (its own
//! `[workspace]`, a copy of the contract, a copy of the guest SDK) with one
//! hook, its logic as plain functions with native unit tests, the SDK's
//! export macro, a README and an event to try it with.
//!
//! Placeholders: `{{name}}` (the plugin and package name), `{{lib}}` (the
//! library name: `-` becomes `_`), `{{type}}` (the plugin's type: see
//! [`type_name`]), `{{hook}}`, `{{world}}`, `{{types}}` (the
//! contract's types the plugin uses), `{{wit-bindgen}}` (the dependency
//! line), `{{try}}` (the README's dry run).

use super::plugin::Hook;

/// The contract, copied into every new crate as `wit/plugin.wit`.
pub const WIT: &str = include_str!("../../../wit/plugin.wit");

/// The guest SDK (`plugins/sdk`, not published), copied into every new
/// crate under `vendor/beacon-plugin-sdk/`: two levels down, like
/// `plugins/sdk` in Beacon's tree, so the SDK finds the contract at
/// `../../wit` in both. Its manifest is [`SDK_CARGO_TOML`] (Beacon's own
/// inherits from Beacon's workspace); the sources are Beacon's.
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

/// The `wit-bindgen` the SDK's copy depends on: the version Beacon's own
/// plugins are built with.
const WIT_BINDGEN: &str = r#"wit-bindgen = { version = "0.60.0", default-features = false, features = ["macros", "realloc"] }"#;

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
    // The contract's types the plugin's code names.
    let types = match hook {
        Hook::Publish => "Event, Info, PublishOutcome",
        Hook::Convert => "Event, Info",
        Hook::Deliver => "Event, Info, Subscriber",
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{lib}}", &lib_name(name))
            .replace("{{type}}", &type_name(name))
            .replace("{{hook}}", hook.as_str())
            .replace("{{world}}", world(hook))
            .replace("{{wit-bindgen}}", WIT_BINDGEN)
            .replace("{{types}}", types)
    };
    let (logic, tests, event, try_it) = match hook {
        Hook::Publish => (PUBLISH, PUBLISH_TESTS, PUBLISH_EVENT, PUBLISH_TRY),
        Hook::Convert => (CONVERT, CONVERT_TESTS, CONVERT_EVENT, CONVERT_TRY),
        Hook::Deliver => (DELIVER, DELIVER_TESTS, DELIVER_EVENT, DELIVER_TRY),
    };
    let lib = [COMMON, logic, tests].concat();
    let contract = match hook {
        Hook::Convert => CONVERT_CONTRACT,
        _ => CATALOGUE_CONTRACT,
    };
    let readme = README
        .replace("{{try}}", try_it)
        .replace("{{contract}}", contract);
    let mut files = vec![
        File {
            path: "Cargo.toml",
            text: fill(CARGO_TOML),
        },
        File {
            path: ".gitignore",
            text: "/target\n".to_owned(),
        },
        File {
            path: "wit/plugin.wit",
            text: WIT.to_owned(),
        },
        File {
            path: "src/lib.rs",
            text: fill(&lib),
        },
        File {
            path: "event.json",
            text: event.to_owned(),
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

const CARGO_TOML: &str = r#"[package]
name = "{{name}}"
description = "A Beacon plugin with the {{hook}} hook."
version = "0.1.0"
edition = "2024"
publish = false

# cdylib: the component (built for wasm32-wasip2); rlib: native unit tests.
# No doctests: the examples are the unit tests.
[lib]
crate-type = ["cdylib", "rlib"]
doctest = false

[dependencies]
# Beacon's guest SDK: the contract's types, logging, the export macro.
beacon-plugin-sdk = { path = "vendor/beacon-plugin-sdk" }
serde_json = "1"

# A workspace of its own: the crate builds wherever it lives, even inside
# another project's workspace. The SDK under vendor/ is its other member.
[workspace]

# Small components upload, compile and start faster in Beacon. The panic
# strategy stays: on wasm32 a panic aborts, which Beacon sees as a trap.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
"#;

/// The manifest of the SDK's copy (Beacon's own inherits its fields from
/// Beacon's workspace).
const SDK_CARGO_TOML: &str = r#"[package]
name = "beacon-plugin-sdk"
description = "Beacon's guest SDK, as of the beacon that wrote this crate: the contract's types, logging, JSON helpers and the export macro."
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
serde_json = "1"
{{wit-bindgen}}
"#;

const COMMON: &str = r#"//! {{name}}: a Beacon plugin with the {{hook}} hook.
//!
//! The logic is plain functions over the contract's types and
//! `serde_json::Value`, unit-tested natively (`cargo test`); the
//! component's exports are written by the SDK's `export_plugin!` at the
//! end of this file, only for wasm32 (`beacon plugin build`). The contract
//! is `wit/plugin.wit`, world `{{world}}`.

use beacon_plugin_sdk::Plugin;
use serde_json::Value;

/// The contract's types and the host's `log` levels (from the SDK, which
/// generates them from `wit/plugin.wit`).
pub use beacon_plugin_sdk::{Level, {{types}}};

/// What the plugin says about itself. Beacon reads it at upload; `types`
/// are the event types an activation without `--types` runs it on.
pub fn describe() -> Info {
    Info {
        name: env!("CARGO_PKG_NAME").to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        types: TYPES.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// Writes a line to the plugin's log (`beacon plugin logs {{name}}`); in
/// native tests, to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    beacon_plugin_sdk::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?}: {message}");
}

/// The data of `event`, parsed (Beacon only sends JSON).
pub fn data(event: &Event) -> Option<Value> {
    serde_json::from_str(&event.data).ok()
}
"#;

const PUBLISH: &str = r#"
/// Event type patterns the plugin is meant for (`order.*`,
/// `payment.succeeded`); empty means every type.
pub const TYPES: &[&str] = &[];

/// The publish hook, once per published event before it is stored: keep
/// it, replace it (`Modify`: checked against its contract again), drop it
/// (the publisher is told) or reject it (the publisher gets 422).
///
/// This one drops test events (`"test": true`) and normalises an `email`
/// field; everything else is kept as is.
pub fn on_publish(event: Event) -> PublishOutcome {
    let Some(mut data) = data(&event) else {
        log(Level::Warn, "event data is not JSON; kept as is");
        return PublishOutcome::Keep;
    };
    if data.get("test") == Some(&Value::Bool(true)) {
        return PublishOutcome::Drop("test event".to_owned());
    }
    if normalize_email(&mut data) {
        PublishOutcome::Modify(Event {
            data: data.to_string(),
            ..event
        })
    } else {
        PublishOutcome::Keep
    }
}

/// Trims and lower-cases `data.email`; tells whether it changed.
pub fn normalize_email(data: &mut Value) -> bool {
    let Some(Value::String(email)) = data.get_mut("email") else {
        return false;
    };
    let normal = email.trim().to_lowercase();
    if normal == *email {
        return false;
    }
    *email = normal;
    true
}

/// The plugin: the functions above as its description and publish hook.
pub struct {{type}};

impl Plugin for {{type}} {
    fn describe() -> Info {
        describe()
    }

    fn on_publish(event: Event) -> PublishOutcome {
        on_publish(event)
    }
}

// The component's exports, `plugin` and the publish hook. Only on wasm32:
// export names like `beacon:plugin/publish@0.1.0#on-publish` are not valid
// symbols in a native library.
beacon_plugin_sdk::export_plugin!({{type}}: publish);
"#;

const PUBLISH_TESTS: &str = r#"
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An event as the publish hook receives it.
    fn event(data: Value) -> Event {
        Event {
            id: None,
            type_: "order.created".to_owned(),
            version: 1,
            subject: Some("order/IE-4486".to_owned()),
            source: "/tenants/acme".to_owned(),
            time: "2026-01-01T00:00:00Z".to_owned(),
            data: data.to_string(),
            audience: Vec::new(),
        }
    }

    /// The data of a `Modify`, or `None` for any other outcome.
    fn modified(outcome: PublishOutcome) -> Option<Value> {
        match outcome {
            PublishOutcome::Modify(event) => data(&event),
            _ => None,
        }
    }

    #[test]
    fn normalises_the_email() {
        let out = on_publish(event(json!({"orderId": "IE-1", "email": "  Ada@Example.COM "})));
        assert_eq!(
            modified(out),
            Some(json!({"orderId": "IE-1", "email": "ada@example.com"}))
        );
    }

    #[test]
    fn keeps_what_needs_no_change() {
        let clean = on_publish(event(json!({"email": "ada@example.com"})));
        assert!(matches!(clean, PublishOutcome::Keep));
        let no_email = on_publish(event(json!({"orderId": "IE-1"})));
        assert!(matches!(no_email, PublishOutcome::Keep));
    }

    #[test]
    fn drops_test_events() {
        let out = on_publish(event(json!({"test": true, "email": "A@B.C"})));
        assert!(matches!(out, PublishOutcome::Drop(reason) if reason == "test event"));
    }

    #[test]
    fn describes_itself() {
        assert_eq!(describe().name, "{{name}}");
    }
}
"#;

const PUBLISH_EVENT: &str = r#"{
  "type": "order.created",
  "subject": "order/IE-4486",
  "data": {
    "orderId": "IE-4486",
    "total": 85000,
    "currency": "KES",
    "email": "  Ada@Example.COM "
  }
}
"#;

const PUBLISH_TRY: &str = "beacon plugin test {{name}} event.json";

const CONVERT: &str = r#"
/// The event type this plugin converts (change it to yours). A converter
/// is meant for the types whose versions it knows.
pub const TYPES: &[&str] = &["customer.updated"];

/// The convert hook: `event` as version `to_version` of its contract, or
/// why it cannot be. Beacon calls it only for a subscriber that asked for
/// `type@N` when the event cannot be projected onto version N (a field was
/// renamed, moved or changed type); the result is checked against
/// version N before it is sent.
///
/// This one bridges a rename: version 2 calls version 1's `name`
/// `fullName`.
pub fn convert(mut event: Event, to_version: u32) -> Result<Event, String> {
    if !TYPES.contains(&event.type_.as_str()) {
        return Err(format!("no conversion for the type {}", event.type_));
    }
    if event.version == to_version {
        return Ok(event);
    }
    let mut data = data(&event).ok_or("data is not JSON")?;
    let object = data.as_object_mut().ok_or("data is not a JSON object")?;
    match (event.version, to_version) {
        (1, 2) => rename(object, "name", "fullName")?,
        (2, 1) => rename(object, "fullName", "name")?,
        (from, to) => {
            return Err(format!(
                "no conversion from version {from} to version {to}"
            ));
        }
    }
    event.data = data.to_string();
    event.version = to_version;
    Ok(event)
}

/// Moves `object[from]` to `object[to]`.
fn rename(
    object: &mut serde_json::Map<String, Value>,
    from: &str,
    to: &str,
) -> Result<(), String> {
    let value = object
        .remove(from)
        .ok_or_else(|| format!("`{from}` is missing"))?;
    object.insert(to.to_owned(), value);
    Ok(())
}

/// The plugin: the functions above as its description and convert hook.
pub struct {{type}};

impl Plugin for {{type}} {
    fn describe() -> Info {
        describe()
    }

    fn convert(event: Event, to_version: u32) -> Result<Event, String> {
        convert(event, to_version)
    }
}

// The component's exports, `plugin` and the convert hook. Only on wasm32:
// export names like `beacon:plugin/convert@0.1.0#convert` are not valid
// symbols in a native library.
beacon_plugin_sdk::export_plugin!({{type}}: convert);
"#;

const CONVERT_TESTS: &str = r#"
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A stored event of version `version`, as the convert hook receives it.
    fn event(version: u32, data: Value) -> Event {
        Event {
            id: Some("0_1767225600000-0".to_owned()),
            type_: "customer.updated".to_owned(),
            version,
            subject: Some("customer/c-1".to_owned()),
            source: "/tenants/acme".to_owned(),
            time: "2026-01-01T00:00:00Z".to_owned(),
            data: data.to_string(),
            audience: Vec::new(),
        }
    }

    #[test]
    fn converts_both_ways() {
        let v1 = json!({"id": "c-1", "name": "Ada Lovelace"});
        let v2 = json!({"id": "c-1", "fullName": "Ada Lovelace"});
        let down = convert(event(2, v2.clone()), 1).expect("2 to 1");
        assert_eq!((down.version, data(&down)), (1, Some(v1.clone())));
        let up = convert(event(1, v1), 2).expect("2 to 1");
        assert_eq!((up.version, data(&up)), (2, Some(v2)));
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        assert!(convert(event(2, json!({"id": "c-1"})), 1).is_err());
        assert!(convert(event(1, json!({"name": "Ada"})), 3).is_err());
        let other = Event {
            type_: "order.created".to_owned(),
            ..event(2, json!({}))
        };
        assert!(convert(other, 1).is_err());
    }

    #[test]
    fn describes_itself() {
        assert_eq!(describe().name, "{{name}}");
    }
}
"#;

const CONVERT_EVENT: &str = r#"{
  "type": "customer.updated",
  "version": 2,
  "subject": "customer/c-1",
  "data": { "id": "c-1", "fullName": "Ada Lovelace" }
}
"#;

const CONVERT_TRY: &str = "beacon plugin test {{name}} event.json --to-version 1";

const DELIVER: &str = r#"
/// Event type patterns the plugin is meant for (`order.*`,
/// `payment.succeeded`); empty means every type.
pub const TYPES: &[&str] = &[];

/// The deliver hook: one answer per subscriber group, in order (`true`:
/// deliver). Beacon calls it once per event with every distinct subscriber
/// context open on the node (user id, token claims, filters), not once per
/// connection.
///
/// This one sends an event whose data names a `region` only to
/// subscribers whose token has the same `region` claim (minted with
/// `POST /v1/tokens {"sub": "42", "claims": {"region": "eu"}}`); events
/// without a region go to everyone.
pub fn deliver(event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
    let region = data(event).and_then(|d| d.get("region")?.as_str().map(str::to_owned));
    subscribers
        .iter()
        .map(|subscriber| match &region {
            None => true,
            Some(region) => claim(subscriber, "region").as_deref() == Some(region.as_str()),
        })
        .collect()
}

/// A string claim of a subscriber's token.
pub fn claim(subscriber: &Subscriber, name: &str) -> Option<String> {
    let claims: Value = serde_json::from_str(&subscriber.claims).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

/// The plugin: the functions above as its description and deliver hook.
pub struct {{type}};

impl Plugin for {{type}} {
    fn describe() -> Info {
        describe()
    }

    fn deliver(event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
        deliver(event, subscribers)
    }
}

// The component's exports, `plugin` and the deliver hook. Only on wasm32:
// export names like `beacon:plugin/deliver@0.1.0#deliver` are not valid
// symbols in a native library.
beacon_plugin_sdk::export_plugin!({{type}}: deliver);
"#;

const DELIVER_TESTS: &str = r#"
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A stored event, as the deliver hook receives it.
    fn event(data: Value) -> Event {
        Event {
            id: Some("0_1767225600000-0".to_owned()),
            type_: "order.created".to_owned(),
            version: 1,
            subject: None,
            source: "/tenants/acme".to_owned(),
            time: "2026-01-01T00:00:00Z".to_owned(),
            data: data.to_string(),
            audience: Vec::new(),
        }
    }

    /// A subscriber group whose token carries `claims`.
    fn group(user_id: &str, claims: Value) -> Subscriber {
        Subscriber {
            user_id: user_id.to_owned(),
            claims: claims.to_string(),
            types: Vec::new(),
            subjects: Vec::new(),
        }
    }

    fn groups() -> Vec<Subscriber> {
        vec![
            group("42", json!({"sub": "42", "region": "eu"})),
            group("7", json!({"sub": "7", "region": "us"})),
            group("9", json!({"sub": "9"})),
        ]
    }

    #[test]
    fn regional_events_reach_their_region_only() {
        let out = deliver(&event(json!({"orderId": "IE-1", "region": "eu"})), &groups());
        assert_eq!(out, vec![true, false, false]);
    }

    #[test]
    fn other_events_reach_everyone() {
        assert_eq!(deliver(&event(json!({"orderId": "IE-1"})), &groups()), vec![true; 3]);
        assert!(deliver(&event(json!({})), &[]).is_empty());
    }

    #[test]
    fn describes_itself() {
        assert_eq!(describe().name, "{{name}}");
    }
}
"#;

const DELIVER_EVENT: &str = r#"{
  "event": {
    "type": "order.created",
    "subject": "order/IE-4486",
    "data": { "orderId": "IE-4486", "total": 85000, "currency": "KES", "region": "eu" }
  },
  "subscribers": [
    { "user_id": "42", "claims": { "region": "eu" } },
    { "user_id": "7", "claims": { "region": "us" } }
  ]
}
"#;

const DELIVER_TRY: &str = "beacon plugin test {{name}} event.json";

const CATALOGUE_CONTRACT: &str = "is an `order.created` of Beacon's built-in catalogue.";

const CONVERT_CONTRACT: &str =
    "is version 2 of `customer.updated`, a type the catalogue does not have: register
its two versions first (`/v1/schemas`, the compatibility mode `NONE`; see Beacon's
`docs/contracts.md`), or try it as a tenant created with `\"allow_unregistered_types\": true`.";

const README: &str = r#"# {{name}}

A Beacon plugin with the `{{hook}}` hook, written in Rust: a WebAssembly component built for
`wasm32-wasip2` from `src/lib.rs`, implementing the world `{{world}}` of `wit/plugin.wit` (a copy
of Beacon's plugin contract). The logic is plain functions with unit tests; the exports are one
line, `beacon_plugin_sdk::export_plugin!`, compiled only for wasm32. `vendor/beacon-plugin-sdk/`
is a copy of Beacon's guest SDK (the contract's types, logging, JSON helpers, the export macro).

## Test

```sh
cargo test
```

## Build

```sh
beacon plugin build
# or: cargo build --release --target wasm32-wasip2
```

The component is `target/wasm32-wasip2/release/{{lib}}.wasm` (under `$CARGO_TARGET_DIR` if set).

## Upload, activate, try

With the node's URL and a tenant API key that has the `plugins` scope:

```sh
export BEACON_URL=http://127.0.0.1:8080 BEACON_API_KEY=bk_...
beacon plugin push {{name}} target/wasm32-wasip2/release/{{lib}}.wasm --activate
{{try}}    # a dry run: nothing is stored
beacon plugin logs {{name}}
beacon plugin list
```

`beacon plugin test` checks the input like a publish, against its type's contract: `event.json`
{{contract}}

`push --activate` accepts `--types 'order.*,payment.*'`, `--order N` and
`--on-error fail_open|fail_closed`; see `beacon plugin push --help` and Beacon's `docs/plugins.md`.
"#;
