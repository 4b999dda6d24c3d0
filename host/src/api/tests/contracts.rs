//! Contracts at publish: events checked against their schemas, and the
//! built-in catalogue left out.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::api::testing::{ADMIN, assert_error, node};

#[tokio::test]
async fn publish_checks_events_against_their_contracts() {
    let n = node(|_| {}).await;
    let (s, b) = n
        .json("POST", "/v1/tenants", Some(ADMIN), json!({"id": "strict"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let key = b["api_key"].as_str().unwrap().to_owned();
    let publish = |body: Value| {
        let (n, key) = (&n, key.clone());
        async move { n.json("POST", "/v1/events", Some(&key), body).await }
    };
    // Unknown types are refused with a hint on how to register one.
    let (s, b) = publish(json!({"type": "made.up", "data": {}})).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "unknown_type");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/schemas/made.up/versions"),
        "{b}"
    );
    // The built-in catalogue is installed on first start: its contracts apply.
    let valid: Value = serde_json::from_str(include_str!(
        "../../../../schemas/catalog/examples/order.created.valid.json"
    ))
    .unwrap();
    let invalid: Value = serde_json::from_str(include_str!(
        "../../../../schemas/catalog/examples/order.created.invalid.json"
    ))
    .unwrap();
    let (s, b) = publish(json!({"type": "order.created", "data": invalid})).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_event");
    let paths: Vec<&str> = b["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/data/total") && paths.contains(&"/data/currency"),
        "{paths:?}"
    );
    // In a batch every violation names its event, and nothing is stored.
    let (s, b) = publish(json!([
        {"type": "order.created", "data": valid},
        {"type": "order.created", "data": invalid},
        {"type": "made.up", "data": 1}
    ]))
    .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_event");
    let paths: Vec<&str> = b["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/1/data/total") && paths.contains(&"/2/type"),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.starts_with("/0")), "{paths:?}");
    let read = n
        .state
        .log
        .read("strict", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    assert!(read.events.is_empty());
    // A valid event is stored with the contract version it was checked against.
    let (s, b) = publish(json!({"type": "order.created", "data": valid})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let read = n
        .state
        .log
        .read("strict", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    let envelope: Value = serde_json::from_str(&read.events[0].envelope).unwrap();
    assert_eq!(envelope["version"], 1);
    let (s, b) = publish(json!({"type": "order.created", "data": valid, "version": 7})).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "unknown_version");
}

#[tokio::test]
async fn the_builtin_catalogue_can_be_left_out() {
    let n = node(|s| s.builtin_catalog = false).await;
    let (s, b) = n.json("GET", "/v1/schemas", Some(ADMIN), Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["schemas"].as_array().unwrap().len(), 0);
    let full = node(|_| {}).await;
    let (_, b) = full
        .json("GET", "/v1/schemas", Some(ADMIN), Value::Null)
        .await;
    assert_eq!(
        b["schemas"].as_array().unwrap().len(),
        crate::schema::catalog::builtin().unwrap().len()
    );
}
