//! Deleting a tenant: everything it owns goes, its streams end (on every
//! node with Redis).

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::api::testing::{ADMIN, assert_error, node, token};

/// An open SSE body and the text read from it so far.
struct Sse {
    body: axum::body::BodyDataStream,
    text: String,
}

impl Sse {
    async fn open(
        n: &crate::api::testing::TestNode,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Sse {
        let uri = format!("/v1/stream?access_token={token}");
        let headers: Vec<(&str, &str)> = last_event_id
            .map(|id| vec![("last-event-id", id)])
            .unwrap_or_default();
        let response =
            crate::api::testing::send(&n.state, "GET", &uri, None, &headers, Body::empty()).await;
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
