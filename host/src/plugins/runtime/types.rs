//! The runtime's plain host-side types: what goes into a plugin call
//! ([`PluginEvent`], [`Subscriber`], [`Limits`]), what comes out of it
//! ([`Call`], [`PublishOutcome`], [`Failure`]), what a compiled component
//! says about itself ([`Hooks`], [`Info`]), and where its log lines go
//! ([`LogSink`], [`LogLine`]). Nothing here knows about wasmtime; the
//! conversions to and from the generated WIT types live in `wit.rs`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use beacon_protocol::api::plugins::Hook;

/// Default wall time of one call: the node's default (see `config`).
pub const DEFAULT_TIMEOUT: Duration = crate::config::DEFAULT_PLUGIN_TIMEOUT;

/// Default instruction budget of one call (wasmtime fuel units, about one
/// per simple instruction): the node's default.
pub const DEFAULT_FUEL: u64 = crate::config::DEFAULT_PLUGIN_FUEL;

/// Default cap on an instance's linear memory: the node's default.
pub const DEFAULT_MEMORY_BYTES: usize = crate::config::DEFAULT_PLUGIN_MEMORY_BYTES;

/// Default cap on what one hook returns (see [`PluginEvent::size`]).
pub const DEFAULT_OUTPUT_BYTES: usize = crate::config::DEFAULT_PLUGIN_OUTPUT_BYTES;

/// Longest reason (drop, reject, convert error) kept from a plugin; longer
/// ones are cut at a character boundary.
pub const MAX_REASON_BYTES: usize = 1024;

/// Bytes [`PluginEvent::size`] adds per field and per list entry, for the
/// punctuation and field name a JSON encoding would need.
const SIZE_OVERHEAD_PER_ITEM: usize = 16;

/// The limits of one plugin's calls. A tenant's plugin gets the node's
/// defaults, adjusted by the tenant's and the activation's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall time per call, enforced by the epoch deadline (see
    /// [`EPOCH_TICK`](super::EPOCH_TICK) for its precision).
    pub timeout: Duration,
    /// Instruction budget per call (wasmtime fuel), reset before each call.
    pub fuel: u64,
    /// Linear memory cap per instance; never above
    /// [`RuntimeConfig::max_memory_bytes`](super::RuntimeConfig::max_memory_bytes).
    pub memory_bytes: usize,
    /// Largest output a hook may return: a modified or converted event as
    /// measured by [`PluginEvent::size`], or a reason string.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            output_bytes: DEFAULT_OUTPUT_BYTES,
        }
    }
}

/// Which hooks a component exports (found from its exports at upload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hooks {
    /// Exports `beacon:plugin/publish@0.1.0`.
    pub publish: bool,
    /// Exports `beacon:plugin/convert@0.1.0`.
    pub convert: bool,
    /// Exports `beacon:plugin/deliver@0.1.0`.
    pub deliver: bool,
}

impl Hooks {
    /// Whether the component exports at least one hook.
    pub fn any(&self) -> bool {
        self.publish || self.convert || self.deliver
    }

    /// Whether the component exports `hook`.
    pub fn exports(&self, hook: Hook) -> bool {
        match hook {
            Hook::Publish => self.publish,
            Hook::Convert => self.convert,
            Hook::Deliver => self.deliver,
        }
    }

    /// The exported hooks, in contract order.
    pub fn list(&self) -> Vec<Hook> {
        Hook::ALL
            .into_iter()
            .filter(|hook| self.exports(*hook))
            .collect()
    }
}

/// What a plugin says about itself (its `describe` export).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Info {
    /// A short name, e.g. `display-amount`.
    pub name: String,
    /// The plugin's own version, e.g. `1.2.0`.
    pub version: String,
    /// Event type patterns the plugin is meant for; empty means all.
    pub types: Vec<String>,
}

/// One event as a plugin sees it (the WIT `event` record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginEvent {
    /// The log position; `None` in the publish hook.
    pub id: Option<String>,
    /// The event type, e.g. `order.created`.
    pub kind: String,
    /// The contract version of `data`; 0 when the type has no contract.
    pub version: u32,
    /// The routing subject.
    pub subject: Option<String>,
    /// The CloudEvents `source`.
    pub source: String,
    /// When the event was accepted (RFC 3339).
    pub time: String,
    /// The payload, as JSON text.
    pub data: String,
    /// User ids allowed to see the event; empty means everyone.
    pub audience: Vec<String>,
}

impl PluginEvent {
    /// The event's size as the output limit counts it: the bytes of every
    /// string plus [`SIZE_OVERHEAD_PER_ITEM`] per field and per audience
    /// entry, close to its JSON encoding without encoding it.
    pub fn size(&self) -> usize {
        let strings = [
            self.id.as_deref().unwrap_or_default(),
            &self.kind,
            self.subject.as_deref().unwrap_or_default(),
            &self.source,
            &self.time,
            &self.data,
        ];
        let fields = strings.len() + 2;
        strings.iter().map(|s| s.len()).sum::<usize>()
            + self.audience.iter().map(String::len).sum::<usize>()
            + (fields + self.audience.len()) * SIZE_OVERHEAD_PER_ITEM
    }
}

/// What the publish hook decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Store the event unchanged.
    Keep,
    /// Store this event instead (its `data` is checked to be JSON).
    Modify(PluginEvent),
    /// Do not store the event, with a reason.
    Drop(String),
    /// Refuse the event; the publisher gets this reason.
    Reject(String),
}

/// One group of subscribers sharing a context (the WIT `subscriber` record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriber {
    /// The `sub` claim of the subscriber's token.
    pub user_id: String,
    /// Every claim of the token, as a JSON object.
    pub claims: String,
    /// The type patterns the subscriber asked for (empty: all).
    pub types: Vec<String>,
    /// The subject patterns the subscriber asked for (empty: all).
    pub subjects: Vec<String>,
}

/// The result of one hook call and how long it took (including waiting for
/// and creating an instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<T> {
    /// What the hook returned, or why it failed.
    pub result: Result<T, Failure>,
    /// Wall time of the whole call.
    pub elapsed: Duration,
}

/// Why a hook call failed. The instance that failed is discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The call ran past [`Limits::timeout`].
    #[error("the plugin ran out of time")]
    Timeout,
    /// The call used up [`Limits::fuel`].
    #[error("the plugin ran out of fuel (instruction budget)")]
    OutOfFuel,
    /// The plugin needed more memory than [`Limits::memory_bytes`].
    #[error("the plugin ran out of memory")]
    OutOfMemory,
    /// The plugin trapped (Rust panics included; the message says where).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The hook returned more than [`Limits::output_bytes`].
    #[error("the plugin's output is {bytes} bytes, more than the limit of {limit}")]
    OutputTooLarge {
        /// Size of the output (see [`PluginEvent::size`]).
        bytes: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The hook returned something the contract does not allow.
    #[error("the plugin returned a bad answer: {0}")]
    BadOutput(String),
    /// The component does not export this hook.
    #[error("the plugin does not implement the {0} hook")]
    NoSuchHook(Hook),
    /// No instance could be had (pool exhausted, too many calls at once).
    #[error("the plugin is unavailable: {0}")]
    Unavailable(String),
}

impl Failure {
    /// A stable snake_case code for stats, logs and dead letters.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::OutOfFuel => "out_of_fuel",
            Failure::OutOfMemory => "out_of_memory",
            Failure::Trap(_) => "trap",
            Failure::OutputTooLarge { .. } => "output_too_large",
            Failure::BadOutput(_) => "bad_output",
            Failure::NoSuchHook(_) => "no_such_hook",
            Failure::Unavailable(_) => "unavailable",
        }
    }
}

/// Where a plugin's log lines go: its `log` import and its captured stdout
/// and stderr. Called from plugin calls, so it must be quick and must not
/// block on I/O.
pub trait LogSink: Send + Sync {
    /// Takes one line.
    fn line(&self, line: LogLine);
}

/// One line of a plugin's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Severity (stdout lines are `info`, stderr lines `warn`).
    pub level: LogLevel,
    /// Which channel the line came from.
    pub source: LogSource,
    /// The text, at most [`MAX_LINE_BYTES`](super::MAX_LINE_BYTES) bytes.
    pub message: String,
}

/// Severity of a [`LogLine`] (the WIT `log.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The wire name: `debug`, `info`, `warn`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The channel a [`LogLine`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// The `log` import.
    Log,
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

/// `text` cut to at most `max` bytes at a character boundary, with `…`
/// appended when something was cut.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_counts_strings_and_items() {
        let empty = PluginEvent::default();
        assert_eq!(empty.size(), 8 * SIZE_OVERHEAD_PER_ITEM);
        let event = PluginEvent {
            kind: "order.created".into(),
            data: "x".repeat(1000),
            audience: vec!["alice".into(), "bob".into()],
            ..PluginEvent::default()
        };
        assert_eq!(event.size(), 13 + 1000 + 8 + 10 * SIZE_OVERHEAD_PER_ITEM);
    }

    #[test]
    fn failure_codes_are_stable() {
        let all = [
            Failure::Timeout,
            Failure::OutOfFuel,
            Failure::OutOfMemory,
            Failure::Trap("x".into()),
            Failure::OutputTooLarge { bytes: 2, limit: 1 },
            Failure::BadOutput("x".into()),
            Failure::NoSuchHook(Hook::Deliver),
            Failure::Unavailable("x".into()),
        ];
        let codes: Vec<_> = all.iter().map(Failure::code).collect();
        assert_eq!(
            codes,
            [
                "timeout",
                "out_of_fuel",
                "out_of_memory",
                "trap",
                "output_too_large",
                "bad_output",
                "no_such_hook",
                "unavailable"
            ]
        );
        assert_eq!(
            Failure::OutputTooLarge { bytes: 2, limit: 1 }.to_string(),
            "the plugin's output is 2 bytes, more than the limit of 1"
        );
    }

    #[test]
    fn hooks_names() {
        let hooks = Hooks {
            publish: true,
            convert: false,
            deliver: true,
        };
        assert!(hooks.any());
        assert_eq!(hooks.list(), [Hook::Publish, Hook::Deliver]);
        assert!(hooks.exports(Hook::Deliver) && !hooks.exports(Hook::Convert));
        assert!(!Hooks::default().any());
    }

    #[test]
    fn truncate_cuts_at_char_boundaries() {
        assert_eq!(truncate("short".into(), 10), "short");
        let cut = truncate("ééééé".into(), 6);
        assert!(cut.len() <= 6, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("abcdef".into(), 4), "a…");
    }
}
