//! A tenant's WebAssembly plugins (API key with the `plugins` scope):
//! `/v1/plugins/...` — uploaded versions, the activation that runs one,
//! quarantine, counters, log lines and dry runs.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest plugin name.
pub const MAX_NAME_LEN: usize = 63;
/// Log lines each node keeps per plugin, and the most one request returns.
pub const MAX_LOG_LINES: usize = 500;

/// Whether `name` is a plugin name: 1-63 characters of `a-z 0-9 -`,
/// starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Which hooks a component exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HooksRecord {
    /// `on-publish`: sees, changes, drops or rejects each published event.
    pub publish: bool,
    /// `convert`: turns an event into an older contract version.
    pub convert: bool,
    /// `deliver`: decides which subscribers receive an event.
    pub deliver: bool,
}

impl HooksRecord {
    /// Whether the component exports `hook`.
    pub fn exports(&self, hook: Hook) -> bool {
        match hook {
            Hook::Publish => self.publish,
            Hook::Convert => self.convert,
            Hook::Deliver => self.deliver,
        }
    }

    /// The exported hooks, in the order publish, convert, deliver.
    pub fn hooks(&self) -> Vec<Hook> {
        Hook::ALL
            .into_iter()
            .filter(|hook| self.exports(*hook))
            .collect()
    }

    /// The wire names of the exported hooks, in the same order.
    pub fn names(&self) -> Vec<&'static str> {
        self.hooks().into_iter().map(Hook::as_str).collect()
    }
}

/// One hook of the plugin contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// `on-publish`: sees, changes, drops or rejects each published event.
    Publish,
    /// `convert`: turns an event into an older contract version.
    Convert,
    /// `deliver`: decides which subscribers receive an event.
    Deliver,
}

impl Hook {
    /// Every hook, in contract order.
    pub const ALL: [Hook; 3] = [Hook::Publish, Hook::Convert, Hook::Deliver];

    /// The wire name: `publish`, `convert`, `deliver`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Publish => "publish",
            Hook::Convert => "convert",
            Hook::Deliver => "deliver",
        }
    }

    /// The hook of a wire name.
    pub fn parse(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.as_str() == name)
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a component says about itself (its `describe` export).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InfoRecord {
    /// The name the component gives itself.
    pub name: String,
    /// The component's own version string.
    pub version: String,
    /// Event type patterns the component is meant for.
    pub types: Vec<String>,
}

/// One stored version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VersionRecord {
    /// 1, 2, 3 … per tenant and plugin name.
    pub version: u32,
    /// `sha256:<64 hex>` of the component.
    pub digest: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// The hooks the component exports.
    pub hooks: HooksRecord,
    /// What the component says about itself.
    pub info: InfoRecord,
    /// When the version was stored, in Unix milliseconds.
    pub created_ms: u64,
}

/// What happens to an event when an active plugin fails on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The event goes on as if the plugin were not there.
    #[default]
    FailOpen,
    /// The event is stopped (and kept as a dead letter).
    FailClosed,
}

impl OnError {
    /// The wire name: `fail_open`, `fail_closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::FailOpen => "fail_open",
            OnError::FailClosed => "fail_closed",
        }
    }
}

/// A plugin's own per-call limits, lower than its tenant's; absent fields
/// take the tenant's limits (or the server's defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LimitOverrides {
    /// Wall time one call may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Instructions (wasm fuel) one call may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Linear memory of one instance, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Largest event or answer the plugin may return, in bytes of JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
}

impl LimitOverrides {
    /// Whether no limit is overridden.
    pub fn is_empty(&self) -> bool {
        *self == LimitOverrides::default()
    }
}

/// Which version of a plugin runs, on what, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Activation {
    /// The active version (an existing one).
    pub version: u32,
    /// Event type patterns the plugin runs on.
    pub types: Vec<String>,
    /// Position among the tenant's plugins: lower runs first.
    pub order: i32,
    /// What happens to an event when the plugin fails on it.
    pub on_error: OnError,
    /// Lower limits than the tenant's for this plugin (a higher value has no effect).
    #[serde(default)]
    pub limits: LimitOverrides,
    /// When this activation was set, in Unix milliseconds.
    pub activated_ms: u64,
}

/// Why a plugin was taken out of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Quarantine {
    /// Since when, in Unix milliseconds.
    pub since_ms: u64,
    /// How many failures in a row, and the last one.
    pub reason: String,
    /// Failures counted before the plugin was quarantined.
    pub failures: u32,
}

/// A plugin's counters as `GET /v1/stats` shows them (this node, since the
/// plugin was first activated here).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PluginStatsView {
    /// Hook calls made (quarantine skips not included).
    pub calls: u64,
    /// Publish hook: events stored unchanged.
    pub keeps: u64,
    /// Publish hook: events replaced by the plugin's version.
    pub modifies: u64,
    /// Publish hook: events dropped.
    pub drops: u64,
    /// Publish hook: events refused (422 to the publisher).
    pub rejects: u64,
    /// Deliver hook: subscriber groups that received an event.
    pub allows: u64,
    /// Deliver hook: subscriber groups an event was held back from.
    pub denies: u64,
    /// Convert hook: events converted.
    pub converts: u64,
    /// Calls that failed (trap, timeout, memory, fuel, bad output).
    pub failures: u64,
    /// Events that passed a quarantined plugin without a call.
    pub skipped: u64,
    /// Events this plugin sent to dead letters.
    pub dead_letters: u64,
    /// Call latency percentiles, microseconds.
    pub latency_us: LatencyView,
}

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LatencyView {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest call.
    pub max: u64,
}

/// One line of a plugin's log, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LogEntry {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `debug`, `info`, `warn` or `error`.
    pub level: Cow<'static, str>,
    /// `log` (the log import), `stdout`, `stderr`, or `host` (written by
    /// Beacon about the plugin: failures, quarantine).
    pub source: Cow<'static, str>,
    /// The line's text.
    pub message: String,
}

/// A plugin as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PluginView {
    /// The plugin's name: 1-63 characters of `a-z 0-9 -`, starting with a
    /// letter or digit.
    pub name: String,
    /// Every uploaded version, oldest first.
    pub versions: Vec<VersionRecord>,
    /// The active version and how it runs; `null` if not activated.
    pub activation: Option<Activation>,
    /// Set while the plugin is quarantined (skipped per its policy), else `null`.
    pub quarantine: Option<Quarantine>,
    /// Counters on the node that answers.
    pub stats: PluginStatsView,
}

/// `GET /v1/plugins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PluginList {
    /// Every plugin of the tenant, ordered by name.
    pub plugins: Vec<PluginView>,
}

/// A version was uploaded (201), or the same bytes were already a version (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Uploaded {
    /// The plugin's name.
    pub name: String,
    /// The version's number: 1, 2, 3 … per plugin (the existing one when
    /// the same bytes were uploaded before).
    pub version: u32,
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// The hooks the component exports, in the order publish, convert, deliver.
    pub hooks: Vec<Hook>,
    /// What the plugin says about itself (`describe`).
    pub info: InfoRecord,
    /// Size in bytes.
    pub size: u64,
}

/// `PUT /v1/plugins/{name}`: which version runs, for which types, in
/// which order, and what happens when it fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Activate {
    /// The version to run (an older one rolls back).
    pub version: u32,
    /// Event type patterns (`order.*`); default: what the plugin's
    /// `describe` names, else every type.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// Position among the tenant's plugins: lower runs first (default 0;
    /// ties by name).
    #[serde(default)]
    pub order: i32,
    /// `fail_open` (default): on a failure the event goes on unchanged;
    /// `fail_closed`: it goes to dead letters.
    #[serde(default)]
    pub on_error: OnError,
    /// Lower limits than the tenant's for this plugin.
    #[serde(default)]
    pub limits: LimitOverrides,
}

impl Activate {
    /// Runs `version` with every other setting at its default.
    pub fn version(version: u32) -> Self {
        Activate {
            version,
            types: None,
            order: 0,
            on_error: OnError::FailOpen,
            limits: LimitOverrides::default(),
        }
    }
}

/// `GET /v1/plugins/{name}/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Logs {
    /// Oldest first.
    pub lines: Vec<LogEntry>,
}

/// `GET /v1/plugins/{name}/logs` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// The most recent lines to return (default 100, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `POST /v1/plugins/{name}/test` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestQuery {
    /// The version to test (default: the active one, else the newest).
    #[serde(default)]
    pub version: Option<u32>,
    /// `publish` (default if exported), `convert` or `deliver`.
    #[serde(default)]
    pub hook: Option<String>,
    /// For `convert`: the version to convert to.
    #[serde(default)]
    pub to_version: Option<u32>,
}

/// The body of a deliver test: the event and the subscriber groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DeliverTest {
    /// The event, as `POST /v1/events` takes it.
    pub event: Value,
    /// The subscriber groups the hook decides for (at most 100).
    pub subscribers: Vec<TestSubscriber>,
}

/// One subscriber group of a deliver test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TestSubscriber {
    /// The subscribers' user id (the token's `sub`).
    pub user_id: String,
    /// The token claims, a JSON object.
    #[serde(default)]
    pub claims: Value,
    /// The type patterns the subscribers asked for (`types` of the stream).
    #[serde(default)]
    pub types: Vec<String>,
    /// The subject patterns the subscribers asked for (`subjects` of the stream).
    #[serde(default)]
    pub subjects: Vec<String>,
}

/// What a hook decided in a dry run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    /// Publish: the event goes on unchanged.
    Keep,
    /// Publish: the event goes on as the plugin changed it (`output`).
    Modify,
    /// Publish: the event is not stored (`reason`).
    Drop,
    /// Publish: the request is refused (`reason`).
    Reject,
    /// Convert: the event in the version asked for (`output`).
    Converted,
    /// Convert: the plugin cannot convert it (`reason`).
    Refused,
    /// Deliver: one answer per subscriber group (`deliver`).
    Decided,
    /// The call failed (`failure`, `reason`).
    Failed,
}

impl TestOutcome {
    /// The wire name, e.g. `keep`, `converted`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestOutcome::Keep => "keep",
            TestOutcome::Modify => "modify",
            TestOutcome::Drop => "drop",
            TestOutcome::Reject => "reject",
            TestOutcome::Converted => "converted",
            TestOutcome::Refused => "refused",
            TestOutcome::Decided => "decided",
            TestOutcome::Failed => "failed",
        }
    }
}

impl std::fmt::Display for TestOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a dry run: nothing is stored, no counter moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TestResult {
    /// The version that ran.
    pub version: u32,
    /// The hook that ran.
    pub hook: Hook,
    /// What the hook decided, or `failed`.
    pub outcome: TestOutcome,
    /// The event the plugin returned (modify, convert).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The deliver answers, one per subscriber group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliver: Option<Vec<bool>>,
    /// The plugin's reason (drop, reject, refused) or the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The failure code (`timeout`, `trap`, ...) when `outcome` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// What the plugin logged during the call.
    pub logs: Vec<LogEntry>,
    /// Time of the call, microseconds.
    pub duration_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        for ok in ["a", "display-amount", "1x", &"a".repeat(MAX_NAME_LEN)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "a b", &"a".repeat(MAX_NAME_LEN + 1)] {
            assert!(!valid_name(bad), "{bad}");
        }
        let hooks = HooksRecord {
            publish: true,
            convert: false,
            deliver: true,
        };
        assert_eq!(hooks.names(), ["publish", "deliver"]);
    }

    #[test]
    fn hooks_and_outcomes_keep_their_wire_names() {
        for hook in Hook::ALL {
            let wire = serde_json::to_value(hook).unwrap();
            assert_eq!(wire, hook.as_str());
            assert_eq!(Hook::parse(hook.as_str()), Some(hook));
            assert_eq!(serde_json::from_value::<Hook>(wire).unwrap(), hook);
        }
        assert_eq!(Hook::parse("on_publish"), None);
        let outcomes = [
            (TestOutcome::Keep, "keep"),
            (TestOutcome::Modify, "modify"),
            (TestOutcome::Drop, "drop"),
            (TestOutcome::Reject, "reject"),
            (TestOutcome::Converted, "converted"),
            (TestOutcome::Refused, "refused"),
            (TestOutcome::Decided, "decided"),
            (TestOutcome::Failed, "failed"),
        ];
        for (outcome, name) in outcomes {
            assert_eq!(serde_json::to_value(outcome).unwrap(), name);
            assert_eq!(outcome.to_string(), name);
        }
    }

    #[test]
    fn an_answer_with_absent_optional_fields_reads_back() {
        let result: TestResult = serde_json::from_str(
            r#"{"version":1,"hook":"publish","outcome":"keep","logs":[],"duration_us":3}"#,
        )
        .unwrap();
        assert_eq!((result.output, result.failure), (None, None));
        let line: LogEntry =
            serde_json::from_str(r#"{"time_ms":1,"level":"info","source":"host","message":"m"}"#)
                .unwrap();
        assert_eq!((&*line.level, &*line.source), ("info", "host"));
    }
}
