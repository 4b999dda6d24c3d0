//! Guest-side helpers for Beacon WebAssembly plugins.
//!
//! A plugin is a component built for `wasm32-wasip2` that implements one of
//! the worlds of `wit/plugin.wit` (`publisher`, `converter` or `gate`). This
//! crate generates the bindings every plugin shares — the `types` and `log`
//! interfaces — and adds plain-Rust helpers around them, so a plugin's logic
//! is ordinary functions over [`Event`] and [`serde_json::Value`] that unit-test
//! on the build machine. A plugin's own `wit_bindgen::generate!` reuses these
//! types through its `with:` option and only adds its exports:
//!
//! ```ignore
//! #[cfg(target_arch = "wasm32")] // export names are not valid native symbols
//! #[allow(unsafe_code)] // the generated export glue is FFI
//! mod glue {
//!     wit_bindgen::generate!({
//!         world: "publisher",
//!         path: "../../../wit",
//!         with: {
//!             "beacon:plugin/types@0.1.0": beacon_plugin_sdk::types,
//!             "beacon:plugin/log@0.1.0": beacon_plugin_sdk::log,
//!         },
//!     });
//!     struct Plugin;
//!     export!(Plugin);
//!     // impl exports::beacon::plugin::{plugin, publish}::Guest for Plugin …
//! }
//! ```
//!
//! # Layout
//! - [`types`], [`log`]: the generated WIT bindings (records, variants, the
//!   host's `log` import).
//! - `event.rs`: helpers on [`Event`], [`Info`] and [`Subscriber`]; type patterns.
//! - `logging.rs`: [`debug!`], [`info!`], [`warn!`], [`error!`] over the `log`
//!   import; off wasm32 they record lines for tests instead.

mod event;
mod logging;

pub use event::{edit_data, type_matches};
pub use logging::{take_native_logs, write_log};

/// The bindings generated from `wit/plugin.wit` for what every plugin
/// shares. The world `sdk` only imports; a plugin's exports come from its
/// own world.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package beacon:sdk;

            world sdk {
                import beacon:plugin/types@0.1.0;
                import beacon:plugin/log@0.1.0;
            }
        ",
        path: "../../wit",
        generate_all,
        generate_unused_types: true,
        additional_derives: [PartialEq, Eq],
    });
}

pub use bindings::beacon::plugin::{log, types};
pub use log::Level;
pub use types::{Event, Info, PublishOutcome, Subscriber};
