//! Health probes and unknown routes.

use axum::http::StatusCode;
use serde_json::Value;

use crate::api::testing::{assert_error, node};

#[tokio::test]
async fn health_and_unknown_routes() {
    let n = node(|_| {}).await;
    let (s, b) = n.json("GET", "/healthz", None, Value::Null).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = n.json("GET", "/readyz", None, Value::Null).await;
    assert_eq!((s, b["log"].as_str()), (StatusCode::OK, Some("embedded")));
    let (s, b) = n.json("GET", "/v1/nope", None, Value::Null).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
}
