//! Puts the plugin contract, `wit/plugin.wit`, into the macro that
//! generates a plugin's exports (`export_plugin!`, see `src/export.rs`).
//!
//! A component's export glue has to be generated in the plugin's own crate,
//! where `wit_bindgen::generate!` would resolve a `path` against that
//! crate's directory, not this one's. So the contract travels as text: this
//! script writes `$OUT_DIR/contract.rs`, a macro that hands `generate!` the
//! contract as an inline string literal, followed by the worlds for two
//! hooks that the contract leaves unnamed (it names one world per hook and
//! `host` for all three).

use std::path::PathBuf;
use std::{env, fs, io};

/// The contract, relative to this crate's directory.
const CONTRACT: &str = "../../wit/plugin.wit";

/// Worlds added to the contract's package for the export glue only: a
/// component may export any non-empty set of hooks.
const TWO_HOOK_WORLDS: &str = "
/// A plugin with the publish and convert hooks (added by beacon-plugin-sdk).
world publisher-converter {
    include publisher;
    include converter;
}

/// A plugin with the publish and deliver hooks (added by beacon-plugin-sdk).
world publisher-gate {
    include publisher;
    include gate;
}

/// A plugin with the convert and deliver hooks (added by beacon-plugin-sdk).
world converter-gate {
    include converter;
    include gate;
}
";

/// `$OUT_DIR/contract.rs` up to the contract's literal.
const MACRO_HEAD: &str = "/// Calls `wit_bindgen::generate!` with `wit/plugin.wit` (and the worlds
/// for two hooks) inline, plus the options given.
#[doc(hidden)]
#[macro_export]
macro_rules! __generate_with_contract {
    ($($option:tt)*) => {
        $crate::__private::wit_bindgen::generate!({
            inline: ";

/// `$OUT_DIR/contract.rs` after the contract's literal. `path: []`: with
/// `inline` alone, `generate!` would also read the plugin crate's own
/// `wit/` directory when it has one (a crate from `beacon plugin new` does),
/// and find the contract twice.
const MACRO_TAIL: &str = ",
            path: [],
            $($option)*
        });
    };
}
";

fn main() -> io::Result<()> {
    println!("cargo::rerun-if-changed={CONTRACT}");
    let dir = PathBuf::from(
        env::var_os("CARGO_MANIFEST_DIR").ok_or_else(|| missing("CARGO_MANIFEST_DIR"))?,
    );
    let contract = fs::read_to_string(dir.join(CONTRACT))?;
    // `{:?}` writes a valid Rust string literal: quotes and control
    // characters escaped, everything else as is.
    let literal = format!("{:?}", [contract.as_str(), TWO_HOOK_WORLDS].concat());
    let source = [MACRO_HEAD, literal.as_str(), MACRO_TAIL].concat();
    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or_else(|| missing("OUT_DIR"))?);
    fs::write(out.join("contract.rs"), source)
}

/// The error for an environment variable cargo always sets.
fn missing(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("cargo did not set {name}"))
}
