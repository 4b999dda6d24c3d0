//! The stream's credentials: a valid token of its own tenant.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::api::testing::{assert_error, node};

#[tokio::test]
async fn streams_need_a_valid_token_of_their_tenant() {
    let n = node(|_| {}).await;
    let key = n.tenant("acme").await;
    let (s, b) = n.json("GET", "/v1/stream", None, Value::Null).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json(
            "GET",
            "/v1/stream?access_token=abc.def.ghi",
            None,
            Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (_, minted) = n
        .json("POST", "/v1/tokens", Some(&key), json!({"sub": "42"}))
        .await;
    let token = minted["token"].as_str().unwrap();
    let (s, b) = n
        .json(
            "GET",
            &format!("/v1/stream?access_token={token}&types=a%20b"),
            None,
            Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_filter");
    let (s, b) = n
        .json(
            "GET",
            &format!("/v1/stream?access_token={token}&lastEventId=nope"),
            None,
            Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_last_event_id");
    // A token signed with another tenant's secret but naming this tenant.
    let forged = crate::api::testing::forged_token("acme");
    let (s, _) = n
        .json(
            "GET",
            &format!("/v1/stream?access_token={forged}"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = n
        .json(
            "POST",
            "/v1/tokens",
            Some(&key),
            json!({"sub": "", "ttl_s": 0}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
}
