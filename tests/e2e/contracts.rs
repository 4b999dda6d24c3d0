//! Event contracts end to end: the built-in catalogue on a fresh node,
//! publish-time validation, and a contract registered on one node enforced
//! by another node on the same Redis.

use std::time::Duration;

use beacon_test_support::{Beacon, RedisServer, send, unique_name};
use serde_json::{Value, json};

fn example(name: &str) -> Value {
    let path = format!(
        "{}/../schemas/catalog/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn a_fresh_node_checks_events_against_the_builtin_catalogue() {
    let server = Beacon::builder()
        .arg("builtin-catalog", "true")
        .start()
        .await;
    let shop = server.create_tenant_with(json!({"id": "shop"})).await;
    let token = shop.token("42").await;
    let mut sub = shop.stream(&token).connect().await;
    sub.expect_connected().await;

    let invalid = shop
        .post_events(
            &json!({"type": "order.created", "data": example("order.created.invalid.json")}),
        )
        .await;
    let body = invalid.assert_error(422, "invalid_event");
    let paths: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/data/total"), "{body}");
    let unknown = shop
        .post_events(&json!({"type": "made.up", "data": {}}))
        .await;
    let body = unknown.assert_error(422, "unknown_type");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/v1/schemas/made.up/versions"),
        "{body}"
    );

    let id = shop
        .publish(json!({"type": "order.created", "subject": "order/IE-4486", "data": example("order.created.valid.json")}))
        .await;
    let events = sub.expect_ids(std::slice::from_ref(&id)).await;
    assert_eq!(
        events[0].data["version"], 1,
        "the envelope names the contract version"
    );
    sub.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_contract_registered_on_one_node_is_enforced_by_another() {
    let redis = RedisServer::start().await;
    let prefix = unique_name("contracts");
    let a = Beacon::start_with_redis(&redis.url(), &prefix).await;
    let b = Beacon::start_with_redis(&redis.url(), &prefix).await;
    let on_a = a.create_tenant_with(json!({"id": "acme"})).await;
    let on_b = on_a.on(&b);
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"total": {"type": "integer"}},
        "required": ["total"]
    });
    send(
        a.admin(reqwest::Method::POST, "/v1/schemas/invoice.issued/versions")
            .json(&schema),
    )
    .await
    .assert_status(201);
    // Node B learns of the new contract within a second.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let reply = on_b
            .post_events(&json!({"type": "invoice.issued", "data": {"total": 5}}))
            .await;
        if reply.status == 201 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B never accepted the new type: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = on_b
        .post_events(&json!({"type": "invoice.issued", "data": {"total": "5"}}))
        .await;
    reply.assert_error(422, "invalid_event");
    // An incompatible change is refused with reasons that point into the schema.
    let narrowed = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"total": {"type": "integer"}, "currency": {"type": "string"}},
        "required": ["total", "currency"]
    });
    let reply = send(
        b.admin(reqwest::Method::POST, "/v1/schemas/invoice.issued/versions")
            .json(&narrowed),
    )
    .await;
    let body = reply.assert_error(409, "incompatible_schema");
    assert!(!body["details"].as_array().unwrap().is_empty(), "{body}");
}
