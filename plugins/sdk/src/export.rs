//! A plugin and its exports: the [`Plugin`] trait holds what a plugin does,
//! [`export_plugin!`](crate::export_plugin) turns an implementation into the
//! component's exports.
//!
//! The hooks a plugin implements are plain functions that unit-test on the
//! build machine; the macro writes the rest (the bindings of the world with
//! the hooks asked for, the `Guest` impls, wit-bindgen's `export!`), and only
//! for wasm32: export names such as `beacon:plugin/publish@0.1.0#on-publish`
//! are not valid symbols in a native library.

use crate::{Event, Info, PublishOutcome, Subscriber};

/// What a plugin does: its description, and its hooks.
///
/// Implement [`describe`](Plugin::describe) and the hooks the plugin has;
/// [`export_plugin!`](crate::export_plugin) exports those hooks and no
/// others (Beacon finds a plugin's hooks from its exports). The other hooks
/// keep their defaults, which do what Beacon does for a plugin without the
/// hook; they never run in a component.
pub trait Plugin {
    /// What the plugin says about itself (the `plugin` export, read once
    /// at upload).
    fn describe() -> Info;

    /// The publish hook, once per published event before it is stored.
    /// Default: keep the event.
    fn on_publish(event: Event) -> PublishOutcome {
        let _ = event;
        PublishOutcome::Keep
    }

    /// The convert hook: `event` as version `to_version` of its contract,
    /// or why it cannot be. Default: it cannot.
    fn convert(event: Event, to_version: u32) -> Result<Event, String> {
        Err(format!(
            "no convert hook: {} cannot become version {to_version}",
            event.type_
        ))
    }

    /// The deliver hook: one answer per subscriber group, in order (`true`:
    /// deliver). Default: every group gets the event.
    fn deliver(event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
        let _ = event;
        vec![true; subscribers.len()]
    }
}

/// Exports a [`Plugin`] implementation as the component's `plugin` export
/// and the hooks named after the colon (in this order: `publish`,
/// `convert`, `deliver`; at least one):
///
/// ```ignore
/// pub struct DisplayAmount;
///
/// impl beacon_plugin_sdk::Plugin for DisplayAmount {
///     fn describe() -> Info { describe() }
///     fn on_publish(event: Event) -> PublishOutcome { on_publish(event) }
/// }
///
/// beacon_plugin_sdk::export_plugin!(DisplayAmount: publish);
/// ```
///
/// Once per component, at the crate's top level or in any module. The
/// crate depends on this one under its own name, `beacon-plugin-sdk` (the
/// generated bindings name it), and needs no `wit-bindgen` of its own. Off
/// wasm32 the macro only checks that the type implements [`Plugin`].
#[macro_export]
macro_rules! export_plugin {
    ($plugin:path: publish) => {
        $crate::__export_plugin!($plugin, "publisher", publish);
    };
    ($plugin:path: convert) => {
        $crate::__export_plugin!($plugin, "converter", convert);
    };
    ($plugin:path: deliver) => {
        $crate::__export_plugin!($plugin, "gate", deliver);
    };
    ($plugin:path: publish, convert) => {
        $crate::__export_plugin!($plugin, "publisher-converter", publish, convert);
    };
    ($plugin:path: publish, deliver) => {
        $crate::__export_plugin!($plugin, "publisher-gate", publish, deliver);
    };
    ($plugin:path: convert, deliver) => {
        $crate::__export_plugin!($plugin, "converter-gate", convert, deliver);
    };
    ($plugin:path: publish, convert, deliver) => {
        $crate::__export_plugin!($plugin, "host", publish, convert, deliver);
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "expected `export_plugin!(Type: hooks)` with hooks among `publish`, `convert`, \
             `deliver`, in this order, e.g. `export_plugin!(MyPlugin: publish)`"
        );
    };
}

/// The body of [`export_plugin!`]: the world's bindings, one `Guest` impl
/// per export, wit-bindgen's `export!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ($plugin:path, $world:literal, $($hook:ident),+) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[allow(unsafe_code)] // the generated export glue is FFI
        mod __beacon_plugin_exports {
            #[allow(unused_imports)] // the plugin's type, when named by a relative path
            use super::*;

            $crate::__generate_with_contract!(
                world: $world,
                with: {
                    "beacon:plugin/types@0.1.0": ::beacon_plugin_sdk::types,
                    "beacon:plugin/log@0.1.0": ::beacon_plugin_sdk::log,
                },
                runtime_path: "::beacon_plugin_sdk::__private::wit_bindgen::rt",
            );

            /// The exports: every call goes to the plugin's own functions.
            struct Exports;
            export!(Exports);

            impl exports::beacon::plugin::plugin::Guest for Exports {
                fn describe() -> $crate::Info {
                    <$plugin as $crate::Plugin>::describe()
                }
            }

            $($crate::__export_plugin!(@hook $hook, $plugin);)+
        }

        // Natively nothing is exported; this keeps `cargo check` and the
        // unit tests honest about the type.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            const fn implements_plugin<P: $crate::Plugin>() {}
            implements_plugin::<$plugin>()
        };
    };
    (@hook publish, $plugin:path) => {
        impl exports::beacon::plugin::publish::Guest for Exports {
            fn on_publish(event: $crate::Event) -> $crate::PublishOutcome {
                <$plugin as $crate::Plugin>::on_publish(event)
            }
        }
    };
    (@hook convert, $plugin:path) => {
        impl exports::beacon::plugin::convert::Guest for Exports {
            fn convert(
                event: $crate::Event,
                to_version: u32,
            ) -> ::core::result::Result<$crate::Event, ::std::string::String> {
                <$plugin as $crate::Plugin>::convert(event, to_version)
            }
        }
    };
    (@hook deliver, $plugin:path) => {
        impl exports::beacon::plugin::deliver::Guest for Exports {
            fn deliver(
                event: $crate::Event,
                subscribers: ::std::vec::Vec<$crate::Subscriber>,
            ) -> ::std::vec::Vec<bool> {
                <$plugin as $crate::Plugin>::deliver(&event, &subscribers)
            }
        }
    };
}

// Off wasm32 only: in a component, the macro's bindings name this crate
// `::beacon_plugin_sdk`, which it is not to itself.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use serde_json::json;

    use super::*;

    /// A plugin with nothing but a description.
    struct Bare;

    impl Plugin for Bare {
        fn describe() -> Info {
            Info::new("bare", "1.0.0", &[])
        }
    }

    crate::export_plugin!(Bare: publish);

    #[test]
    fn the_defaults_do_what_beacon_does_without_the_hook() {
        let event = Event::new("order.created", &json!({"total": 5}));
        assert_eq!(Bare::on_publish(event.clone()), PublishOutcome::Keep);
        let refused = Bare::convert(event.clone(), 2).expect_err("no conversion");
        assert!(refused.contains("order.created"), "{refused}");
        let groups = [
            Subscriber::new("a", &json!({})),
            Subscriber::new("b", &json!({})),
        ];
        assert_eq!(Bare::deliver(&event, &groups), vec![true, true]);
        assert_eq!(Bare::describe().name, "bare");
    }
}
