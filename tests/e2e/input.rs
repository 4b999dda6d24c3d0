//! Hostile and malformed input: every refusal is a JSON error, nothing refused
//! is stored or delivered, and the server keeps working afterwards.

use std::time::Duration;

use beacon_test_support::{Beacon, Subscriber, Tenant, ev, send};
use serde_json::{Value, json};

/// Publishes a marker event and checks that it is the very next event the
/// subscriber gets (so nothing refused before it was delivered) and that the
/// server is healthy.
async fn assert_still_serving(server: &Beacon, tenant: &Tenant, sub: &mut Subscriber) {
    server.get("/healthz").await.assert_status(200);
    let marker = tenant.publish(ev("marker", json!("ok"))).await;
    sub.expect_ids(&[marker]).await;
    sub.assert_quiet(Duration::from_millis(200)).await;
}

async fn post_raw(tenant: &Tenant, body: impl Into<reqwest::Body>) -> beacon_test_support::Reply {
    send(
        tenant
            .events_request()
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await
}

#[tokio::test]
async fn malformed_json_is_rejected() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;

    for body in [
        "",
        "{",
        "{\"type\": \"a\", \"data\": 1",
        "not json",
        "{\"type\": \"a\", \"data\": 1} trailing",
        "\u{feff}[",
        "{\"type\": \"a\", \"data\": \"\\ud800\"",
    ] {
        let reply = post_raw(&acme, body).await;
        assert_eq!(reply.status, 400, "body {body:?}: {}", reply.text);
        reply.assert_error(400, "invalid_json");
    }
    let invalid_utf8 = post_raw(&acme, b"{\"type\":\"a\",\"data\":\"\xff\xfe\"}".to_vec()).await;
    invalid_utf8.assert_error(400, "invalid_json");
    assert_still_serving(&server, &acme, &mut sub).await;
}

#[tokio::test]
async fn invalid_events_are_rejected_with_details() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;

    let long = |n: usize| "a".repeat(n);
    let cases: Vec<(&str, Value)> = vec![
        (
            "unknown field",
            json!({"type": "a", "data": 1, "colour": "red"}),
        ),
        ("missing type", json!({"data": 1})),
        ("missing data", json!({"type": "a"})),
        ("empty type", json!({"type": "", "data": 1})),
        ("type with LF", json!({"type": "order\ncreated", "data": 1})),
        ("type with CR", json!({"type": "order\rcreated", "data": 1})),
        (
            "type with NUL",
            json!({"type": "order\u{0}created", "data": 1}),
        ),
        (
            "type with space",
            json!({"type": "order created", "data": 1}),
        ),
        (
            "type starting with a dot",
            json!({"type": ".order", "data": 1}),
        ),
        ("type too long", json!({"type": long(129), "data": 1})),
        ("type not a string", json!({"type": 5, "data": 1})),
        (
            "subject with LF",
            json!({"type": "a", "subject": "x\ny", "data": 1}),
        ),
        (
            "subject with CR",
            json!({"type": "a", "subject": "x\ry", "data": 1}),
        ),
        (
            "subject with NUL",
            json!({"type": "a", "subject": "x\u{0}y", "data": 1}),
        ),
        (
            "empty subject",
            json!({"type": "a", "subject": "", "data": 1}),
        ),
        (
            "subject too long",
            json!({"type": "a", "subject": long(257), "data": 1}),
        ),
        (
            "source with LF",
            json!({"type": "a", "source": "/x\n", "data": 1}),
        ),
        (
            "audience not an array",
            json!({"type": "a", "audience": "42", "data": 1}),
        ),
        (
            "audience with space",
            json!({"type": "a", "audience": ["4 2"], "data": 1}),
        ),
        (
            "audience with LF",
            json!({"type": "a", "audience": ["4\n2"], "data": 1}),
        ),
        (
            "audience too large",
            json!({"type": "a", "audience": (0..101).map(|i| i.to_string()).collect::<Vec<_>>(), "data": 1}),
        ),
        (
            "version zero",
            json!({"type": "a", "version": 0, "data": 1}),
        ),
        (
            "version not an integer",
            json!({"type": "a", "version": 1.5, "data": 1}),
        ),
        (
            "key with space",
            json!({"type": "a", "key": "k 1", "data": 1}),
        ),
        (
            "key too long",
            json!({"type": "a", "key": long(201), "data": 1}),
        ),
        ("not an object", json!("order.created")),
        ("array of non-objects", json!([1, 2])),
    ];
    let mut wrong = Vec::new();
    for (what, body) in &cases {
        let reply = acme.post_events(body).await;
        let error: Value = serde_json::from_str(&reply.text).unwrap_or(Value::Null);
        let ok = reply.status == 400
            && error["error"] == "invalid_event"
            && error["message"].as_str().is_some_and(|m| !m.is_empty())
            && error["details"].as_array().is_some_and(|d| !d.is_empty());
        if !ok {
            wrong.push(format!("{what}: {} {}", reply.status, reply.text));
        }
    }
    assert!(
        wrong.is_empty(),
        "expected 400 invalid_event with details for each of:\n{}",
        wrong.join("\n")
    );

    let batch = json!([
        {"type": "good.one", "data": 1},
        {"type": "bad\ntype", "data": 2},
    ]);
    let reply = acme.post_events(&batch).await;
    let error = reply.assert_error(400, "invalid_event");
    let details = error["details"].as_array().cloned().unwrap_or_default();
    assert!(
        details.iter().any(|d| d["path"] == "/1/type"),
        "details must point at /1/type: {error}"
    );
    for detail in &details {
        assert!(
            detail["path"].is_string() && detail["message"].is_string(),
            "detail without path/message: {error}"
        );
    }
    assert_still_serving(&server, &acme, &mut sub).await;

    let edge = acme
        .publish(json!({
            "type": long(128),
            "subject": format!("A-z0.9_/:@+=~#-{}", long(200)),
            "audience": (0..100).map(|i| i.to_string()).collect::<Vec<_>>(),
            "key": long(200),
            "version": 1,
            "data": {"deep": [[[{"x": null}]]]}
        }))
        .await;
    let token = acme.token("99").await;
    let mut replay = acme
        .stream(&token)
        .query("lastEventId", &sub.last_id().unwrap_or_default())
        .connect()
        .await;
    assert_eq!(replay.expect_connected().await["resume"], "exact");
    let delivered = replay.next().await;
    assert_eq!(delivered.id, edge, "the limit-sized event must be accepted");
}

#[tokio::test]
async fn size_limits_are_enforced() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;

    let big = acme
        .post_events(&ev("too.big", json!("x".repeat(70 * 1024))))
        .await;
    big.assert_error(413, "event_too_large");
    let in_batch = acme
        .post_events(&json!([
            ev("ok", json!(1)),
            ev("too.big", json!("x".repeat(70 * 1024)))
        ]))
        .await;
    in_batch.assert_error(413, "event_too_large");

    let batch: Vec<_> = (0..101).map(|i| ev("tiny", json!(i))).collect();
    acme.post_events(&Value::Array(batch))
        .await
        .assert_error(413, "batch_too_large");

    let body = Value::Array(
        (0..20)
            .map(|i| ev("chunk", json!({ "i": i, "pad": "y".repeat(60_000) })))
            .collect(),
    );
    acme.post_events(&body)
        .await
        .assert_error(413, "body_too_large");
    assert_still_serving(&server, &acme, &mut sub).await;

    let near_limit = acme
        .publish(ev("near.limit", json!("z".repeat(60 * 1024))))
        .await;
    sub.expect_ids(&[near_limit]).await;
    let full: Vec<_> = (0..100).map(|i| ev("tiny", json!(i))).collect();
    let ids = acme.publish_batch(&full).await;
    sub.expect_ids(&ids).await;
}

#[tokio::test]
async fn content_type_must_be_json() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;
    let body = serde_json::to_vec(&ev("a", json!(1))).expect("json");

    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = acme.events_request().body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let reply = send(request).await;
        assert_eq!(
            reply.status, 415,
            "content type {content_type:?}: {}",
            reply.text
        );
        reply.assert_error_status(415);
    }
    let with_charset = send(
        acme.events_request()
            .header("Content-Type", "application/json; charset=utf-8")
            .body(body),
    )
    .await;
    with_charset.assert_status(201);
    let id = with_charset.json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    sub.expect_ids(&[id]).await;
    assert_still_serving(&server, &acme, &mut sub).await;
}

#[tokio::test]
async fn publishing_needs_the_tenants_api_key() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;
    let token = acme.token("u1").await;
    let url = acme.url("/v1/events");
    let event = ev("sneaky", json!(1));

    let requests = [
        ("no credentials", server.http().post(&url)),
        (
            "unknown key",
            server.http().post(&url).bearer_auth("bk_0000000000000000"),
        ),
        (
            "malformed key",
            server.http().post(&url).bearer_auth("hello"),
        ),
        (
            "admin token",
            server.http().post(&url).bearer_auth(server.admin_token()),
        ),
        (
            "subscriber token",
            server.http().post(&url).bearer_auth(&token),
        ),
        (
            "basic auth",
            server
                .http()
                .post(&url)
                .basic_auth("acme", Some(&acme.api_key)),
        ),
        (
            "key with extra suffix",
            server
                .http()
                .post(&url)
                .bearer_auth(format!("{}x", acme.api_key)),
        ),
    ];
    for (what, request) in requests {
        let reply = send(request.json(&event)).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.assert_error(401, "unauthorized");
    }
    let reply = send(
        server
            .http()
            .post(&url)
            .header("Authorization", "Bearer")
            .json(&event),
    )
    .await;
    reply.assert_error(401, "unauthorized");
    assert_still_serving(&server, &acme, &mut sub).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_do_not_break_the_server() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;
    let not_found = send(server.http().get(server.url("/v1/nothing"))).await;
    assert_eq!(not_found.status, 404, "{}", not_found.text);
    let wrong_method = send(
        server
            .http()
            .delete(server.url("/v1/events"))
            .bearer_auth(&acme.api_key),
    )
    .await;
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.text);
    assert_still_serving(&server, &acme, &mut sub).await;
}
