//! JSON Schemas (draft 2020-12) of Beacon's own wire types, generated from
//! the Rust types with `schemars`.
//!
//! Two uses: the `components/schemas` of the OpenAPI document, and one
//! file per type under `schemas/beacon/` (committed; a test fails when
//! they are stale). Requests are described as they are deserialised,
//! answers as they are serialised (an optional field of an answer is
//! absent, or `null`, exactly as the server writes it).

use beacon_protocol::api::dead_letters::DeadLetterPage;
use beacon_protocol::api::health::{Health, Readiness};
use beacon_protocol::api::keys::{CreateKey, CreatedKey, JwtKeys, KeyList, SetJwtKeys};
use beacon_protocol::api::plugins::{
    Activate, DeliverTest, Logs, PluginList, PluginView, TestResult, Uploaded,
};
use beacon_protocol::api::presence::{Online, PresenceChange};
use beacon_protocol::api::publish::{NotStored, PartiallyPublished, Published, PublishedBatch};
use beacon_protocol::api::schemas::{
    CheckResult, Contract, Deprecated, Mode, ModeSet, Registered, SchemaList, SetMode, TypeInfo,
};
use beacon_protocol::api::stats::{Stats, TenantStats};
use beacon_protocol::api::tenants::{
    CreateTenant, CreatedTenant, TenantInfo, TenantLimits, TenantList, UpdateTenant,
};
use beacon_protocol::api::tokens::{MintToken, Minted};
use beacon_protocol::control::{
    Closed, Connected, Gap, Incompatible, Overflow, Shutdown, TokenExpired,
};
use beacon_protocol::envelope::{Envelope, FieldError, PublishEvent};
use beacon_protocol::error::ErrorBody;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value};

/// Which way a type crosses the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Sent by clients: described as deserialised.
    Request,
    /// Sent by the server: described as serialised.
    Answer,
}

/// One described type: its schema name and how to generate it.
struct Described {
    name: &'static str,
    direction: Direction,
    /// Adds the type to a generator; returns the `$ref` (or inline) schema.
    subschema: fn(&mut schemars::SchemaGenerator) -> Schema,
    /// The type's root schema (draft 2020-12, with its own `$defs`).
    root: fn(SchemaSettings) -> Schema,
}

fn described<T: JsonSchema>(name: &'static str, direction: Direction) -> Described {
    Described {
        name,
        direction,
        subschema: |generator| generator.subschema_for::<T>(),
        root: |settings| settings.into_generator().into_root_schema_for::<T>(),
    }
}

/// Every described type, by its schema name.
fn types() -> Vec<Described> {
    use Direction::{Answer, Request};
    vec![
        described::<PublishEvent>("PublishEvent", Request),
        described::<CreateTenant>("CreateTenant", Request),
        described::<CreateKey>("CreateKey", Request),
        described::<UpdateTenant>("UpdateTenant", Request),
        described::<SetJwtKeys>("SetJwtKeys", Request),
        described::<MintToken>("MintToken", Request),
        described::<SetMode>("SetMode", Request),
        described::<Activate>("Activate", Request),
        described::<DeliverTest>("DeliverTest", Request),
        described::<ErrorBody>("ErrorBody", Answer),
        described::<FieldError>("FieldError", Answer),
        described::<Published>("Published", Answer),
        described::<PublishedBatch>("PublishedBatch", Answer),
        described::<PartiallyPublished>("PartiallyPublished", Answer),
        described::<NotStored>("NotStored", Answer),
        described::<Envelope>("Envelope", Answer),
        described::<Connected>("Connected", Answer),
        described::<Gap>("Gap", Answer),
        described::<Incompatible>("Incompatible", Answer),
        described::<Overflow>("Overflow", Answer),
        described::<Shutdown>("Shutdown", Answer),
        described::<TokenExpired>("TokenExpired", Answer),
        described::<Closed>("Closed", Answer),
        described::<PresenceChange>("PresenceChange", Answer),
        described::<CreatedTenant>("CreatedTenant", Answer),
        described::<TenantInfo>("TenantInfo", Answer),
        described::<TenantList>("TenantList", Answer),
        described::<CreatedKey>("CreatedKey", Answer),
        described::<KeyList>("KeyList", Answer),
        described::<JwtKeys>("JwtKeys", Answer),
        described::<Minted>("Minted", Answer),
        described::<Registered>("Registered", Answer),
        described::<SchemaList>("SchemaList", Answer),
        described::<TypeInfo>("TypeInfo", Answer),
        described::<Contract>("Contract", Answer),
        described::<Mode>("Mode", Answer),
        described::<ModeSet>("ModeSet", Answer),
        described::<CheckResult>("CheckResult", Answer),
        described::<Deprecated>("Deprecated", Answer),
        described::<Health>("Health", Answer),
        described::<Readiness>("Readiness", Answer),
        described::<Stats>("Stats", Answer),
        described::<TenantStats>("TenantStats", Answer),
        described::<Online>("Online", Answer),
        described::<PluginList>("PluginList", Answer),
        described::<PluginView>("PluginView", Answer),
        described::<Uploaded>("Uploaded", Answer),
        described::<Logs>("Logs", Answer),
        described::<TestResult>("TestResult", Answer),
        described::<DeadLetterPage>("DeadLetterPage", Answer),
        described::<TenantLimits>("TenantLimits", Request),
    ]
}

fn settings(direction: Direction) -> SchemaSettings {
    let settings = SchemaSettings::draft2020_12();
    match direction {
        Direction::Request => settings.for_deserialize(),
        Direction::Answer => settings.for_serialize(),
    }
}

/// Joins the lines of each paragraph of every `description` (doc
/// comments are wrapped at 100 columns; the schema should not be).
fn unwrap_descriptions(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|paragraph| {
                                paragraph
                                    .lines()
                                    .map(str::trim)
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => unwrap_descriptions(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// The `components/schemas` of the OpenAPI document: every described type
/// and the types they use, referenced as `#/components/schemas/<name>`.
pub fn components() -> Map<String, Value> {
    build().0
}

/// The components, and the names of types whose request and answer
/// schemas differ (the request one is kept; the tests want none).
pub(super) fn build() -> (Map<String, Value>, Vec<String>) {
    let mut out = Map::new();
    let mut conflicts = Vec::new();
    for direction in [Direction::Request, Direction::Answer] {
        let mut generator = settings(direction)
            .with(|s| {
                s.definitions_path = "/components/schemas".into();
                s.meta_schema = None;
            })
            .into_generator();
        let mut inline = Vec::new();
        for t in types().iter().filter(|t| t.direction == direction) {
            let schema = (t.subschema)(&mut generator);
            if schema.get("$ref").is_none() {
                inline.push((t.name.to_owned(), schema.to_value()));
            }
        }
        for (name, mut schema) in generator.take_definitions(true).into_iter().chain(inline) {
            unwrap_descriptions(&mut schema);
            match out.get(&name) {
                Some(existing) if *existing != schema => conflicts.push(name),
                _ => {
                    out.insert(name, schema);
                }
            }
        }
    }
    (out, conflicts)
}

/// The files of `schemas/beacon/`: `(file name, contents)`, one per
/// described type, pretty JSON with a trailing newline, sorted by name.
pub fn files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = types()
        .iter()
        .map(|t| {
            let mut schema = (t.root)(settings(t.direction)).to_value();
            unwrap_descriptions(&mut schema);
            let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            text.push('\n');
            (format!("{}.json", t.name), text)
        })
        .collect();
    files.sort();
    files
}

/// The schema names of the described types (each also a component).
pub fn names() -> Vec<&'static str> {
    types().iter().map(|t| t.name).collect()
}
