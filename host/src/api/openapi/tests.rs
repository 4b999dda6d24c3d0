//! The document against the router, and the committed schema files
//! against the types.

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{OPENAPI_VERSION, components, document};
use crate::config::Settings;

/// Set to `1` to (re)write `schemas/beacon/` instead of comparing.
const UPDATE_ENV: &str = "BEACON_UPDATE_SCHEMAS";
const UPDATE_HINT: &str =
    "run `BEACON_UPDATE_SCHEMAS=1 cargo test -p beacon --lib openapi` and commit schemas/beacon/";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/beacon")
}

/// The routes `api::app` registers, read from its source: `(path, methods)`.
fn registered_routes() -> Vec<(String, Vec<String>)> {
    let source = include_str!("../mod.rs");
    let start = source.find("pub fn app(").unwrap();
    let end = source[start..].find(".with_state(").unwrap() + start;
    let router = &source[start..end];
    let mut routes = Vec::new();
    for call in router.split(".route(").skip(1) {
        let path = call.split('"').nth(1).unwrap().to_owned();
        let mut methods = Vec::new();
        for method in ["get", "post", "put", "delete", "patch"] {
            let bytes = call.as_bytes();
            for (at, _) in call.match_indices(&format!("{method}(")) {
                let before = at.checked_sub(1).map(|i| bytes[i]);
                if matches!(before, Some(b'(' | b'.' | b' ' | b'\n')) {
                    methods.push(method.to_owned());
                }
            }
        }
        assert!(!methods.is_empty(), "no method found for {path}");
        routes.push((path, methods));
    }
    assert!(routes.len() >= 10, "the route parser found only {routes:?}");
    routes
}

fn openapi_paths(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                out.insert((path.clone(), method.to_owned()));
            }
        }
    }
    out
}

#[test]
fn the_document_describes_every_route_and_nothing_else() {
    let doc = document();
    let text = serde_json::to_string(&doc).unwrap();
    let reparsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reparsed, doc);
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(version, OPENAPI_VERSION);

    let registered: BTreeSet<(String, String)> = registered_routes()
        .into_iter()
        .flat_map(|(path, methods)| methods.into_iter().map(move |m| (path.clone(), m)))
        .collect();
    let documented = openapi_paths(&doc);
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");

    for (path, method) in &documented {
        let op = &doc["paths"][path][method];
        assert!(op["operationId"].is_string(), "{method} {path}");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        // Every `{param}` of the path is declared.
        let declared: BTreeSet<String> = doc["paths"][path]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p)["name"].as_str().unwrap().to_owned())
            .collect();
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(declared.contains(name), "{path}: `{name}` not declared");
            }
        }
    }
    let stream = &doc["paths"]["/v1/stream"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        stream["text/event-stream"]["x-itemSchema"]["$ref"],
        "#/components/schemas/SseEvent"
    );
}

/// Follows a `$ref` (local JSON pointer) if `v` is one.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap(),
        None => v,
    }
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves_inside_the_document() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 30, "{}", found.len());
    for r in found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in components::names() {
        assert!(schemas.contains_key(name), "{name} is not a component");
    }
    let (_, conflicts) = components::build();
    assert!(
        conflicts.is_empty(),
        "types described differently as request and answer: {conflicts:?}"
    );
}

#[test]
fn doc_comments_become_descriptions() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["PublishEvent"]["properties"]["type"]["description"]
            .as_str()
            .unwrap()
            .contains("order.created")
    );
    assert_eq!(schemas["PublishEvent"]["required"], json!(["type", "data"]));
    assert_eq!(schemas["PublishEvent"]["additionalProperties"], false);
    assert_eq!(
        schemas["ErrorBody"]["required"],
        json!(["error", "message"])
    );
    assert_eq!(
        schemas["Overflow"]["properties"]["reason"]["const"],
        "slow_consumer"
    );
    for name in [
        "Connected",
        "Gap",
        "Overflow",
        "Shutdown",
        "Envelope",
        "Mode",
    ] {
        assert!(schemas[name]["description"].is_string(), "{name}");
    }
}

/// Every schema of `schemas/beacon/` is what the types generate; with
/// `BEACON_UPDATE_SCHEMAS=1` the files are written instead.
#[test]
fn committed_schemas_are_current() {
    let dir = schema_dir();
    let expected = components::files();
    let wanted: BTreeSet<&str> = expected.iter().map(|(name, _)| name.as_str()).collect();
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        for stale in present.iter().filter(|n| !wanted.contains(n.as_str())) {
            std::fs::remove_file(dir.join(stale)).unwrap();
        }
        for (name, text) in &expected {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let mut problems = Vec::new();
    for (name, text) in &expected {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(committed) if committed == *text => {}
            Ok(_) => problems.push(format!("{name} is stale")),
            Err(_) => problems.push(format!("{name} is missing")),
        }
    }
    for stale in present.iter().filter(|n| !wanted.contains(n.as_str())) {
        problems.push(format!("{stale} describes no type any more"));
    }
    assert!(
        problems.is_empty(),
        "schemas/beacon/ is out of date ({}): {UPDATE_HINT}",
        problems.join(", ")
    );
}

#[test]
fn schema_files_are_draft_2020_12_and_self_contained() {
    for (name, text) in components::files() {
        let schema: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert!(jsonschema::validator_for(&schema).is_ok(), "{name}");
        let mut found = Vec::new();
        refs(&schema, &mut found);
        for r in found {
            assert!(
                schema.pointer(r.strip_prefix('#').unwrap()).is_some(),
                "{name}: {r}"
            );
        }
    }
}

/// What the router answers for an unknown path.
fn fallback() -> Value {
    json!({"error": "not_found", "message": "no such endpoint"})
}

#[tokio::test]
async fn every_documented_route_is_served_and_the_document_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::defaults();
    settings.data_dir = dir.path().to_owned();
    settings.admin_token = Some("admin-token-for-openapi-tests".into());
    settings.builtin_catalog = false;
    let state = crate::server::start(settings, Default::default())
        .await
        .unwrap();
    let call = |method: &str, uri: &str| {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        crate::api::app(state.clone()).oneshot(request)
    };

    // The check itself tells the fallback apart.
    let response = call("GET", "/v1/nope").await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), fallback());

    for (path, methods) in registered_routes() {
        let uri = path
            .replace("{id}", "acme")
            .replace("{type}", "order.created")
            .replace("{n}", "1");
        for method in methods {
            let response = call(&method.to_uppercase(), &uri).await.unwrap();
            let status = response.status();
            let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert!(
                !(status == StatusCode::NOT_FOUND && body == fallback())
                    && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri} is not routed: {status} {body}"
            );
        }
    }

    let response = call("GET", "/openapi.json").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let bytes = to_bytes(response.into_body(), 1 << 22).await.unwrap();
    let served: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(served, document());
    state.shutdown.cancel();
}
