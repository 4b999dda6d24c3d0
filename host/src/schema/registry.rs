//! The registry a node holds: every contract, compiled once, in an
//! immutable snapshot that is swapped whole.
//!
//! Readers (every publish, every version view) take the current snapshot
//! with one atomic load (`arc-swap`) and never wait: not for a writer, not
//! for the store. Writers (admin calls on this node, and the watcher that
//! follows other nodes' changes) build a new snapshot — reusing the
//! compiled validator of every version already known, since versions are
//! immutable — and swap it in. They are serialised by one async mutex, so
//! a slow reload cannot overwrite a newer snapshot.
//!
//! # Propagation between nodes
//!
//! Every store keeps a revision number bumped by each write.
//! [`Registry::watch`] polls it every [`REFRESH_EVERY`] (one `GET` on
//! Redis) and reloads the catalogue when it changed, so a change made on
//! one node is live on every node within about that period. A node that
//! cannot reach the store keeps serving its last snapshot and logs a
//! warning; writes fail with an unavailable [`SchemaError::Backend`] meanwhile.
//! Registration re-reads the store first, so the compatibility check always
//! sees the versions other nodes registered, and the store's atomic
//! "append the next version" settles a race between two nodes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonschema::Validator;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::compat::{self, CheckResult, Mode};
use super::project::{project, projectable};
use super::store::{SharedContracts, StoredCatalogue};
use super::validate::{Invalid, compile, violations};
use super::{Contract, MAX_TYPES, MAX_VERSIONS, SchemaError, now_s};
pub use beacon_protocol::api::schemas::{TypeInfo, TypeSummary};
use beacon_protocol::envelope::{FieldError, valid_type};

/// How often [`Registry::watch`] polls the store's revision.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// How many times a registration retries when another node registered a
/// version of the same type between its check and its write.
const REGISTER_ATTEMPTS: usize = 3;

/// One version, compiled. Shared by successive snapshots.
struct Compiled {
    /// The contract as stored (`deprecated` is kept in [`Version`]).
    contract: Contract,
    /// `Err` if a stored schema no longer compiles on this node (it did
    /// when registered); events for that version are then rejected.
    validator: Result<Validator, String>,
}

struct Version {
    compiled: Arc<Compiled>,
    deprecated: bool,
}

impl Version {
    fn contract(&self) -> Contract {
        Contract {
            deprecated: self.deprecated,
            ..self.compiled.contract.clone()
        }
    }
}

struct Entry {
    mode: Mode,
    /// Ordered by version; normally exactly 1..=n.
    versions: Vec<Version>,
}

impl Entry {
    fn version(&self, n: u32) -> Option<&Version> {
        match self.versions.get((n as usize).wrapping_sub(1)) {
            Some(v) if v.compiled.contract.version == n => Some(v),
            _ => self
                .versions
                .iter()
                .find(|v| v.compiled.contract.version == n),
        }
    }
}

#[derive(Default)]
struct Snapshot {
    /// The store revision this snapshot reflects; `None` before the first load.
    revision: Option<u64>,
    types: HashMap<String, Entry>,
}

pub struct Registry {
    store: SharedContracts,
    snapshot: ArcSwap<Snapshot>,
    /// Serialises this node's writes and reloads. A tokio mutex: it is held
    /// across store calls. Readers never take it.
    writes: tokio::sync::Mutex<()>,
}

impl Registry {
    /// A registry with an empty catalogue; call [`refresh`](Self::refresh)
    /// (or [`open`](Self::open)) to load the store's.
    pub fn new(store: SharedContracts) -> Self {
        Registry {
            store,
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// A registry loaded from `store`.
    pub async fn open(store: SharedContracts) -> Result<Arc<Self>, SchemaError> {
        let registry = Arc::new(Registry::new(store));
        registry.refresh().await?;
        Ok(registry)
    }

    /// The backend's name, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Reloads from the store if its revision changed; true if it did.
    pub async fn refresh(&self) -> Result<bool, SchemaError> {
        let revision = self.store.revision().await?;
        if self.snapshot.load().revision == Some(revision) {
            return Ok(false);
        }
        let _writing = self.writes.lock().await;
        self.reload().await
    }

    /// Polls the store every `every` (normally [`REFRESH_EVERY`]) until
    /// `shutdown`, reloading on change. Store errors are logged, and the
    /// last snapshot stays in service.
    pub fn watch(self: &Arc<Self>, every: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
        let registry = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                match registry.refresh().await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("contract store reachable again");
                    }
                    Ok(_) => {}
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "contract store unreachable; serving the last catalogue");
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// Loads the store and swaps in a new snapshot. Caller holds `writes`.
    async fn reload(&self) -> Result<bool, SchemaError> {
        let stored = self.store.load().await?;
        let current = self.snapshot.load_full();
        if current.revision == Some(stored.revision) {
            return Ok(false);
        }
        let next = build(stored, &current);
        self.snapshot.store(Arc::new(next));
        Ok(true)
    }

    /// Registers a new version of `kind`'s contract and returns its number.
    ///
    /// The schema must be an acceptable draft 2020-12 schema (see
    /// [`compile`]) and compatible with the existing versions under the
    /// type's mode; otherwise [`SchemaError::InvalidSchema`] or
    /// [`SchemaError::Incompatible`] carries every reason. Registering a
    /// schema equal to the newest version stores nothing and returns that
    /// version, so retries and catalogue installs are idempotent.
    pub async fn register(&self, kind: &str, schema: Value) -> Result<u32, SchemaError> {
        if !valid_type(kind) {
            return Err(SchemaError::InvalidType(kind.to_owned()));
        }
        if beacon_protocol::envelope::reserved_type(kind) {
            return Err(SchemaError::ReservedType(kind.to_owned()));
        }
        compile(&schema)?;
        let _writing = self.writes.lock().await;
        for _ in 0..REGISTER_ATTEMPTS {
            self.reload().await?;
            let snapshot = self.snapshot.load_full();
            let entry = snapshot.types.get(kind);
            let versions = entry.map(|e| e.versions.as_slice()).unwrap_or_default();
            if let Some(latest) = versions.last()
                && latest.compiled.contract.schema == schema
            {
                return Ok(latest.compiled.contract.version);
            }
            let next = versions
                .last()
                .map_or(1, |v| v.compiled.contract.version + 1);
            if next > MAX_VERSIONS {
                return Err(SchemaError::Limit(format!(
                    "event type {kind:?} has {MAX_VERSIONS} versions, the most allowed"
                )));
            }
            if entry.is_none() && snapshot.types.len() >= MAX_TYPES {
                return Err(SchemaError::Limit(format!(
                    "the catalogue has {MAX_TYPES} event types, the most allowed"
                )));
            }
            let mode = entry.map(|e| e.mode).unwrap_or_default();
            let existing: Vec<(u32, &Value)> = versions
                .iter()
                .map(|v| (v.compiled.contract.version, &v.compiled.contract.schema))
                .collect();
            let reasons = compat::check(mode, &existing, &schema);
            if !reasons.is_empty() {
                return Err(SchemaError::Incompatible { mode, reasons });
            }
            let contract = Contract {
                kind: kind.to_owned(),
                version: next,
                schema: schema.clone(),
                deprecated: false,
                created_at: now_s(),
            };
            if self.store.append(&contract).await? {
                self.reload().await?;
                tracing::info!(kind, version = next, %mode, "contract registered");
                return Ok(next);
            }
        }
        Err(SchemaError::Conflict(kind.to_owned()))
    }

    /// Whether `schema` could be registered as `kind`'s next version now,
    /// with every reason if not. Stores nothing.
    pub async fn check(&self, kind: &str, schema: &Value) -> Result<CheckResult, SchemaError> {
        if !valid_type(kind) {
            return Err(SchemaError::InvalidType(kind.to_owned()));
        }
        let messages = match compile(schema) {
            Err(SchemaError::InvalidSchema(problems)) => problems,
            Err(SchemaError::Limit(message)) => vec![FieldError::new("", message)],
            Err(other) => return Err(other),
            Ok(_) => {
                self.refresh().await?;
                let snapshot = self.snapshot.load();
                match snapshot.types.get(kind) {
                    None => Vec::new(),
                    Some(entry) => {
                        let existing: Vec<(u32, &Value)> = entry
                            .versions
                            .iter()
                            .map(|v| (v.compiled.contract.version, &v.compiled.contract.schema))
                            .collect();
                        compat::check(entry.mode, &existing, schema)
                    }
                }
            }
        };
        Ok(CheckResult {
            compatible: messages.is_empty(),
            messages,
        })
    }

    /// Sets `kind`'s compatibility mode; it applies to the next registration.
    pub async fn set_mode(&self, kind: &str, mode: Mode) -> Result<(), SchemaError> {
        if !valid_type(kind) {
            return Err(SchemaError::InvalidType(kind.to_owned()));
        }
        let _writing = self.writes.lock().await;
        if !self.snapshot.load().types.contains_key(kind)
            && self.snapshot.load().types.len() >= MAX_TYPES
        {
            return Err(SchemaError::Limit(format!(
                "the catalogue has {MAX_TYPES} event types, the most allowed"
            )));
        }
        self.store.set_mode(kind, mode).await?;
        self.reload().await?;
        Ok(())
    }

    /// Deprecates one version: publishers can no longer use it, and it is
    /// skipped when they name no version. Idempotent.
    pub async fn deprecate(&self, kind: &str, version: u32) -> Result<(), SchemaError> {
        let _writing = self.writes.lock().await;
        if !self.store.deprecate(kind, version).await? {
            self.reload().await?;
            return Err(match self.snapshot.load().types.get(kind) {
                Some(e) if !e.versions.is_empty() => SchemaError::UnknownVersion {
                    kind: kind.to_owned(),
                    version,
                },
                _ => SchemaError::UnknownType(kind.to_owned()),
            });
        }
        self.reload().await?;
        Ok(())
    }

    /// Every event type, ordered by name.
    pub fn list(&self) -> Vec<TypeSummary> {
        let snapshot = self.snapshot.load();
        let mut out: Vec<TypeSummary> = snapshot
            .types
            .iter()
            .map(|(kind, e)| TypeSummary {
                kind: kind.clone(),
                mode: e.mode,
                latest: e.versions.last().map(|v| v.compiled.contract.version),
                default_version: e
                    .versions
                    .iter()
                    .rev()
                    .find(|v| !v.deprecated)
                    .map(|v| v.compiled.contract.version),
                versions: e
                    .versions
                    .iter()
                    .map(|v| v.compiled.contract.version)
                    .collect(),
                deprecated: e
                    .versions
                    .iter()
                    .filter(|v| v.deprecated)
                    .map(|v| v.compiled.contract.version)
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.kind.cmp(&b.kind));
        out
    }

    /// One event type with all its versions.
    pub fn get(&self, kind: &str) -> Option<TypeInfo> {
        let snapshot = self.snapshot.load();
        let e = snapshot.types.get(kind)?;
        Some(TypeInfo {
            kind: kind.to_owned(),
            mode: e.mode,
            versions: e.versions.iter().map(Version::contract).collect(),
        })
    }

    /// One version's contract.
    pub fn get_version(&self, kind: &str, version: u32) -> Option<Contract> {
        let snapshot = self.snapshot.load();
        snapshot
            .types
            .get(kind)?
            .version(version)
            .map(Version::contract)
    }

    /// The publish hot path: checks `data` against `kind`'s contract,
    /// version `version` or, if `None`, the newest not deprecated. Returns
    /// the version used (to record in the envelope). Violation pointers
    /// start with `/data`.
    pub fn validate(&self, kind: &str, version: Option<u32>, data: &Value) -> Result<u32, Invalid> {
        self.validate_at(kind, version, data, "")
    }

    /// [`validate`](Self::validate) for the event at pointer `at` of a
    /// request (e.g. `/3` in a batch): violations read `/3/data/...`.
    pub fn validate_at(
        &self,
        kind: &str,
        version: Option<u32>,
        data: &Value,
        at: &str,
    ) -> Result<u32, Invalid> {
        let snapshot = self.snapshot.load();
        let entry = match snapshot.types.get(kind) {
            Some(e) if !e.versions.is_empty() => e,
            _ => {
                return Err(Invalid::UnknownType {
                    kind: kind.to_owned(),
                });
            }
        };
        let chosen = match version {
            Some(n) => {
                let v = entry.version(n).ok_or_else(|| Invalid::UnknownVersion {
                    kind: kind.to_owned(),
                    version: n,
                })?;
                if v.deprecated {
                    return Err(Invalid::Deprecated {
                        kind: kind.to_owned(),
                        version: n,
                    });
                }
                v
            }
            None => entry
                .versions
                .iter()
                .rev()
                .find(|v| !v.deprecated)
                .ok_or_else(|| Invalid::AllDeprecated {
                    kind: kind.to_owned(),
                })?,
        };
        let used = chosen.compiled.contract.version;
        match &chosen.compiled.validator {
            Ok(validator) if validator.is_valid(data) => Ok(used),
            Ok(validator) => Err(Invalid::Violations(violations(validator, data, at))),
            Err(problem) => Err(Invalid::Violations(vec![FieldError::new(
                format!("{at}/data"),
                format!("version {used} of this contract cannot be used on this node: {problem}"),
            )])),
        }
    }

    /// A version view: `data`, published as version `published`, in the
    /// shape of version `wanted`. Unchanged (borrowed) when the versions are
    /// equal; otherwise projected onto `wanted` (when `wanted` is older) and
    /// validated against it. `Err(Invalid::Violations)` means the event
    /// cannot be shown as `wanted` (the versions are not additive); the
    /// subscriber should not receive it in that view.
    pub fn view<'d>(
        &self,
        kind: &str,
        published: u32,
        wanted: u32,
        data: &'d Value,
    ) -> Result<Cow<'d, Value>, Invalid> {
        if published == wanted {
            return Ok(Cow::Borrowed(data));
        }
        let snapshot = self.snapshot.load();
        let entry = snapshot
            .types
            .get(kind)
            .ok_or_else(|| Invalid::UnknownType {
                kind: kind.to_owned(),
            })?;
        let target = entry
            .version(wanted)
            .ok_or_else(|| Invalid::UnknownVersion {
                kind: kind.to_owned(),
                version: wanted,
            })?;
        let shaped = if wanted < published {
            project(data, &target.compiled.contract.schema)
        } else {
            data.clone()
        };
        match &target.compiled.validator {
            Ok(v) if v.is_valid(&shaped) => Ok(Cow::Owned(shaped)),
            Ok(v) => Err(Invalid::Violations(violations(v, &shaped, ""))),
            Err(problem) => Err(Invalid::Violations(vec![FieldError::new(
                "/data",
                problem.clone(),
            )])),
        }
    }

    /// Whether every event of version `from` can be shown as version `to`
    /// by projection (every reason if not). For a subscribe-time warning:
    /// [`view`](Self::view) checks each event anyway.
    pub fn projectable(&self, kind: &str, from: u32, to: u32) -> Result<Vec<FieldError>, Invalid> {
        let snapshot = self.snapshot.load();
        let entry = snapshot
            .types
            .get(kind)
            .ok_or_else(|| Invalid::UnknownType {
                kind: kind.to_owned(),
            })?;
        let find = |n| {
            entry.version(n).ok_or_else(|| Invalid::UnknownVersion {
                kind: kind.to_owned(),
                version: n,
            })
        };
        let (from, to) = (find(from)?, find(to)?);
        Ok(projectable(
            &from.compiled.contract.schema,
            &to.compiled.contract.schema,
        ))
    }
}

/// Builds a snapshot from the store's catalogue, reusing compiled versions
/// of `previous` whose schema is unchanged.
fn build(stored: StoredCatalogue, previous: &Snapshot) -> Snapshot {
    let mut types: HashMap<String, Entry> = HashMap::new();
    for contract in stored.contracts {
        let reused = previous
            .types
            .get(&contract.kind)
            .and_then(|e| e.version(contract.version))
            .filter(|v| v.compiled.contract.schema == contract.schema)
            .map(|v| Arc::clone(&v.compiled));
        let deprecated = contract.deprecated;
        let compiled = reused.unwrap_or_else(|| {
            let validator = compile(&contract.schema).map_err(|e| {
                tracing::error!(kind = %contract.kind, version = contract.version, error = %e,
                    "a stored contract does not compile");
                e.to_string()
            });
            Arc::new(Compiled {
                contract: Contract {
                    deprecated: false,
                    ..contract
                },
                validator,
            })
        });
        let entry = types
            .entry(compiled.contract.kind.clone())
            .or_insert_with(|| Entry {
                mode: Mode::default(),
                versions: Vec::new(),
            });
        entry.versions.push(Version {
            compiled,
            deprecated,
        });
    }
    for (kind, mode) in stored.modes {
        types
            .entry(kind)
            .or_insert_with(|| Entry {
                mode,
                versions: Vec::new(),
            })
            .mode = mode;
    }
    for entry in types.values_mut() {
        entry.versions.sort_by_key(|v| v.compiled.contract.version);
    }
    Snapshot {
        revision: Some(stored.revision),
        types,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::embedded;

    fn registry() -> Registry {
        Registry::new(Arc::new(embedded::in_memory().unwrap()))
    }

    fn order_v1() -> Value {
        json!({
            "type": "object",
            "properties": {
                "orderId": {"type": "string"},
                "total": {"type": "integer", "minimum": 0},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}
            },
            "required": ["orderId", "total", "currency"]
        })
    }

    fn order_v2() -> Value {
        let mut s = order_v1();
        s["properties"]["channel"] = json!({"type": "string", "enum": ["web", "app"]});
        s
    }

    #[tokio::test]
    async fn registers_versions_in_order_and_idempotently() {
        let r = registry();
        assert_eq!(r.register("order.created", order_v1()).await.unwrap(), 1);
        assert_eq!(r.register("order.created", order_v1()).await.unwrap(), 1);
        assert_eq!(r.register("order.created", order_v2()).await.unwrap(), 2);
        let info = r.get("order.created").unwrap();
        assert_eq!(info.versions.len(), 2);
        assert_eq!(info.mode, Mode::Backward);
        assert_eq!(
            r.get_version("order.created", 2).unwrap().schema,
            order_v2()
        );
        assert_eq!(r.get_version("order.created", 3), None);
        let list = r.list();
        assert_eq!(list[0].kind, "order.created");
        assert_eq!(
            (list[0].latest, list[0].default_version),
            (Some(2), Some(2))
        );
    }

    #[tokio::test]
    async fn rejects_incompatible_and_invalid_schemas_with_every_reason() {
        let r = registry();
        r.register("order.created", order_v1()).await.unwrap();
        let mut bad = order_v1();
        bad["properties"]["total"] = json!({"type": "number"});
        bad["properties"]["note"] = json!({"type": "string"});
        bad["required"] = json!(["orderId", "total", "currency", "note"]);
        // Widening is fine backward; the new required property is not.
        match r.register("order.created", bad.clone()).await {
            Err(SchemaError::Incompatible { mode, reasons }) => {
                assert_eq!(mode, Mode::Backward);
                assert_eq!(reasons.len(), 1);
                assert_eq!(reasons[0].path, "/properties/note");
            }
            other => panic!("{other:?}"),
        }
        let checked = r.check("order.created", &bad).await.unwrap();
        assert!(!checked.compatible && checked.messages.len() == 1);
        assert!(
            r.check("order.created", &order_v2())
                .await
                .unwrap()
                .compatible
        );
        assert_eq!(
            r.get("order.created").unwrap().versions.len(),
            1,
            "check stores nothing"
        );
        r.set_mode("order.created", Mode::Full).await.unwrap();
        match r.register("order.created", bad.clone()).await {
            // Forward now also sees the dropped minimum and the widened type.
            Err(SchemaError::Incompatible { reasons, .. }) => {
                assert_eq!(reasons.len(), 3, "{reasons:?}")
            }
            other => panic!("{other:?}"),
        }
        r.set_mode("order.created", Mode::None).await.unwrap();
        assert_eq!(r.register("order.created", bad).await.unwrap(), 2);
        assert!(matches!(
            r.register("order.created", json!({"type": "nope"})).await,
            Err(SchemaError::InvalidSchema(_))
        ));
        assert!(matches!(
            r.register("bad type", order_v1()).await,
            Err(SchemaError::InvalidType(_))
        ));
        let invalid = r.check("order.created", &json!({"type": 5})).await.unwrap();
        assert!(!invalid.compatible && invalid.messages[0].path == "/type");
    }

    #[tokio::test]
    async fn validates_with_pointers_and_picks_versions() {
        let r = registry();
        r.register("order.created", order_v1()).await.unwrap();
        r.register("order.created", order_v2()).await.unwrap();
        let good = json!({"orderId": "IE-4486", "total": 85000, "currency": "KES"});
        assert_eq!(r.validate("order.created", None, &good), Ok(2));
        assert_eq!(r.validate("order.created", Some(1), &good), Ok(1));
        let bad = json!({"orderId": "IE-4486", "total": -1, "currency": "KES", "channel": "fax"});
        match r.validate_at("order.created", None, &bad, "/1") {
            Err(Invalid::Violations(v)) => {
                let mut p: Vec<_> = v.iter().map(|f| f.path.as_str()).collect();
                p.sort();
                assert_eq!(p, ["/1/data/channel", "/1/data/total"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.validate("order.created", Some(3), &good),
            Err(Invalid::UnknownVersion {
                kind: "order.created".into(),
                version: 3
            })
        );
        match r.validate("nope.created", None, &good) {
            Err(e @ Invalid::UnknownType { .. }) => {
                assert!(
                    e.message()
                        .contains("POST /v1/schemas/nope.created/versions")
                )
            }
            other => panic!("{other:?}"),
        }
        r.deprecate("order.created", 2).await.unwrap();
        assert_eq!(r.validate("order.created", None, &good), Ok(1));
        assert_eq!(
            r.validate("order.created", Some(2), &good),
            Err(Invalid::Deprecated {
                kind: "order.created".into(),
                version: 2
            })
        );
        r.deprecate("order.created", 1).await.unwrap();
        assert!(matches!(
            r.validate("order.created", None, &good),
            Err(Invalid::AllDeprecated { .. })
        ));
        assert_eq!(r.list()[0].deprecated, vec![1, 2]);
        assert!(matches!(
            r.deprecate("order.created", 9).await,
            Err(SchemaError::UnknownVersion { .. })
        ));
        assert!(matches!(
            r.deprecate("x.y", 1).await,
            Err(SchemaError::UnknownType(_))
        ));
    }

    #[tokio::test]
    async fn views_project_additive_versions() {
        let r = registry();
        r.register("order.created", order_v1()).await.unwrap();
        r.register("order.created", order_v2()).await.unwrap();
        let v2_event = json!({"orderId": "IE-1", "total": 5, "currency": "KES", "channel": "web"});
        let seen = r.view("order.created", 2, 1, &v2_event).unwrap();
        assert_eq!(
            *seen,
            json!({"orderId": "IE-1", "total": 5, "currency": "KES"})
        );
        assert!(matches!(
            r.view("order.created", 2, 2, &v2_event).unwrap(),
            Cow::Borrowed(_)
        ));
        // A v1 event is a valid v2 event as it is.
        let v1_event = json!({"orderId": "IE-1", "total": 5, "currency": "KES"});
        assert_eq!(*r.view("order.created", 1, 2, &v1_event).unwrap(), v1_event);
        assert!(r.projectable("order.created", 2, 1).unwrap().is_empty());
        assert!(matches!(
            r.view("order.created", 2, 7, &v2_event),
            Err(Invalid::UnknownVersion { .. })
        ));
    }

    #[tokio::test]
    async fn compiled_versions_are_reused_across_snapshots() {
        let r = registry();
        r.register("a.b", order_v1()).await.unwrap();
        let before = Arc::clone(&r.snapshot.load().types["a.b"].versions[0].compiled);
        r.register("a.b", order_v2()).await.unwrap();
        let after = Arc::clone(&r.snapshot.load().types["a.b"].versions[0].compiled);
        assert!(Arc::ptr_eq(&before, &after));
    }

    #[tokio::test]
    async fn a_mode_can_be_set_before_the_first_version() {
        let r = registry();
        r.set_mode("x.y", Mode::FullTransitive).await.unwrap();
        assert!(matches!(
            r.validate("x.y", None, &json!({})),
            Err(Invalid::UnknownType { .. })
        ));
        r.register("x.y", order_v1()).await.unwrap();
        assert_eq!(r.get("x.y").unwrap().mode, Mode::FullTransitive);
    }

    /// The worked example of `docs/contracts.md`, section 3.
    #[tokio::test]
    async fn the_documented_worked_example() {
        let r = registry();
        let v1: Value =
            serde_json::from_str(include_str!("../../../schemas/catalog/order.created.json"))
                .unwrap();
        assert_eq!(r.register("order.created", v1.clone()).await.unwrap(), 1);
        let mut v2 = v1;
        v2["properties"]["channel"] = json!({"type": "string", "enum": ["web", "app", "pos"]});
        assert!(r.check("order.created", &v2).await.unwrap().compatible);
        assert_eq!(r.register("order.created", v2.clone()).await.unwrap(), 2);
        let mut v3 = v2;
        v3["required"]
            .as_array_mut()
            .unwrap()
            .push(json!("channel"));
        v3["properties"]["total"]["minimum"] = json!(100);
        let Err(SchemaError::Incompatible { reasons, .. }) = r.register("order.created", v3).await
        else {
            panic!("v3 must be rejected")
        };
        let got: Vec<_> = reasons
            .iter()
            .map(|f| (f.path.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/properties/channel",
                    "property \"channel\" is required by the new schema but not by version 2, whose documents may lack it (backward check against version 2)"
                ),
                (
                    "/properties/total/minimum",
                    "the new schema raises the lower bound to 100 (backward check against version 2)"
                ),
            ]
        );
    }
}
