//! Handler behaviour through the router, without a socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::testing::{ADMIN, node};

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

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
async fn publish_rejects_bad_input_with_clear_errors_and_stores_nothing() {
    let n = node(|s| s.max_batch = 3).await;
    let key = n.tenant("acme").await;
    let publish = |body: &'static str, ct: &'static str| {
        let (n, key) = (&n, key.clone());
        async move {
            n.call(
                "POST",
                "/v1/events",
                Some(&key),
                &[("content-type", ct)],
                body,
            )
            .await
        }
    };
    let (s, _, b) = publish("{not json", "application/json").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_json");
    let (s, _, b) = publish(r#"{"type":"a","data":1}"#, "text/plain").await;
    assert_error(
        s,
        &b,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (s, _, b) = publish("42", "application/json").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_event");
    let (s, _, b) = publish("[]", "application/json").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_event");
    let (s, _, b) = publish(r#"[{"type":"a","data":1},{"type":"a","data":1},{"type":"a","data":1},{"type":"a","data":1}]"#, "application/json").await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large");
    let (s, _, b) = publish(
        r#"[{"type":"ok","data":1},{"type":"a\r\nid: 9","data":1},{"data":1}]"#,
        "application/json",
    )
    .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_event");
    let paths: Vec<_> = b["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["/1/type", "/2"]);
    let big = format!(r#"{{"type":"a","data":"{}"}}"#, "x".repeat(70 * 1024));
    let (s, _, b) = n
        .call(
            "POST",
            "/v1/events",
            Some(&key),
            &[("content-type", "application/json")],
            big,
        )
        .await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "event_too_large");
    let huge = format!(r#"{{"type":"a","data":"{}"}}"#, "x".repeat(2 << 20));
    let (s, _, b) = n
        .call(
            "POST",
            "/v1/events",
            Some(&key),
            &[("content-type", "application/json")],
            huge,
        )
        .await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    let (s, _, b) = n
        .call(
            "POST",
            "/v1/events",
            Some("bk_nope"),
            &[("content-type", "application/json")],
            r#"{"type":"a","data":1}"#,
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    // Nothing above was stored: the stream is empty.
    let read = n
        .state
        .log
        .read("acme", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    assert!(read.events.is_empty());
    // And the node still works.
    let (s, _, b) = publish(
        r#"{"type":"a","data":1}"#,
        "application/json; charset=utf-8",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(b["id"].as_str().is_some());
}

#[tokio::test]
async fn idempotency_keys_make_retries_safe() {
    let n = node(|_| {}).await;
    let key = n.tenant("acme").await;
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "order-1"),
    ];
    let body = r#"[{"type":"a","data":1},{"type":"a","data":2}]"#;
    let (s1, h1, b1) = n
        .call("POST", "/v1/events", Some(&key), &headers, body)
        .await;
    let (s2, h2, b2) = n
        .call("POST", "/v1/events", Some(&key), &headers, body)
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(b1, b2);
    assert!(h1.get("idempotent-replayed").is_none());
    assert_eq!(h2.get("idempotent-replayed").unwrap(), "true");
    let read = n
        .state
        .log
        .read("acme", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(read.events.len(), 2);
    let (s, _, b) = n
        .call(
            "POST",
            "/v1/events",
            Some(&key),
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "has space"),
            ],
            body,
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
}

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
    let forged = super::testing::forged_token("acme");
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
        "../../../schemas/catalog/examples/order.created.valid.json"
    ))
    .unwrap();
    let invalid: Value = serde_json::from_str(include_str!(
        "../../../schemas/catalog/examples/order.created.invalid.json"
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

#[tokio::test]
async fn a_batch_may_ask_for_partial_acceptance() {
    let n = node(|_| {}).await;
    let (_, b) = n
        .json("POST", "/v1/tenants", Some(ADMIN), json!({"id": "strict"}))
        .await;
    let key = b["api_key"].as_str().unwrap().to_owned();
    let valid: Value = serde_json::from_str(include_str!(
        "../../../schemas/catalog/examples/order.created.valid.json"
    ))
    .unwrap();
    let batch = json!([
        {"type": "order.created", "data": valid},
        {"type": "order.created", "data": {"total": "x"}},
        {"type": "bad type", "data": 1},
        {"type": "order.created", "data": valid, "subject": "order/2"}
    ]);
    // By default a batch is all or nothing.
    let (s, _) = n
        .json("POST", "/v1/events", Some(&key), batch.clone())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = n
        .json("POST", "/v1/events?partial=true", Some(&key), batch)
        .await;
    assert_eq!(s, StatusCode::MULTI_STATUS, "{b}");
    let ids = b["ids"].as_array().unwrap();
    assert!(
        ids[0].is_string() && ids[1].is_null() && ids[2].is_null() && ids[3].is_string(),
        "{b}"
    );
    let paths: Vec<&str> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.starts_with("/1/data")) && paths.contains(&"/2/type"),
        "{paths:?}"
    );
    let read = n
        .state
        .log
        .read("strict", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(read.events.len(), 2);
    assert_eq!(read.events[1].meta.subject.as_deref(), Some("order/2"));
    let (s, _) = n
        .json(
            "POST",
            "/v1/events?partial=maybe",
            Some(&key),
            json!({"type": "a", "data": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn subscribers_may_send_their_token_as_a_cookie_and_cors_allows_credentials_for_listed_origins()
 {
    let n = node(|s| s.cors_origins = vec!["https://app.example.com".into()]).await;
    let key = n.tenant("acme").await;
    let (_, minted) = n
        .json("POST", "/v1/tokens", Some(&key), json!({"sub": "42"}))
        .await;
    let token = minted["token"].as_str().unwrap();
    let request = |cookie: String, origin: &'static str| {
        Request::builder()
            .uri("/v1/stream")
            .header("cookie", cookie)
            .header("origin", origin)
            .body(Body::empty())
            .unwrap()
    };
    let ok = super::app(n.state.clone())
        .oneshot(request(
            format!("theme=dark; beacon_token={token}"),
            "https://app.example.com",
        ))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let other = super::app(n.state.clone())
        .oneshot(request(
            format!("beacon_token={token}"),
            "https://evil.example",
        ))
        .await
        .unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "unlisted origins get no CORS grant"
    );
    assert_eq!(
        other.status(),
        StatusCode::FORBIDDEN,
        "another site's page may not use the cookie"
    );
    let bad = super::app(n.state.clone())
        .oneshot(request(
            "beacon_token=forged.token.value".into(),
            "https://app.example.com",
        ))
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
}

/// The stream's answer to `GET` with these headers and no `Authorization`
/// (or with `bearer`); its body is dropped unread.
async fn stream_head(
    n: &super::testing::TestNode,
    uri: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap) {
    let response = super::testing::send(&n.state, "GET", uri, bearer, headers, Body::empty()).await;
    (response.status(), response.headers().clone())
}

/// Open connections of the tenant of `key`, as `GET /v1/presence` counts them.
async fn connections(n: &super::testing::TestNode, key: &str) -> u64 {
    let (s, online) = n.json("GET", "/v1/presence", Some(key), Value::Null).await;
    assert_eq!(s, StatusCode::OK, "{online}");
    online["connections"].as_u64().unwrap()
}

#[tokio::test]
async fn a_tenants_own_origins_may_read_its_stream_with_the_cookie_and_no_other_may_use_it() {
    let n = node(|_| {}).await;
    let app = "https://app.example.com";
    let evil = "https://evil.example";
    let (s, created) = n
        .json(
            "POST",
            "/v1/tenants",
            Some(ADMIN),
            json!({"id": "acme", "cors_origins": [app]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let key = created["api_key"].as_str().unwrap().to_owned();
    let (_, info) = n
        .json("GET", "/v1/tenants/acme", Some(ADMIN), Value::Null)
        .await;
    assert_eq!(info["cors_origins"], json!([app]));
    let (_, listed) = n.json("GET", "/v1/tenants", Some(ADMIN), Value::Null).await;
    assert_eq!(listed["tenants"][0]["cors_origins"], json!([app]));
    let minted = token(&n, &key).await;
    let cookie = format!("theme=dark; beacon_token={minted}");

    // Another site's page, with the user's cookie: refused before it counts.
    let (s, h, b) = n
        .call(
            "GET",
            "/v1/stream",
            None,
            &[("cookie", &cookie), ("origin", evil)],
            Body::empty(),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "origin_not_allowed");
    assert!(b["message"].as_str().unwrap().contains(evil), "{b}");
    assert_ne!(
        h.get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(evil.as_bytes())
    );
    assert!(h.get("access-control-allow-credentials").is_none());
    assert_eq!(
        connections(&n, &key).await,
        0,
        "a refused stream never counts"
    );

    // The tenant's own origin, with the cookie: readable with credentials.
    let (s, h) = stream_head(
        &n,
        "/v1/stream",
        None,
        &[("cookie", &cookie), ("origin", app)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], app);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-expose-headers"], "retry-after");
    assert!(h.get_all("vary").iter().any(|v| v == "Origin"), "{h:?}");

    // Another origin whose page holds the token: served, but not readable
    // by that page (the tenant lists origins).
    for (uri, bearer) in [
        ("/v1/stream".to_owned(), Some(minted.as_str())),
        (format!("/v1/stream?access_token={minted}"), None),
    ] {
        let (s, h) = stream_head(&n, &uri, bearer, &[("cookie", &cookie), ("origin", evil)]).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert!(
            h.get("access-control-allow-origin").is_none(),
            "{uri}: {h:?}"
        );
        assert!(h.get("access-control-allow-credentials").is_none());
    }
    // No `Origin` (same origin, or not a browser): never refused, no CORS.
    let (s, h) = stream_head(&n, "/v1/stream", None, &[("cookie", &cookie)]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("access-control-allow-origin").is_none());

    // The preflight carries no credentials: granted to every origin.
    let (s, h, _) = n
        .call(
            "OPTIONS",
            "/v1/stream",
            None,
            &[
                ("origin", evil),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "last-event-id"),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(h["access-control-allow-origin"], evil);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "GET");
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization, last-event-id"
    );
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["vary"], "Origin");

    // Neither the tenant nor the node lists origins: any origin may read
    // the stream without credentials, and still none may use the cookie.
    let plain_key = n.tenant("plain").await;
    let plain = token(&n, &plain_key).await;
    let (s, _, b) = n
        .call(
            "GET",
            "/v1/stream",
            None,
            &[
                ("cookie", &format!("beacon_token={plain}")),
                ("origin", evil),
            ],
            Body::empty(),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "origin_not_allowed");
    assert_eq!(connections(&n, &plain_key).await, 0);
    let (s, h) = stream_head(&n, "/v1/stream", Some(&plain), &[("origin", evil)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h.get("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn a_tenants_cors_origins_are_checked_and_replaced_by_patch() {
    let n = node(|_| {}).await;
    n.tenant("acme").await;
    let patch = |origins: Value| {
        let n = &n;
        async move {
            n.json(
                "PATCH",
                "/v1/tenants/acme",
                Some(ADMIN),
                json!({"cors_origins": origins, "disabled": true}),
            )
            .await
        }
    };
    let too_many: Vec<String> = (0..51).map(|i| format!("https://a{i}.example")).collect();
    let too_long = format!("https://{}.example", "a".repeat(250));
    for (bad, named) in [
        (json!(["*"]), Some("\"*\"")),
        (json!(["not a url"]), Some("not a url")),
        (json!(["https://*.example.com"]), Some("*.example.com")),
        (json!(["https://ok.example", ""]), Some("\"\"")),
        (json!(["https://a.example\nx"]), None),
        (json!(too_many), None),
        (json!([too_long]), None),
    ] {
        let (s, b) = patch(bad.clone()).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_origin");
        if let Some(named) = named {
            assert!(b["message"].as_str().unwrap().contains(named), "{bad}: {b}");
        }
    }
    let (s, b) = patch(json!(42)).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    let (_, info) = n
        .json("GET", "/v1/tenants/acme", Some(ADMIN), Value::Null)
        .await;
    assert_eq!(info["disabled"], false, "a refused change changes nothing");
    assert_eq!(info["cors_origins"], json!([]));

    let (s, b) = n
        .json(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            json!({"cors_origins": ["https://a.example", "http://localhost:3000", "https://a.example"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["cors_origins"],
        json!(["https://a.example", "http://localhost:3000"])
    );
    // Absent: kept; present: replaced.
    let (_, b) = n
        .json(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(b["cors_origins"].as_array().unwrap().len(), 2);
    let (_, b) = n
        .json(
            "PATCH",
            "/v1/tenants/acme",
            Some(ADMIN),
            json!({"cors_origins": []}),
        )
        .await;
    assert_eq!(b["cors_origins"], json!([]));

    // Creation checks the same way and stores nothing when refused.
    let (s, b) = n
        .json(
            "POST",
            "/v1/tenants",
            Some(ADMIN),
            json!({"id": "other", "cors_origins": ["*"]}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_origin");
    let (s, _) = n
        .json("GET", "/v1/tenants/other", Some(ADMIN), Value::Null)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn routes_other_than_the_stream_keep_the_node_wide_cors_layer() {
    let app = "https://app.example.com";
    let listed = node(|s| s.cors_origins = vec![app.into()]).await;
    let (s, h, _) = listed
        .call(
            "OPTIONS",
            "/v1/events",
            None,
            &[
                ("origin", app),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type, idempotency-key",
                ),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "tower-http answers the preflight");
    assert_eq!(h["access-control-allow-origin"], app);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let (_, h, _) = listed
        .call(
            "OPTIONS",
            "/v1/events",
            None,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            Body::empty(),
        )
        .await;
    assert!(h.get("access-control-allow-origin").is_none());
    // Answers of other routes, the fallback's too, carry the grant.
    for path in ["/healthz", "/v1/nope"] {
        let (_, h, _) = listed
            .call("GET", path, None, &[("origin", app)], Body::empty())
            .await;
        assert_eq!(h["access-control-allow-origin"], app, "{path}");
    }
    // The stream's errors carry the node's grant, so the page can read why.
    let (s, h, b) = listed
        .call("GET", "/v1/stream", None, &[("origin", app)], Body::empty())
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(h["access-control-allow-origin"], app);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let (_, h, _) = listed
        .call(
            "GET",
            "/v1/stream",
            None,
            &[("origin", "https://evil.example")],
            Body::empty(),
        )
        .await;
    assert!(h.get("access-control-allow-origin").is_none());

    let open = node(|_| {}).await;
    let (_, h, _) = open
        .call(
            "OPTIONS",
            "/v1/events",
            None,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h.get("access-control-allow-credentials").is_none());
    let (s, h, _) = open
        .call(
            "GET",
            "/v1/stream",
            None,
            &[("origin", "https://evil.example")],
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn api_keys_have_scopes_rotate_with_an_overlap_and_can_be_revoked() {
    let n = node(|_| {}).await;
    let (_, created) = n
        .json(
            "POST",
            "/v1/tenants",
            Some(ADMIN),
            json!({"id": "acme", "allow_unregistered_types": true}),
        )
        .await;
    let first = created["api_key"].as_str().unwrap().to_owned();
    let first_id = created["key_id"].as_str().unwrap().to_owned();
    let event = json!({"type": "a.b", "data": 1});
    // A read-only key cannot publish or mint tokens.
    let (s, b) = n
        .json(
            "POST",
            "/v1/tenants/acme/keys",
            Some(ADMIN),
            json!({"scopes": ["read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let reader = b["api_key"].as_str().unwrap().to_owned();
    let (s, b) = n
        .json("POST", "/v1/events", Some(&reader), event.clone())
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    assert!(b["message"].as_str().unwrap().contains("publish"), "{b}");
    let (s, _) = n
        .json("POST", "/v1/tokens", Some(&reader), json!({"sub": "1"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Rotation: the new key works at once, the old one until the overlap ends.
    let (s, b) = n
        .json(
            "POST",
            "/v1/tenants/acme/keys",
            Some(ADMIN),
            json!({"rotate": first_id, "overlap_s": 3600}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let second = b["api_key"].as_str().unwrap().to_owned();
    assert!(b["rotated_key_expires_at"].as_u64().unwrap() > crate::auth::jwt::now_s());
    for key in [&first, &second] {
        let (s, b) = n.json("POST", "/v1/events", Some(key), event.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let second_id = b["id"].as_str().unwrap().to_owned();
    let (s, _) = n
        .json(
            "POST",
            "/v1/tenants/acme/keys",
            Some(ADMIN),
            json!({"rotate": second_id, "overlap_s": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = n
        .json("POST", "/v1/events", Some(&second), event.clone())
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(b["message"].as_str().unwrap().contains("expired"), "{b}");
    // Listing shows ids, scopes and expiry, never a key or its hash.
    let (s, b) = n
        .json("GET", "/v1/tenants/acme/keys", Some(ADMIN), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["keys"].as_array().unwrap().len(), 4);
    let text = b.to_string();
    assert!(!text.contains("bk_") && !text.contains("hash"), "{text}");
    // Revocation is immediate.
    let (s, _) = n
        .json(
            "DELETE",
            &format!("/v1/tenants/acme/keys/{first_id}"),
            Some(ADMIN),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = n
        .json("POST", "/v1/events", Some(&first), event.clone())
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = n
        .json(
            "DELETE",
            &format!("/v1/tenants/acme/keys/{first_id}"),
            Some(ADMIN),
            Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    // Keys are managed by the admin only, and only for existing tenants.
    let (s, _) = n
        .json("GET", "/v1/tenants/acme/keys", Some(&reader), Value::Null)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = n
        .json("POST", "/v1/tenants/nope/keys", Some(ADMIN), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = n
        .json(
            "POST",
            "/v1/tenants/acme/keys",
            Some(ADMIN),
            json!({"scopes": []}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_tenant_may_sign_subscriber_tokens_with_its_own_registered_key() {
    use crate::auth::jwt::{Claims, now_s, test_keys};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let n = node(|_| {}).await;
    n.tenant("acme").await;
    let claims = Claims {
        sub: "42".into(),
        tenant: "acme".into(),
        exp: now_s() + 60,
        nbf: None,
        types: None,
        subjects: None,
        extra: Default::default(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("backend-1".into());
    let private = EncodingKey::from_ed_pem(test_keys::ED_PRIVATE.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &private).unwrap();
    // Only the status: an accepted stream's body never ends.
    let stream = |token: String| {
        let state = n.state.clone();
        async move {
            let request = Request::builder()
                .uri(format!("/v1/stream?access_token={token}"))
                .body(Body::empty())
                .unwrap();
            super::app(state).oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(
        stream(token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "no key registered yet"
    );
    let (s, b) = n
        .json(
            "PUT",
            "/v1/tenants/acme/jwt-keys",
            Some(ADMIN),
            json!({"keys": [{"kid": "backend-1", "alg": "EdDSA", "pem": test_keys::ED_PUBLIC}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["keys"][0]["kid"], "backend-1");
    assert_eq!(stream(token).await, StatusCode::OK);
    let (s, b) = n
        .json(
            "PUT",
            "/v1/tenants/acme/jwt-keys",
            Some(ADMIN),
            json!({"keys": [{"kid": "x", "alg": "RS256", "pem": test_keys::ED_PUBLIC}]}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_key");
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
            super::testing::send(&state, "GET", &uri, None, &[], Body::empty())
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
    let forged = super::testing::forged_token("acme");
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

/// An open SSE body and the text read from it so far.
struct Sse {
    body: axum::body::BodyDataStream,
    text: String,
}

impl Sse {
    async fn open(n: &super::testing::TestNode, token: &str, last_event_id: Option<&str>) -> Sse {
        let uri = format!("/v1/stream?access_token={token}");
        let headers: Vec<(&str, &str)> = last_event_id
            .map(|id| vec![("last-event-id", id)])
            .unwrap_or_default();
        let response =
            super::testing::send(&n.state, "GET", &uri, None, &headers, Body::empty()).await;
        assert_eq!(response.status(), StatusCode::OK);
        Sse {
            body: response.into_body().into_data_stream(),
            text: String::new(),
        }
    }

    /// Reads until the text holds `needle` (panics after 10 s).
    async fn until(&mut self, needle: &str) -> &str {
        use futures::StreamExt;
        while !self.text.contains(needle) {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", self.text))
                .unwrap_or_else(|| panic!("ended without {needle:?}: {:?}", self.text))
                .unwrap();
            self.text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        &self.text
    }

    /// Reads to the end of the stream (panics after 10 s).
    async fn read_to_end(&mut self) -> &str {
        use futures::StreamExt;
        while let Some(chunk) =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.body.next())
                .await
                .unwrap_or_else(|_| panic!("the stream did not end: {:?}", self.text))
        {
            self.text
                .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        &self.text
    }
}

async fn token(n: &super::testing::TestNode, key: &str) -> String {
    let (s, minted) = n
        .json("POST", "/v1/tokens", Some(key), json!({"sub": "1"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{minted}");
    minted["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tenant_removes_everything_it_owns_and_ends_its_streams() {
    use crate::plugins::store::conformance::new_version;
    let n = node(|_| {}).await;
    let key = n.tenant("acme").await;
    let other_key = n.tenant("other").await;
    let keyed = [
        ("content-type", "application/json"),
        ("idempotency-key", "order-1"),
    ];
    let (s, _, first) = n
        .call(
            "POST",
            "/v1/events",
            Some(&key),
            &keyed,
            r#"{"type":"a.b","data":1}"#,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let old_id = first["id"].as_str().unwrap().to_owned();
    let (s, other_event) = n
        .json(
            "POST",
            "/v1/events",
            Some(&other_key),
            json!({"type": "a.b", "data": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let store = &n.state.plugins.store;
    for (tenant, wasm) in [("acme", "component one"), ("other", "component two")] {
        store
            .put_version(tenant, "p1", new_version(&bytes::Bytes::from(wasm)))
            .await
            .unwrap();
        n.state.plugins.stats(tenant, "p1");
    }
    let letters = crate::plugins::dead_letters::DeadLetters::new(n.state.log.clone());
    let letter = crate::plugins::dead_letters::DeadLetter {
        event: json!({"type": "a.b"}),
        plugin: "p1".into(),
        version: 1,
        code: "trap".into(),
        reason: "test".into(),
        time: "2026-01-01T00:00:00Z".into(),
    };
    for tenant in ["acme", "other"] {
        letters.put(tenant, letter.clone()).await.unwrap();
    }
    // One live stream, one replaying from the start.
    let acme_token = token(&n, &key).await;
    let mut live = Sse::open(&n, &acme_token, None).await;
    live.until("beacon.connected").await;
    let mut replaying = Sse::open(&n, &acme_token, Some(&old_id)).await;
    replaying.until("beacon.connected").await;
    let other_token = token(&n, &other_key).await;
    let mut other_stream = Sse::open(&n, &other_token, None).await;
    other_stream.until("beacon.connected").await;

    let (s, b) = n
        .json("DELETE", "/v1/tenants/acme", Some(&key), Value::Null)
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json("DELETE", "/v1/tenants/nope", Some(ADMIN), Value::Null)
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, _, b) = n
        .call(
            "DELETE",
            "/v1/tenants/acme",
            Some(ADMIN),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");

    for stream in [&mut live, &mut replaying] {
        let text = stream.read_to_end().await;
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        assert_eq!(
            last, "event: beacon.closed\ndata: {\"reason\":\"tenant_deleted\"}",
            "{text}"
        );
    }
    let (s, b) = n
        .json("GET", "/v1/tenants/acme", Some(ADMIN), Value::Null)
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = n
        .json("GET", "/v1/tenants/acme/keys", Some(ADMIN), Value::Null)
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = n
        .json("DELETE", "/v1/tenants/acme", Some(ADMIN), Value::Null)
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = n
        .json(
            "POST",
            "/v1/events",
            Some(&key),
            json!({"type": "a.b", "data": 3}),
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json("POST", "/v1/tokens", Some(&key), json!({"sub": "1"}))
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let uri = format!("/v1/stream?access_token={acme_token}");
    let (s, b) = n.json("GET", &uri, None, Value::Null).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(store.plugins("acme").await.unwrap().is_empty());
    assert!(n.state.plugins.tenant_stats("acme").is_empty());
    let empty = |stream: String| {
        let log = n.state.log.clone();
        async move {
            let read = log
                .read(&stream, crate::log::Offset::ZERO, 10)
                .await
                .unwrap();
            read.events.is_empty()
        }
    };
    assert!(empty("acme".into()).await);
    assert!(empty(crate::plugins::dead_letters::stream("acme")).await);
    let (s, b) = n.json("GET", "/v1/tenants", Some(ADMIN), Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["tenants"].as_array().unwrap().len(), 1, "{b}");

    // The other tenant keeps everything, its open stream included.
    let (s, b) = n
        .json(
            "POST",
            "/v1/events",
            Some(&other_key),
            json!({"type": "a.b", "data": 4}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    other_stream.until("\"data\":4").await;
    assert!(!other_stream.text.contains("beacon.closed"));
    assert_eq!(store.plugins("other").await.unwrap().len(), 1);
    assert_eq!(n.state.plugins.tenant_stats("other").len(), 1);
    let read = n
        .state
        .log
        .read("other", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(read.events.len(), 2);
    assert!(
        other_event["id"]
            .as_str()
            .unwrap()
            .ends_with(&read.events[0].offset.to_string())
    );
    assert!(!empty(crate::plugins::dead_letters::stream("other")).await);

    // The id can be taken again: a new tenant, empty, with a new epoch; the
    // deleted tenant's idempotency keys mean nothing to it.
    let new_key = n.tenant("acme").await;
    let (s, h, b) = n
        .call(
            "POST",
            "/v1/events",
            Some(&new_key),
            &keyed,
            r#"{"type":"a.b","data":5}"#,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(h.get("idempotent-replayed").is_none());
    let new_id = b["id"].as_str().unwrap();
    let epoch = |id: &str| id.split_once('_').unwrap().0.to_owned();
    assert_ne!(epoch(new_id), epoch(&old_id));
    let mut resumed = Sse::open(&n, &token(&n, &new_key).await, Some(&old_id)).await;
    let text = resumed.until("\"data\":5").await.to_owned();
    assert!(
        text.contains("event: beacon.gap\ndata: {\"reason\":\"epoch\""),
        "{text}"
    );
    assert!(
        !text.contains("\"data\":1"),
        "no old event is replayed: {text}"
    );
    assert!(store.plugins("acme").await.unwrap().is_empty());
    let (s, b) = n
        .json("GET", "/v1/tenants/acme/keys", Some(ADMIN), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b["keys"].as_array().unwrap().len(),
        1,
        "only the new tenant's key: {b}"
    );
}

/// With Redis, a tenant deleted through one node ends its streams on the
/// others too (at their next presence refresh), and is gone for them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_a_deleted_tenants_streams_on_other_nodes_end_too() {
    let redis = beacon_test_support::RedisServer::start().await;
    let url = redis.url();
    let tweak = |s: &mut crate::config::Settings| {
        s.redis_url = Some(url.clone());
        s.heartbeat = std::time::Duration::from_millis(200);
    };
    let (a, b) = (node(tweak).await, node(tweak).await);
    let key = a.tenant("acme").await;
    let other_key = a.tenant("other").await;
    let mut on_b = Sse::open(&b, &token(&b, &key).await, None).await;
    on_b.until("beacon.connected").await;
    let mut other_on_b = Sse::open(&b, &token(&b, &other_key).await, None).await;
    other_on_b.until("beacon.connected").await;
    let (s, _) = a
        .json(
            "POST",
            "/v1/events",
            Some(&key),
            json!({"type": "a.b", "data": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    on_b.until("\"data\":1").await;

    let started = std::time::Instant::now();
    let (s, _, b_) = a
        .call(
            "DELETE",
            "/v1/tenants/acme",
            Some(ADMIN),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b_}");
    let text = on_b.read_to_end().await;
    assert!(
        text.ends_with("event: beacon.closed\ndata: {\"reason\":\"tenant_deleted\"}\n\n"),
        "{text}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (s, _) = b
        .json("GET", "/v1/tenants/acme", Some(ADMIN), Value::Null)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = b
        .json(
            "POST",
            "/v1/events",
            Some(&key),
            json!({"type": "a.b", "data": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, _) = b
        .json(
            "POST",
            "/v1/events",
            Some(&other_key),
            json!({"type": "a.b", "data": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    other_on_b.until("\"data\":3").await;
    assert!(!other_on_b.text.contains("beacon.closed"));
    let new_key = b.tenant("acme").await;
    let (s, body) = b
        .json(
            "POST",
            "/v1/events",
            Some(&new_key),
            json!({"type": "a.b", "data": 4}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let read = a
        .state
        .log
        .read("acme", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(read.events.len(), 1, "only the new tenant's event");
}
