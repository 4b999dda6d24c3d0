//! Publishing: input checks, idempotency keys, partial batches.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::api::testing::{ADMIN, assert_error, node};

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
async fn a_batch_may_ask_for_partial_acceptance() {
    let n = node(|_| {}).await;
    let (_, b) = n
        .json("POST", "/v1/tenants", Some(ADMIN), json!({"id": "strict"}))
        .await;
    let key = b["api_key"].as_str().unwrap().to_owned();
    let valid: Value = serde_json::from_str(include_str!(
        "../../../../schemas/catalog/examples/order.created.valid.json"
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

/// With the Redis backends and Redis down, publishing answers 503 with
/// `Retry-After` and the usual JSON error body, and works again once Redis
/// is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_publish_answers_503_with_retry_after() {
    let mut redis = beacon_test_support::RedisServer::start().await;
    let url = redis.url();
    let n = node(|s| s.redis_url = Some(url)).await;
    let key = n.tenant("acme").await;
    let event = json!({"type": "a.b", "data": 1});
    let (s, b) = n
        .json("POST", "/v1/events", Some(&key), event.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    redis.kill().await;
    let (s, headers, b) = n
        .call(
            "POST",
            "/v1/events",
            Some(&key),
            &[("content-type", "application/json")],
            event.to_string(),
        )
        .await;
    assert_error(s, &b, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let retry_after: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {headers:?}"));
    assert!(retry_after >= 1, "{retry_after}");
    assert!(
        !b["message"].as_str().unwrap().contains("127.0.0.1"),
        "a 5xx does not leak internals: {b}"
    );

    redis.start_again().await;
    let started = std::time::Instant::now();
    loop {
        let (s, b) = n
            .json("POST", "/v1/events", Some(&key), event.clone())
            .await;
        if s == StatusCode::CREATED {
            break;
        }
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "still refused after Redis came back: {b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
