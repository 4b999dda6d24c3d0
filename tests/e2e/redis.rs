//! Beacon on Redis: several nodes share one stream per tenant, resume works
//! across nodes, and a Redis outage neither crashes a node nor loses an
//! acknowledged event.

use std::time::Duration;

use beacon_test_support::{Beacon, RedisServer, Reply, Tenant, ev, unique_name};
use serde_json::json;

use crate::resume::check_resume_while_publishing;

async fn two_nodes(redis: &RedisServer) -> (Beacon, Beacon) {
    let prefix = unique_name("e2e");
    let a = Beacon::start_with_redis(&redis.url(), &prefix).await;
    let b = Beacon::start_with_redis(&redis.url(), &prefix).await;
    (a, b)
}

/// Polls `path` on `node` until it answers `status` (panics after `limit`).
async fn wait_for_status(node: &Beacon, path: &str, status: u16, limit: Duration) -> Reply {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let reply = node.get(path).await;
        if reply.status == status {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} still answers {} ({}) instead of {status} after {limit:?}",
            reply.status,
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_event_published_on_one_node_reaches_subscribers_on_another() {
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&redis).await;
    let on_a = a.create_tenant("acme").await;
    let on_b = on_a.on(&b);

    let listed = beacon_test_support::send(b.admin(reqwest::Method::GET, "/v1/tenants/acme")).await;
    listed.assert_status(200);

    let mut sub_b = on_b.subscribe("42").await;
    let mut sub_a = on_a.subscribe("42").await;
    let from_a = on_a
        .publish(json!({"type": "order.created", "subject": "order/1", "data": {"n": 1}}))
        .await;
    let from_b = on_b.publish(ev("order.paid", json!({"n": 2}))).await;

    for sub in [&mut sub_a, &mut sub_b] {
        let events = sub.expect_ids(&[from_a.clone(), from_b.clone()]).await;
        assert_eq!(events[0].event, "order.created");
        assert_eq!(events[0].data["data"], json!({"n": 1}));
        assert_eq!(events[0].data["subject"], "order/1");
        assert_eq!(events[1].data["id"], from_b.as_str());
        sub.assert_quiet(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_subscriber_resumes_on_another_node_exactly_once() {
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&redis).await;
    let on_a = a.create_tenant("acme").await;
    let on_b = on_a.on(&b);
    let token = on_a.token("u1").await;

    let mut sub = on_a.stream(&token).connect().await;
    sub.expect_connected().await;
    let seen = on_a
        .publish_batch(&(0..3).map(|i| ev("seen", json!(i))).collect::<Vec<_>>())
        .await;
    sub.expect_ids(&seen).await;
    let last = sub.last_id().expect("events were received");
    drop(sub);

    let mut missed = Vec::new();
    for i in 0..4 {
        let node = if i % 2 == 0 { &on_a } else { &on_b };
        missed.push(node.publish(ev("missed", json!(i))).await);
    }

    let mut resumed = on_b.stream(&token).last_event_id(&last).connect().await;
    let connected = resumed.expect_connected().await;
    assert_eq!(connected["resume"], "exact", "connected: {connected}");
    resumed.expect_ids(&missed).await;
    let live = on_a.publish(ev("live", json!(null))).await;
    resumed.expect_ids(&[live]).await;
    resumed.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn resume_while_publishing_is_exactly_once_on_redis() {
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&redis).await;
    let on_a = a.create_tenant("acme").await;
    check_resume_while_publishing(&on_a, &on_a).await;
    check_resume_while_publishing(&on_a, &on_a.on(&b)).await;
}

#[tokio::test]
async fn acknowledged_events_survive_a_node_restart_on_redis() {
    let redis = RedisServer::start().await;
    let prefix = unique_name("e2e");
    let mut node = Beacon::start_with_redis(&redis.url(), &prefix).await;
    let acme = node.create_tenant("acme").await;
    let ids = acme
        .publish_batch(&(0..10).map(|i| ev("e", json!(i))).collect::<Vec<_>>())
        .await;
    node.kill().await;
    node.start_again().await;
    let acme = acme.on(&node);
    let token = acme.token("u1").await;
    let mut sub = acme.stream(&token).last_event_id(&ids[0]).connect().await;
    assert_eq!(sub.expect_connected().await["resume"], "exact");
    sub.expect_ids(&ids[1..]).await;
}

/// Reads from `sub` until the event `until` arrives or the stream ends; returns
/// the non-control event ids seen. A gap must never be reported.
async fn read_until(sub: &mut beacon_test_support::Subscriber, until: &str) -> (Vec<String>, bool) {
    let mut ids = Vec::new();
    while let Some(event) = sub.next_or_end(Duration::from_secs(30)).await {
        if event.is_control() {
            assert_ne!(
                event.event, "beacon.gap",
                "gap after a Redis outage: {event:?}"
            );
            continue;
        }
        ids.push(event.id.clone());
        if event.id == until {
            return (ids, true);
        }
    }
    (ids, false)
}

/// Publishes while Redis is down: must be refused with 503, a JSON error
/// body and `Retry-After` (whole seconds). Returns the error code, checked
/// at the end of the test.
async fn publish_during_outage(tenant: &Tenant, what: &str) -> String {
    let reply = tenant.post_events(&ev("during.outage", json!(what))).await;
    let error = reply.assert_error_status(503);
    let retry_after = reply
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|secs| secs >= 1),
        "503 without a valid Retry-After: {:?}",
        reply.headers
    );
    error["error"].as_str().unwrap_or_default().to_owned()
}

/// Publishes once Redis is back, retrying refusals (503) for a bounded time.
async fn publish_after_outage(tenant: &Tenant, n: u32) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reply = tenant.post_events(&ev("after", json!(n))).await;
        if reply.status == 201 {
            let id = reply.json()["id"].as_str().map(str::to_owned);
            return id.unwrap_or_else(|| panic!("no id in {}", reply.text));
        }
        reply.assert_error_status(503);
        eprintln!("publish after the outage refused: {}", reply.text);
        assert!(
            tokio::time::Instant::now() < deadline,
            "publishing still fails 30 s after Redis came back: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_redis_outage_is_survived_without_losing_acknowledged_events() {
    let mut redis = RedisServer::start().await;
    let (mut a, mut b) = two_nodes(&redis).await;
    let on_a = a.create_tenant("acme").await;
    let on_b = on_a.on(&b);
    let token = on_a.token("u1").await;

    let e0 = on_a.publish(ev("before", json!(0))).await;
    let mut sub_b = on_b.stream(&token).connect().await;
    sub_b.expect_connected().await;
    let e1 = on_a.publish(ev("before", json!(1))).await;
    sub_b.expect_ids(std::slice::from_ref(&e1)).await;

    redis.kill().await;
    for node in [&a, &b] {
        wait_for_status(node, "/readyz", 503, Duration::from_secs(30)).await;
        node.get("/healthz").await.assert_status(200);
    }
    let outage_codes = [
        publish_during_outage(&on_a, "on a").await,
        publish_during_outage(&on_b, "on b").await,
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;
    for node in [&mut a, &mut b] {
        assert!(node.is_running(), "a node died while Redis was down");
        node.get("/healthz").await.assert_status(200);
        node.get("/readyz").await.assert_status(503);
    }

    redis.start_again().await;
    for node in [&a, &b] {
        wait_for_status(node, "/readyz", 200, Duration::from_secs(60)).await;
    }
    let e2 = publish_after_outage(&on_a, 2).await;
    let e3 = publish_after_outage(&on_b, 3).await;

    let (mut got, reached) = read_until(&mut sub_b, &e3).await;
    if !reached {
        let mut again = on_b
            .stream(&token)
            .last_event_id(&sub_b.last_id().expect("e1 was received"))
            .connect()
            .await;
        let connected = again.expect_connected().await;
        assert_eq!(connected["resume"], "exact", "connected: {connected}");
        let (more, reached) = read_until(&mut again, &e3).await;
        assert!(reached, "the reconnected stream ended early");
        got.extend(more);
    }
    assert_eq!(got, [e2.clone(), e3.clone()], "delivery after the outage");

    let mut replay = on_a.stream(&token).last_event_id(&e0).connect().await;
    let connected = replay.expect_connected().await;
    assert_eq!(connected["resume"], "exact", "connected: {connected}");
    replay.expect_ids(&[e1, e2, e3]).await;
    replay.assert_quiet(Duration::from_millis(300)).await;

    assert_eq!(
        outage_codes,
        ["unavailable", "unavailable"],
        "publishing while Redis is down answers 503 unavailable"
    );
}
