//! Guest-side helpers for Beacon WebAssembly plugins.
//!
//! A plugin is a component built for `wasm32-wasip2` that exports `plugin`
//! and some hooks of `wit/plugin.wit` (`publish`, `convert`, `deliver`).
//! This crate generates the bindings every plugin shares — the `types` and
//! `log` interfaces — adds plain-Rust helpers around them, and writes a
//! plugin's exports: its logic is ordinary functions over [`Event`] and
//! [`serde_json::Value`] that unit-test on the build machine, gathered in a
//! [`Plugin`] implementation that one macro exports:
//!
//! ```ignore
//! use beacon_plugin_sdk::{Event, Info, Plugin, PublishOutcome};
//!
//! pub struct DisplayAmount;
//!
//! impl Plugin for DisplayAmount {
//!     fn describe() -> Info { describe() }
//!     fn on_publish(event: Event) -> PublishOutcome { on_publish(event) }
//! }
//!
//! // The `plugin` export and the publish hook; compiled only for wasm32.
//! beacon_plugin_sdk::export_plugin!(DisplayAmount: publish);
//! ```
//!
//! # Layout
//! - [`types`], [`log`]: the generated WIT bindings (records, variants, the
//!   host's `log` import).
//! - `event.rs`: helpers on [`Event`], [`Info`] and [`Subscriber`]; type patterns.
//! - `logging.rs`: [`debug!`], [`info!`], [`warn!`], [`error!`] over the `log`
//!   import; off wasm32 they record lines for tests instead.
//! - `export.rs`: the [`Plugin`] trait and [`export_plugin!`], which writes a
//!   component's exports (with the contract that `build.rs` embeds).

mod event;
mod export;
mod logging;

pub use event::{edit_data, type_matches};
pub use export::Plugin;
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

// `__generate_with_contract!`: `wit_bindgen::generate!` with the contract
// inline, written by `build.rs`; used by `export_plugin!`.
include!(concat!(env!("OUT_DIR"), "/contract.rs"));

/// What the macros' expansions in a plugin's crate refer to; not an API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
