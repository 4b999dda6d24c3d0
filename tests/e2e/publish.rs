//! Publishing and delivery: the SSE framing, the event envelope, batches,
//! idempotency and tenant administration.

use std::time::Duration;

use beacon_test_support::{Beacon, ev, send};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn published_event_is_delivered_with_its_id_and_envelope() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("42").await;
    let mut sub = acme.stream(&token).connect().await;

    assert_eq!(sub.status, 200);
    let content_type = sub.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/event-stream"),
        "content-type: {content_type:?}"
    );
    assert_eq!(sub.header("cache-control"), Some("no-cache"));
    assert_eq!(sub.header("x-accel-buffering"), Some("no"));

    let connected = sub.expect_connected().await;
    assert_eq!(connected["tenant"], "acme", "connected: {connected}");
    assert_eq!(connected["resume"], "none", "connected: {connected}");
    assert!(
        connected["last_event_id"].is_null(),
        "connected: {connected}"
    );
    assert_eq!(connected["heartbeat_s"], 1, "connected: {connected}");
    assert!(
        connected["connection"]
            .as_str()
            .is_some_and(|c| c.starts_with("c-")),
        "connected: {connected}"
    );

    let id = acme
        .publish(json!({
            "type": "order.created",
            "subject": "order/IE-4486",
            "data": {"total": 12.5, "items": ["a", "b"], "note": "ünïcödé \"quoted\"\nline"}
        }))
        .await;

    let event = sub.next().await;
    assert_eq!(event.id, id, "SSE id: must equal the id returned by POST");
    assert_eq!(event.event, "order.created");
    let envelope = &event.data;
    assert_eq!(envelope["id"], id.as_str(), "envelope: {envelope}");
    assert_eq!(envelope["type"], "order.created", "envelope: {envelope}");
    assert_eq!(envelope["subject"], "order/IE-4486", "envelope: {envelope}");
    assert_eq!(envelope["specversion"], "1.0", "envelope: {envelope}");
    assert_eq!(envelope["source"], "/tenants/acme", "envelope: {envelope}");
    assert_eq!(
        envelope["datacontenttype"], "application/json",
        "envelope: {envelope}"
    );
    assert!(
        envelope["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "envelope time: {envelope}"
    );
    assert_eq!(
        envelope["data"],
        json!({"total": 12.5, "items": ["a", "b"], "note": "ünïcödé \"quoted\"\nline"}),
        "data must arrive unchanged"
    );

    let raw = sub.raw();
    assert!(
        raw.starts_with(": beacon\n") || raw.starts_with(": beacon\r\n"),
        "the body must start with the `: beacon` comment: {raw:?}"
    );
    assert!(
        raw.contains("retry: 2000"),
        "the body must carry the retry hint: {raw:?}"
    );
}

#[tokio::test]
async fn optional_fields_are_carried_in_the_envelope() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;

    let id = acme
        .publish(json!({
            "type": "invoice.paid",
            "source": "/billing/eu-1",
            "version": 3,
            "data": null
        }))
        .await;
    let event = sub.next().await;
    assert_eq!(event.id, id);
    assert_eq!(event.data["source"], "/billing/eu-1", "{}", event.data);
    assert!(event.data["data"].is_null(), "{}", event.data);
    assert!(
        event.data.get("subject").is_none() || event.data["subject"].is_null(),
        "an event without subject must not get one: {}",
        event.data
    );
}

#[tokio::test]
async fn batch_is_acknowledged_with_ids_in_order_and_delivered_in_that_order() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;

    let batch: Vec<_> = (0..25)
        .map(|i| ev(&format!("item.n{i}"), json!({ "i": i })))
        .collect();
    let ids = acme.publish_batch(&batch).await;
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "batch ids must be distinct: {ids:?}"
    );

    let single = acme.publish(ev("after.batch", json!(null))).await;
    let events = sub.expect_ids(&ids).await;
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.event, format!("item.n{i}"));
        assert_eq!(event.data["data"]["i"], i);
    }
    sub.expect_ids(&[single]).await;
}

#[tokio::test]
async fn idempotency_key_retry_returns_the_same_id_and_delivers_once() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;
    let event = ev("payment.succeeded", json!({"amount": 10}));

    let first = send(
        acme.events_request()
            .header("Idempotency-Key", "pay-1")
            .json(&event),
    )
    .await;
    first.assert_status(201);
    assert_ne!(
        first.header("idempotent-replayed"),
        Some("true"),
        "a first request is not a replay"
    );
    let id = first.json()["id"].as_str().map(str::to_owned);
    let id = id.unwrap_or_else(|| panic!("no id in {}", first.text));

    let retry = send(
        acme.events_request()
            .header("Idempotency-Key", "pay-1")
            .json(&event),
    )
    .await;
    retry.assert_status(201);
    assert_eq!(
        retry.json()["id"],
        id.as_str(),
        "a retry must get the same id"
    );
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));

    let batch = vec![ev("b.one", json!(1)), ev("b.two", json!(2))];
    let first_batch = send(
        acme.events_request()
            .header("Idempotency-Key", "batch-1")
            .json(&batch),
    )
    .await;
    first_batch.assert_status(201);
    let batch_ids = beacon_test_support::ids_of(&first_batch.json(), 2);
    let retried_batch = send(
        acme.events_request()
            .header("Idempotency-Key", "batch-1")
            .json(&batch),
    )
    .await;
    retried_batch.assert_status(201);
    assert_eq!(
        beacon_test_support::ids_of(&retried_batch.json(), 2),
        batch_ids
    );
    assert_eq!(retried_batch.header("idempotent-replayed"), Some("true"));

    let other = send(
        acme.events_request()
            .header("Idempotency-Key", "pay-2")
            .json(&event),
    )
    .await;
    other.assert_status(201);
    let other_id = other.json()["id"].as_str().map(str::to_owned);
    let other_id = other_id.unwrap_or_else(|| panic!("no id in {}", other.text));
    assert_ne!(other_id, id, "another key is another event");

    let mut expected = vec![id];
    expected.extend(batch_ids);
    expected.push(other_id);
    sub.expect_ids(&expected).await;
    sub.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn event_key_deduplicates_across_requests() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;

    let event = json!({"type": "user.signed_up", "key": "signup-77", "data": {"user": 77}});
    let first = acme.publish(event.clone()).await;
    let again = acme.publish(event).await;
    assert_eq!(
        again, first,
        "the same de-duplication key must give the same id"
    );
    let marker = acme.publish(ev("marker", json!(null))).await;
    sub.expect_ids(&[first, marker]).await;
}

#[tokio::test]
async fn only_connected_carries_an_id_and_heartbeats_are_comments() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("u1").await;
    let mut sub = acme.stream(&token).connect().await;
    sub.expect_connected().await;
    let id = acme.publish(ev("a.b", json!(1))).await;
    sub.expect_ids(std::slice::from_ref(&id)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let heartbeat_after_event = |raw: &str| {
        raw.replace("\r\n", "\n")
            .split_once(&format!("id: {id}"))
            .is_some_and(|(_, rest)| rest.lines().any(|l| l.starts_with(':')))
    };
    while !heartbeat_after_event(&sub.raw()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no heartbeat comment within 10 s with --heartbeat 1s: {:?}",
            sub.raw()
        );
        sub.assert_quiet(Duration::from_millis(200)).await;
    }

    // `beacon.connected` marks where the stream starts (here: the empty
    // stream's origin, before the event); other control events carry no id.
    let raw = sub.raw().replace("\r\n", "\n");
    let epoch = id.split('_').next().unwrap();
    for block in raw.split("\n\n") {
        let ids: Vec<_> = block.lines().filter(|l| l.starts_with("id:")).collect();
        if block.lines().any(|l| l == "event: beacon.connected") {
            assert_eq!(ids, [format!("id: {epoch}_0-0")], "connected: {block:?}");
        } else if block.lines().any(|l| l.starts_with("event: beacon.")) {
            assert!(
                ids.is_empty(),
                "a control event carries an id: line: {block:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_that_drops_before_its_first_event_resumes_from_connected() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let before = acme.publish(ev("a.b", json!(0))).await;
    let token = acme.token("u1").await;
    let mut sub = acme.stream(&token).connect().await;
    sub.expect_connected().await;
    let raw = sub.raw().replace("\r\n", "\n");
    let start = raw
        .split("\n\n")
        .find(|b| b.lines().any(|l| l == "event: beacon.connected"))
        .and_then(|b| b.lines().find_map(|l| l.strip_prefix("id: ")))
        .expect("beacon.connected has an id")
        .to_owned();
    assert_eq!(start, before, "a live stream starts after the newest event");
    drop(sub);
    let missed = acme.publish(ev("a.b", json!(1))).await;
    let mut again = acme.stream(&token).last_event_id(&start).connect().await;
    assert_eq!(again.expect_connected().await["resume"], "exact");
    again.expect_ids(std::slice::from_ref(&missed)).await;
}

#[tokio::test]
async fn tenants_are_managed_by_the_admin_only() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    server.create_tenant("shop-2").await;

    let duplicate = send(
        server
            .admin(Method::POST, "/v1/tenants")
            .json(&json!({"id": "acme"})),
    )
    .await;
    duplicate.assert_error(409, "tenant_exists");

    for bad in ["", "Acme", "-acme", "a_b", "a b", &"a".repeat(64)] {
        let reply = send(
            server
                .admin(Method::POST, "/v1/tenants")
                .json(&json!({ "id": bad })),
        )
        .await;
        reply.assert_error_status(400);
    }
    let longest = "a".repeat(63);
    server.create_tenant(&longest).await;

    let list = send(server.admin(Method::GET, "/v1/tenants")).await;
    list.assert_status(200);
    let body = list.json();
    let mut ids: Vec<&str> = body["tenants"]
        .as_array()
        .unwrap_or_else(|| panic!("no tenants array: {body}"))
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![longest.as_str(), "acme", "shop-2"], "{body}");
    for tenant in body["tenants"].as_array().into_iter().flatten() {
        assert!(
            tenant.get("api_key").is_none() && tenant.get("signing_secret").is_none(),
            "secrets are shown only on creation: {tenant}"
        );
        assert!(tenant.get("created_at").is_some(), "{tenant}");
    }

    let one = send(server.admin(Method::GET, "/v1/tenants/acme")).await;
    one.assert_status(200);
    assert_eq!(one.json()["id"], "acme");
    assert!(one.json().get("created_at").is_some(), "{}", one.text);
    let missing = send(server.admin(Method::GET, "/v1/tenants/nope")).await;
    missing.assert_error_status(404);

    let anonymous = send(
        server
            .http()
            .post(server.url("/v1/tenants"))
            .json(&json!({"id": "evil"})),
    )
    .await;
    anonymous.assert_error(401, "unauthorized");
    let wrong_admin = send(
        server
            .http()
            .post(server.url("/v1/tenants"))
            .bearer_auth("not-the-admin-token")
            .json(&json!({"id": "evil"})),
    )
    .await;
    wrong_admin.assert_error(401, "unauthorized");
    let with_api_key = send(
        server
            .http()
            .post(server.url("/v1/tenants"))
            .bearer_auth(&acme.api_key)
            .json(&json!({"id": "evil"})),
    )
    .await;
    assert!(
        with_api_key.status == 401 || with_api_key.status == 403,
        "an API key must not create tenants: {} {}",
        with_api_key.status,
        with_api_key.text
    );
    with_api_key.assert_error_status(with_api_key.status);
    let check = send(server.admin(Method::GET, "/v1/tenants/evil")).await;
    check.assert_error_status(404);
}

#[tokio::test]
async fn health_endpoints_answer() {
    let server = Beacon::start().await;
    let health = server.get("/healthz").await;
    health.assert_status(200);
    assert_eq!(health.json(), json!({"status": "ok"}));
    server.get("/readyz").await.assert_status(200);
}

#[tokio::test]
async fn tokens_carry_sub_tenant_and_expiry() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let now = beacon_test_support::jwt::now();

    let reply = acme.token_request(&json!({"sub": "42"})).await;
    reply.assert_status(200);
    let body = reply.json();
    let token = body["token"].as_str().unwrap_or_default();
    let expires_at = body["expires_at"].as_u64().unwrap_or_default();
    assert!(
        expires_at.abs_diff(now + 3600) < 120,
        "default ttl is 3600 s: {body}"
    );
    let claims = beacon_test_support::jwt::claims(token);
    assert_eq!(claims["sub"], "42", "{claims}");
    assert_eq!(claims["tenant"], "acme", "{claims}");
    assert_eq!(claims["exp"], expires_at, "{claims}");
    beacon_test_support::jwt::signing_key(&acme.signing_secret, token);

    let short = acme.token_request(&json!({"sub": "7", "ttl_s": 60})).await;
    short.assert_status(200);
    let expires_at = short.json()["expires_at"].as_u64().unwrap_or_default();
    assert!(expires_at.abs_diff(now + 60) < 120, "{}", short.text);

    let too_long = acme
        .token_request(&json!({"sub": "7", "ttl_s": 31 * 24 * 3600}))
        .await;
    if too_long.status == 200 {
        let expires_at = too_long.json()["expires_at"].as_u64().unwrap_or_default();
        assert!(
            expires_at <= jwt_now_plus_30_days(),
            "ttl_s is capped at 30 days: {}",
            too_long.text
        );
    } else {
        too_long.assert_error_status(400);
    }

    let anonymous = send(
        server
            .http()
            .post(server.url("/v1/tokens"))
            .json(&json!({"sub": "1"})),
    )
    .await;
    anonymous.assert_error(401, "unauthorized");
}

fn jwt_now_plus_30_days() -> u64 {
    beacon_test_support::jwt::now() + 30 * 24 * 3600 + 120
}
