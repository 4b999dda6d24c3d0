//! Cross-origin access: the subscriber cookie, per-tenant origins on the
//! stream, the node-wide CORS layer elsewhere.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::testing::{ADMIN, assert_error, node, token};

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
    let ok = crate::api::app(n.state.clone())
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
    let other = crate::api::app(n.state.clone())
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
    let bad = crate::api::app(n.state.clone())
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
    n: &crate::api::testing::TestNode,
    uri: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap) {
    let response =
        crate::api::testing::send(&n.state, "GET", uri, bearer, headers, Body::empty()).await;
    (response.status(), response.headers().clone())
}

/// Open connections of the tenant of `key`, as `GET /v1/presence` counts them.
async fn connections(n: &crate::api::testing::TestNode, key: &str) -> u64 {
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
