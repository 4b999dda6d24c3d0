//! Tenants: creation by the admin, disabling and enabling, limits changed
//! after creation.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::api::testing::{ADMIN, assert_error, node};

#[tokio::test]
async fn tenants_need_the_admin_token_and_valid_unique_ids() {
    let n = node(|_| {}).await;
    let (s, b) = n
        .json("POST", "/v1/tenants", None, json!({"id": "acme"}))
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json(
            "POST",
            "/v1/tenants",
            Some("wrong-token-wrong-token"),
            json!({"id": "acme"}),
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json("POST", "/v1/tenants", Some(ADMIN), json!({"id": "Bad Id"}))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_tenant_id");
    let key = n.tenant("acme").await;
    assert!(key.starts_with("bk_"));
    let (s, b) = n
        .json("POST", "/v1/tenants", Some(ADMIN), json!({"id": "acme"}))
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "tenant_exists");
    let (s, b) = n.json("GET", "/v1/tenants", Some(ADMIN), Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["tenants"][0]["id"], "acme");
    assert!(
        b.to_string().find("bk_").is_none() && b["tenants"][0].get("signing_secret").is_none(),
        "secrets are never listed"
    );
    // An API key is not an admin token.
    let (s, _) = n.json("GET", "/v1/tenants", Some(&key), Value::Null).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_disabled_tenant_can_neither_publish_nor_subscribe_until_re_enabled() {
    let n = node(|_| {}).await;
    let key = n.tenant("acme").await;
    let (_, minted) = n
        .json("POST", "/v1/tokens", Some(&key), json!({"sub": "1"}))
        .await;
    let token = minted["token"].as_str().unwrap().to_owned();
    let event = json!({"type": "a.b", "data": 1});
    let stream_status = |token: String| {
        let state = n.state.clone();
        async move {
            let uri = format!("/v1/stream?access_token={token}");
            crate::api::testing::send(&state, "GET", &uri, None, &[], Body::empty())
                .await
                .status()
        }
    };
    let (s, b) = n
        .json(
            "PATCH",
            "/v1/tenants/acme",
            Some(&key),
            json!({"disabled": true}),
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(
        (s, b["disabled"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{b}"
    );
    let (s, b) = n
        .json("POST", "/v1/events", Some(&key), event.clone())
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "tenant_disabled");
    assert_eq!(stream_status(token.clone()).await, StatusCode::FORBIDDEN);
    // A forged token naming the disabled tenant learns nothing: 401, not 403.
    let forged = crate::api::testing::forged_token("acme");
    assert_eq!(stream_status(forged).await, StatusCode::UNAUTHORIZED);
    let (s, _) = n
        .json(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = n.json("POST", "/v1/events", Some(&key), event).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(stream_status(token).await, StatusCode::OK);
    let (s, _) = n
        .json(
            "PATCH",
            "/v1/tenants/nope",
            Some(ADMIN),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = n
        .json(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            json!({"disable": true}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_admin_changes_a_tenants_limits_after_creation() {
    let n = node(|_| {}).await;
    let key = n.tenant("acme").await;
    let event = json!({"type": "a.b", "data": 1});
    for _ in 0..3 {
        let (s, b) = n
            .json("POST", "/v1/events", Some(&key), event.clone())
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let limits = json!({"limits": {"publish_rate": 1, "publish_burst": 1}});
    let (s, b) = n
        .json("PATCH", "/v1/tenants/acme", Some(ADMIN), limits)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["limits"]["publish_burst"], 1, "{b}");
    let (_, got) = n
        .json("GET", "/v1/tenants/acme", Some(ADMIN), json!(null))
        .await;
    assert_eq!(got["limits"]["publish_rate"], 1, "{got}");
    let (first, _) = n
        .json("POST", "/v1/events", Some(&key), event.clone())
        .await;
    let (second, b) = n
        .json("POST", "/v1/events", Some(&key), event.clone())
        .await;
    assert_eq!(first, StatusCode::CREATED);
    assert_error(second, &b, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    let zero = json!({"limits": {"publish_rate": 0}});
    let (s, b) = n.json("PATCH", "/v1/tenants/acme", Some(ADMIN), zero).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_limits");
    let (s, b) = n
        .json(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            json!({"limits": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.get("limits").is_none(), "back to the defaults: {b}");
}
