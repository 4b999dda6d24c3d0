//! Limits and presence: the per-user connection cap on one node and
//! globally across nodes sharing Redis, publish rate limiting (429 with
//! `Retry-After`), a killed node's connections lapsing after the presence
//! TTL, close-oldest across nodes, `GET /v1/presence`, and the
//! `presence.joined` / `presence.left` events.

use std::time::Duration;

use beacon_test_support::{
    Beacon, BeaconBuilder, RedisServer, Reply, Tenant, ev, send, unique_name,
};
use serde_json::{Value, json};

/// Two nodes on one Redis with the same extra flags.
async fn two_nodes(redis: &RedisServer, flags: &[(&str, &str)]) -> (Beacon, Beacon) {
    let prefix = unique_name("e2e-limits");
    let builder = flags.iter().fold(
        Beacon::builder().redis(&redis.url(), &prefix),
        |b: BeaconBuilder, (name, value)| b.arg(name, *value),
    );
    (builder.clone().start().await, builder.start().await)
}

/// `GET /v1/presence` with the tenant's key, without its `seq`.
async fn presence(tenant: &Tenant) -> Value {
    let reply = send(
        tenant
            .http
            .get(tenant.url("/v1/presence"))
            .bearer_auth(&tenant.api_key),
    )
    .await;
    reply.assert_status(200);
    let mut online = reply.json();
    let seq = online.as_object_mut().and_then(|o| o.remove("seq"));
    assert!(seq.is_some_and(|s| s.is_u64()), "{online}");
    online
}

/// Polls presence until it equals `want` (panics after `limit`).
async fn wait_for_presence(tenant: &Tenant, want: Value, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let got = presence(tenant).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "presence is {got} instead of {want} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn refused_stream(tenant: &Tenant, sub: &str) -> Reply {
    let token = tenant.token(sub).await;
    tenant.stream(&token).send_expecting_error().await
}

#[tokio::test]
async fn the_per_user_cap_holds_on_one_node_and_a_closed_stream_frees_its_slot() {
    let node = Beacon::builder()
        .arg("max-connections-per-user", "2")
        .start()
        .await;
    let acme = node.create_tenant("acme").await;
    let first = acme.subscribe("42").await;
    let _second = acme.subscribe("42").await;
    let _other_user = acme.subscribe("7").await;
    let body = refused_stream(&acme, "42")
        .await
        .assert_error(429, "too_many_connections");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("max_connections_per_user = 2")),
        "{body}"
    );
    drop(first);
    wait_for_presence(
        &acme,
        json!({"users": [{"user": "42", "connections": 1}, {"user": "7", "connections": 1}], "connections": 2}),
        Duration::from_secs(5),
    )
    .await;
    let _third = acme.subscribe("42").await;
}

#[tokio::test]
async fn the_per_user_cap_holds_across_two_nodes_sharing_redis() {
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&redis, &[("max-connections-per-user", "2")]).await;
    let on_a = a.create_tenant("acme").await;
    let on_b = on_a.on(&b);
    let _one = on_a.subscribe("42").await;
    let _two = on_b.subscribe("42").await;
    refused_stream(&on_a, "42")
        .await
        .assert_error(429, "too_many_connections");
    refused_stream(&on_b, "42")
        .await
        .assert_error(429, "too_many_connections");
    let _someone_else = on_b.subscribe("7").await;
}

#[tokio::test]
async fn publishing_over_the_tenant_rate_answers_429_with_retry_after_on_every_node() {
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&redis, &[("publish-rate", "1"), ("publish-burst", "2")]).await;
    let on_a = a.create_tenant("acme").await;
    let on_b = on_a.on(&b);
    on_a.publish(ev("thing.done", json!({}))).await;
    on_b.publish(ev("thing.done", json!({}))).await;
    for node in [&on_a, &on_b] {
        let reply = node.post_events(&ev("thing.done", json!({}))).await;
        reply.assert_error(429, "rate_limited");
        let retry: u64 = reply
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After in {:?}", reply.headers));
        assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    on_b.publish(ev("thing.done", json!({}))).await;
}

#[tokio::test]
async fn a_killed_nodes_connections_stop_counting_after_the_presence_ttl() {
    let redis = RedisServer::start().await;
    let flags = [
        ("max-connections-per-user", "1"),
        ("presence-ttl", "2s"),
        ("heartbeat", "1s"),
    ];
    let (mut a, b) = two_nodes(&redis, &flags).await;
    let on_a = a.create_tenant("acme").await;
    let on_b = on_a.on(&b);
    let on_dead_node = on_a.subscribe("42").await;
    a.kill().await;
    drop(on_dead_node);
    // Still counted right after the crash...
    refused_stream(&on_b, "42")
        .await
        .assert_error(429, "too_many_connections");
    assert_eq!(presence(&on_b).await["connections"], 1);
    // ...and no longer once the TTL has passed without a refresh.
    wait_for_presence(
        &on_b,
        json!({"users": [], "connections": 0}),
        Duration::from_secs(5),
    )
    .await;
    let _on_b = on_b.subscribe("42").await;
}

#[tokio::test]
async fn presence_lists_users_on_both_nodes_and_drops_them_after_disconnect() {
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&redis, &[]).await;
    let on_a = a.create_tenant("acme").await;
    let on_b = on_a.on(&b);
    let alice = on_a.subscribe("alice").await;
    let _bob_1 = on_b.subscribe("bob").await;
    let _bob_2 = on_a.subscribe("bob").await;
    let both = json!({
        "users": [{"user": "alice", "connections": 1}, {"user": "bob", "connections": 2}],
        "connections": 3,
    });
    assert_eq!(presence(&on_a).await, both);
    assert_eq!(presence(&on_b).await, both);
    drop(alice);
    wait_for_presence(
        &on_b,
        json!({"users": [{"user": "bob", "connections": 2}], "connections": 2}),
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test]
async fn close_oldest_closes_the_users_oldest_stream_on_the_other_node() {
    let redis = RedisServer::start().await;
    let flags = [
        ("max-connections-per-user", "1"),
        ("user-cap-policy", "close-oldest"),
        ("heartbeat", "1s"),
    ];
    let (a, b) = two_nodes(&redis, &flags).await;
    let on_a = a.create_tenant("acme").await;
    let on_b = on_a.on(&b);
    let mut oldest = on_a.subscribe("42").await;
    let _newest = on_b.subscribe("42").await;
    let closed = oldest.expect_control("beacon.closed").await;
    assert_eq!(closed, json!({"reason": "replaced"}));
    assert!(oldest.next_or_end(Duration::from_secs(5)).await.is_none());
    assert_eq!(presence(&on_b).await["connections"], 1);
}

#[tokio::test]
async fn connection_attempts_per_ip_are_rate_limited_before_any_token_check() {
    let node = Beacon::builder()
        .arg("connect-rate-per-ip", "1")
        .arg("connect-burst-per-ip", "2")
        .start()
        .await;
    let acme = node.create_tenant("acme").await;
    let token = acme.token("42").await;
    let _first = acme.stream(&token).connect().await;
    // A bad token still spends an attempt: the limit comes first.
    acme.stream("not-a-token")
        .send_expecting_error()
        .await
        .assert_error(401, "unauthorized");
    let reply = acme.stream(&token).send_expecting_error().await;
    reply.assert_error(429, "rate_limited");
    assert!(reply.header("retry-after").is_some(), "{:?}", reply.headers);
}

/// The next presence event's (type, user, seq); panics on anything else.
async fn next_change(watcher: &mut beacon_test_support::Subscriber) -> (String, String, u64) {
    let event = watcher.next().await;
    assert!(
        event.event.starts_with("presence."),
        "expected a presence event, got {event:?}"
    );
    let data = &event.data["data"];
    let user = data["user"].as_str().unwrap_or_default().to_owned();
    assert_eq!(event.data["subject"], format!("user/{user}"), "{event:?}");
    (event.event, user, data["seq"].as_u64().unwrap_or_default())
}

#[tokio::test]
async fn presence_events_reach_a_watcher_from_both_nodes_and_report_a_killed_nodes_users() {
    let redis = RedisServer::start().await;
    let flags = [("presence-ttl", "2s"), ("heartbeat", "1s")];
    let (a, mut b) = two_nodes(&redis, &flags).await;
    let on_a = a
        .create_tenant_with(
            json!({"id": "acme", "presence_events": true, "allow_unregistered_types": true}),
        )
        .await;
    let on_b = on_a.on(&b);
    let token = on_a.token("watcher").await;
    let mut watcher = on_a.stream(&token).types("presence.*").connect().await;
    watcher.expect_connected().await;
    // A subscriber without `types` gets events, not presence changes.
    let mut plain = on_a.subscribe("plain").await;
    // The watcher's own join is appended as its stream opens: it may come
    // just before or just after the stream's starting point.
    let mut first = next_change(&mut watcher).await;
    if first.1 == "watcher" {
        first = next_change(&mut watcher).await;
    }
    assert_eq!(
        (first.0.as_str(), first.1.as_str()),
        ("presence.joined", "plain")
    );

    let alice_b = on_b.subscribe("alice").await;
    let (kind, user, joined_seq) = next_change(&mut watcher).await;
    assert_eq!((kind.as_str(), user.as_str()), ("presence.joined", "alice"));
    // The watcher's starting list, with its own token, from the other node.
    let listed = send(
        on_b.http
            .get(on_b.url(&format!("/v1/presence?access_token={token}"))),
    )
    .await;
    listed.assert_status(200);
    let listed = listed.json();
    let users: Vec<&str> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["user"].as_str())
        .collect();
    assert_eq!(users, ["alice", "plain", "watcher"], "{listed}");
    assert!(listed["seq"].as_u64().unwrap() >= joined_seq, "{listed}");
    // A second stream of an online user is no change; closing one of two neither.
    let alice_a = on_a.subscribe("alice").await;
    drop(alice_b);
    watcher.assert_quiet(Duration::from_millis(1500)).await;
    drop(alice_a);
    let (kind, user, left_seq) = next_change(&mut watcher).await;
    assert_eq!((kind.as_str(), user.as_str()), ("presence.left", "alice"));
    assert!(left_seq > joined_seq, "{left_seq} after {joined_seq}");

    // A node dies with bob's stream: the surviving node reports him gone
    // once his entry expired.
    let _bob = on_b.subscribe("bob").await;
    assert_eq!(next_change(&mut watcher).await.1, "bob");
    b.kill().await;
    let (kind, user, _) = next_change(&mut watcher).await;
    assert_eq!((kind.as_str(), user.as_str()), ("presence.left", "bob"));

    // The plain subscriber saw none of it, but does see the tenant's events.
    on_a.publish(ev("thing.done", json!({}))).await;
    assert_eq!(plain.next().await.event, "thing.done");
    // Beacon's own types cannot be published.
    let reply = send(
        on_a.http
            .post(on_a.url("/v1/events"))
            .bearer_auth(&on_a.api_key)
            .json(&json!({"type": "presence.left", "data": {"user": "carol", "seq": 1}})),
    )
    .await;
    reply.assert_error(400, "invalid_event");
}
