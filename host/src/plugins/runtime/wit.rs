//! The plugin contract (`wit/plugin.wit`, world `host`) as Rust: the only
//! `bindgen!` of the host, the `log` import, the optional hook exports, and
//! the conversions between the generated types and the host's own
//! ([`super::types`]).
//!
//! The `host` world exports every hook, but a component exports only some:
//! instead of the generated world struct (which requires all of them), each
//! exported interface is looked up on its own ([`Exports::new`]).

use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};

use super::sandbox::Sandbox;
use super::types::{Hooks, Info, LogLevel, PluginEvent, PublishOutcome, Subscriber};

wasmtime::component::bindgen!({
    world: "host",
    path: "../wit",
    exports: { default: async },
});

use self::beacon::plugin::{log, types as wit};
use self::exports::beacon::plugin::{convert, deliver, plugin, publish};

/// The export every plugin has (`describe`).
pub(super) const PLUGIN_EXPORT: &str = "beacon:plugin/plugin@0.1.0";
/// The publish hook's export.
pub(super) const PUBLISH_EXPORT: &str = "beacon:plugin/publish@0.1.0";
/// The convert hook's export.
pub(super) const CONVERT_EXPORT: &str = "beacon:plugin/convert@0.1.0";
/// The deliver hook's export.
pub(super) const DELIVER_EXPORT: &str = "beacon:plugin/deliver@0.1.0";

/// Adds the contract's imports (`log`, `types`) to `linker`.
pub(super) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    Host_::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |sandbox| sandbox)
}

impl log::Host for Sandbox {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.guest_log(level, message);
    }
}

impl wit::Host for Sandbox {}

/// Where a component's exports are, found once per compiled component.
pub(super) struct Exports {
    plugin: plugin::GuestIndices,
    publish: Option<publish::GuestIndices>,
    convert: Option<convert::GuestIndices>,
    deliver: Option<deliver::GuestIndices>,
}

/// A hook's indices: `None` when the interface is not exported; a reason
/// when it is exported but does not match the contract.
fn optional<T>(
    pre: &InstancePre<Sandbox>,
    name: &str,
    found: wasmtime::Result<T>,
    reasons: &mut Vec<String>,
) -> Option<T> {
    match found {
        Ok(indices) => Some(indices),
        Err(error) => {
            if pre.component().get_export_index(None, name).is_some() {
                reasons.push(format!(
                    "the export `{name}` does not match the contract: {error}"
                ));
            }
            None
        }
    }
}

/// The exports of one instance, ready to call.
pub(super) struct Guests {
    pub plugin: plugin::Guest,
    pub publish: Option<publish::Guest>,
    pub convert: Option<convert::Guest>,
    pub deliver: Option<deliver::Guest>,
}

impl Exports {
    /// Finds the exports of `pre`'s component. Fails with a reason when
    /// `plugin` is missing or incomplete; a missing hook is `None`, a hook
    /// interface that lacks its function is a reason too.
    pub(super) fn new(pre: &InstancePre<Sandbox>) -> Result<Exports, Vec<String>> {
        let mut reasons = Vec::new();
        let publish = optional(
            pre,
            PUBLISH_EXPORT,
            publish::GuestIndices::new(pre),
            &mut reasons,
        );
        let convert = optional(
            pre,
            CONVERT_EXPORT,
            convert::GuestIndices::new(pre),
            &mut reasons,
        );
        let deliver = optional(
            pre,
            DELIVER_EXPORT,
            deliver::GuestIndices::new(pre),
            &mut reasons,
        );
        let plugin = match plugin::GuestIndices::new(pre) {
            Ok(plugin) => Some(plugin),
            Err(error) => {
                reasons.push(format!(
                    "the export `{PLUGIN_EXPORT}` is missing or incomplete: {error}"
                ));
                None
            }
        };
        match plugin {
            Some(plugin) if reasons.is_empty() => Ok(Exports {
                plugin,
                publish,
                convert,
                deliver,
            }),
            _ => Err(reasons),
        }
    }

    /// The hooks found.
    pub(super) fn hooks(&self) -> Hooks {
        Hooks {
            publish: self.publish.is_some(),
            convert: self.convert.is_some(),
            deliver: self.deliver.is_some(),
        }
    }

    /// The callable exports of `instance`; this also type-checks them
    /// against the contract.
    pub(super) fn load(
        &self,
        store: &mut wasmtime::Store<Sandbox>,
        instance: &Instance,
    ) -> wasmtime::Result<Guests> {
        Ok(Guests {
            plugin: self.plugin.load(&mut *store, instance)?,
            publish: self
                .publish
                .as_ref()
                .map(|i| i.load(&mut *store, instance))
                .transpose()?,
            convert: self
                .convert
                .as_ref()
                .map(|i| i.load(&mut *store, instance))
                .transpose()?,
            deliver: self
                .deliver
                .as_ref()
                .map(|i| i.load(&mut *store, instance))
                .transpose()?,
        })
    }
}

impl From<&PluginEvent> for wit::Event {
    fn from(event: &PluginEvent) -> wit::Event {
        wit::Event {
            id: event.id.clone(),
            type_: event.kind.clone(),
            version: event.version,
            subject: event.subject.clone(),
            source: event.source.clone(),
            time: event.time.clone(),
            data: event.data.clone(),
            audience: event.audience.clone(),
        }
    }
}

impl From<wit::Event> for PluginEvent {
    fn from(event: wit::Event) -> PluginEvent {
        PluginEvent {
            id: event.id,
            kind: event.type_,
            version: event.version,
            subject: event.subject,
            source: event.source,
            time: event.time,
            data: event.data,
            audience: event.audience,
        }
    }
}

impl From<&Subscriber> for wit::Subscriber {
    fn from(subscriber: &Subscriber) -> wit::Subscriber {
        wit::Subscriber {
            user_id: subscriber.user_id.clone(),
            claims: subscriber.claims.clone(),
            types: subscriber.types.clone(),
            subjects: subscriber.subjects.clone(),
        }
    }
}

impl From<wit::PublishOutcome> for PublishOutcome {
    fn from(outcome: wit::PublishOutcome) -> PublishOutcome {
        match outcome {
            wit::PublishOutcome::Keep => PublishOutcome::Keep,
            wit::PublishOutcome::Modify(event) => PublishOutcome::Modify(event.into()),
            wit::PublishOutcome::Drop(reason) => PublishOutcome::Drop(reason),
            wit::PublishOutcome::Reject(reason) => PublishOutcome::Reject(reason),
        }
    }
}

impl From<wit::Info> for Info {
    fn from(info: wit::Info) -> Info {
        Info {
            name: info.name,
            version: info.version,
            types: info.types,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let event = PluginEvent {
            id: Some("1-0".into()),
            kind: "order.created".into(),
            version: 2,
            subject: Some("order/1".into()),
            source: "shop".into(),
            time: "2024-01-01T00:00:00Z".into(),
            data: "{}".into(),
            audience: vec!["alice".into()],
        };
        let wit = wit::Event::from(&event);
        assert_eq!(wit.type_, "order.created");
        assert_eq!(PluginEvent::from(wit), event);
    }

    #[test]
    fn outcomes_convert() {
        let modified = wit::Event::from(&PluginEvent::default());
        assert_eq!(
            PublishOutcome::from(wit::PublishOutcome::Modify(modified)),
            PublishOutcome::Modify(PluginEvent::default())
        );
        assert_eq!(
            PublishOutcome::from(wit::PublishOutcome::Reject("no".into())),
            PublishOutcome::Reject("no".into())
        );
    }
}
