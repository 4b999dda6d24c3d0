//! Activations: a hot swap under load, and nodes on one Redis running the same
//! active version.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use beacon_test_support::{
    Patience, RedisServer, Subscriber, Tenant, activation, ev, plugin, plugin_node, unique_name,
};
use serde_json::{Value, json};

use super::{QUIET, assert_not_stored, connect, data, replay_after};

/// Which version of a hot-swapped plugin processed an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessedBy {
    /// display-amount: `displayAmount` added, e-mail untouched.
    DisplayAmount,
    /// pii-redact: e-mail masked, no `displayAmount`.
    PiiRedact,
}

/// A swap test event: a payment with an e-mail address.
fn swap_event(n: usize) -> Value {
    ev(
        "payment.captured",
        json!({"n": n, "amount": 1000 + n, "currency": "USD", "email": format!("buyer{n}@example.com")}),
    )
}

/// Which version processed event `n`; panics for an event processed by
/// both or neither.
fn processed_by(n: usize, data: &Value) -> ProcessedBy {
    let email = format!("buyer{n}@example.com");
    let display = format!("${}.{:02}", (1000 + n) / 100, (1000 + n) % 100);
    assert_eq!(data["n"], n, "{data}");
    assert_eq!(data["amount"], 1000 + n, "{data}");
    match (data.get("displayAmount"), data["email"].as_str()) {
        (Some(shown), Some(e)) if e == email && *shown == json!(display) => {
            ProcessedBy::DisplayAmount
        }
        (None, Some("b***@example.com")) => ProcessedBy::PiiRedact,
        _ => panic!("event {n} was processed by both versions or neither: {data}"),
    }
}

#[tokio::test]
async fn a_hot_swap_under_load_loses_and_duplicates_nothing() {
    const EVENTS: usize = 300;
    let server = plugin_node().start().await;
    let acme = server.create_tenant("acme").await;
    let v1 = acme
        .upload_version("enricher", &plugin("display-amount"))
        .await;
    let v2 = acme.upload_version("enricher", &plugin("pii-redact")).await;
    assert_eq!((v1, v2), (1, 2));
    let body = |version| activation(version, &["payment.*"], "fail_closed", json!({}));
    acme.activate("enricher", &body(v1)).await;

    let mut subscribers = [
        connect(&acme, "u1", None).await,
        connect(&acme, "u2", Some("payment.*")).await,
        connect(&acme, "u3", Some("payment.captured")).await,
    ];
    // The marker reaches only the subscriber without a type filter.
    let marker = acme.publish(ev("test.marker", json!({}))).await;
    subscribers[0]
        .expect_ids(std::slice::from_ref(&marker))
        .await;

    // Publish EVENTS numbered events one after another while another task
    // switches v1 → v2 at a third and rolls back at two thirds. `published`
    // counts answered publishes; each switch records the count before the
    // PUT was sent and after it answered.
    let published = Arc::new(AtomicUsize::new(0));
    let switcher = {
        let acme = acme.clone();
        let published = published.clone();
        tokio::spawn(async move {
            let mut windows = Vec::new();
            for (at, version) in [(EVENTS / 3, 2), (2 * EVENTS / 3, 1)] {
                while published.load(Ordering::SeqCst) < at {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let started = published.load(Ordering::SeqCst);
                acme.activate("enricher", &body(version)).await;
                windows.push((started, published.load(Ordering::SeqCst)));
            }
            windows
        })
    };
    let mut ids = Vec::with_capacity(EVENTS);
    for n in 0..EVENTS {
        ids.push(acme.publish(swap_event(n)).await);
        published.fetch_add(1, Ordering::SeqCst);
    }
    let windows = switcher.await.unwrap_or_else(|e| panic!("switcher: {e}"));

    // Every subscriber: every event once, in order, no control event.
    let mut versions: Vec<ProcessedBy> = Vec::new();
    for (i, sub) in subscribers.iter_mut().enumerate() {
        let events = sub.expect_ids(&ids).await;
        let seen: Vec<ProcessedBy> = events
            .iter()
            .enumerate()
            .map(|(n, e)| processed_by(n, data(e)))
            .collect();
        if i == 0 {
            versions = seen;
        } else {
            assert_eq!(seen, versions, "subscriber {i} saw other events");
        }
        sub.assert_quiet(QUIET).await;
        assert!(sub.ended().is_none(), "subscriber {i}'s stream ended");
        assert!(
            !sub.history()
                .iter()
                .any(|e| e.is_control() && e.event != "beacon.connected"),
            "subscriber {i} got a control event"
        );
    }

    // v1, then v2, then v1 again: each switch once, where the PUTs were.
    let switches: Vec<usize> = (1..EVENTS)
        .filter(|&n| versions[n] != versions[n - 1])
        .collect();
    assert_eq!(versions[0], ProcessedBy::DisplayAmount);
    assert_eq!(switches.len(), 2, "switches at {switches:?} ({windows:?})");
    for (switch, (started, answered)) in switches.iter().zip(&windows) {
        assert!(
            *started <= *switch && *switch <= answered + 1,
            "switch at event {switch}, PUT between {started} and {answered}"
        );
    }
    assert_eq!(versions[switches[0]], ProcessedBy::PiiRedact);
    assert_eq!(versions[EVENTS - 1], ProcessedBy::DisplayAmount);

    // Stored once: a replay shows the same, and the plugin ran once per event.
    let mut replay = replay_after(&acme, "u4", &marker, None).await;
    let replayed = replay.expect_ids(&ids).await;
    for (n, event) in replayed.iter().enumerate() {
        assert_eq!(processed_by(n, data(event)), versions[n]);
    }
    let stats = acme.plugin_stats("enricher").await;
    assert_eq!(
        (
            stats.get("calls"),
            stats.get("modifies"),
            stats.get("failures")
        ),
        (EVENTS as u64, EVENTS as u64, 0),
        "{stats:?}"
    );
}

/// Publishes `probe(n)` on `tenant` and reads it back from `sub`, until
/// `wanted` holds for its data. Returns how long that took.
async fn until_processed(
    what: &str,
    tenant: &Tenant,
    sub: &mut Subscriber,
    probe: impl Fn(usize) -> Value,
    wanted: impl Fn(&Value) -> bool,
) -> Duration {
    let patience = Patience::new(what, Duration::from_secs(2));
    for n in 0.. {
        let id = tenant.publish(probe(n)).await;
        let got = sub.expect_ids(&[id]).await;
        if wanted(data(&got[0])) {
            break;
        }
        patience.retry(&got[0].data).await;
    }
    patience.elapsed()
}

#[tokio::test]
async fn two_nodes_on_redis_run_the_same_active_version() {
    let redis = RedisServer::start().await;
    let prefix = unique_name("plugins");
    let n1 = plugin_node().redis(&redis.url(), &prefix).start().await;
    let n2 = plugin_node().redis(&redis.url(), &prefix).start().await;
    let on1 = n1.create_tenant("acme").await;
    let on2 = on1.on(&n2);
    let mut sub = on1.subscribe("u1").await;

    let v1 = on1
        .upload_version("enricher", &plugin("display-amount"))
        .await;
    let v2 = on1.upload_version("enricher", &plugin("pii-redact")).await;
    let body = |version| activation(version, &["payment.*"], "fail_closed", json!({}));
    on1.activate("enricher", &body(v1)).await;
    let enriched = |d: &Value| d.get("displayAmount").is_some();
    let redacted = |d: &Value| d.get("displayAmount").is_none() && d["email"] == "b***@example.com";
    let took = until_processed("node 2 runs v1", &on2, &mut sub, swap_event, enriched).await;
    eprintln!("node 2 ran the activation from node 1 after {took:?}");
    let on_n2 = on2.plugin_stats("enricher").await;
    assert!(on_n2.get("modifies") >= 1, "node 2 ran it: {on_n2:?}");
    assert_eq!(on2.plugin("enricher").await["activation"]["version"], v1);

    // A switch on node 1 reaches node 2; a rollback on node 2 reaches node 1.
    on1.activate("enricher", &body(v2)).await;
    until_processed("node 2 runs v2", &on2, &mut sub, swap_event, redacted).await;
    on2.activate("enricher", &body(v1)).await;
    until_processed("node 1 rolls back", &on1, &mut sub, swap_event, enriched).await;

    // Dead letters written on node 2 are listed on node 1.
    on1.install(
        "misbehave",
        &plugin("misbehave"),
        activation(0, &["test.*"], "fail_closed", json!({})),
    )
    .await;
    let patience = Patience::new("node 2 runs misbehave", Duration::from_secs(3));
    loop {
        let reply = on2.post_events(&ev("test.x", json!({"do": "drop"}))).await;
        if reply.status == 200 {
            assert_not_stored(&reply, "dropped", "misbehave");
            break;
        }
        reply.assert_status(201);
        sub.next().await;
        patience.retry(&reply.text).await;
    }
    let reply = on2
        .post_events(&ev("test.x", json!({"do": "trap", "node": 2})))
        .await;
    assert_not_stored(&reply, "dead_lettered", "misbehave");
    let letters = on1.dead_letters().await;
    assert!(
        letters
            .iter()
            .any(|l| l["code"] == "trap" && l["event"]["data"]["node"] == 2),
        "{letters:#?}"
    );

    // Quarantined on node 2 (five failures in a row): node 1 skips it too.
    for _ in 0..4 {
        let reply = on2
            .post_events(&ev("test.x", json!({"do": "trap", "node": 2})))
            .await;
        assert_not_stored(&reply, "dead_lettered", "misbehave");
    }
    assert_eq!(on1.plugin("misbehave").await["quarantine"]["failures"], 5);
    let patience = Patience::new(
        "node 1 skips the quarantined plugin",
        Duration::from_secs(3),
    );
    loop {
        // Until node 1 follows, the plugin still drops the event there.
        let reply = on1
            .post_events(&ev("test.x", json!({"do": "drop", "node": 1})))
            .await;
        reply.assert_status(200);
        let body = reply.json();
        let reason = body["reason"].as_str().unwrap_or_default();
        if body["outcome"] == "dead_lettered" && reason.starts_with("quarantined: ") {
            break;
        }
        assert_eq!(body["outcome"], "dropped", "{body}");
        patience.retry(&body).await;
    }
    assert!(on1.plugin_stats("misbehave").await.get("skipped") >= 1);
    let letters = on2.dead_letters().await;
    assert!(
        letters
            .iter()
            .any(|l| l["code"] == "quarantined" && l["event"]["data"]["node"] == 1),
        "node 1's letters on node 2: {letters:#?}"
    );

    // Re-activated on node 1: node 2 calls it again.
    on1.activate(
        "misbehave",
        &activation(1, &["test.*"], "fail_closed", json!({})),
    )
    .await;
    let patience = Patience::new("node 2 lifts the quarantine", Duration::from_secs(3));
    loop {
        let reply = on2.post_events(&ev("test.x", json!({"do": "drop"}))).await;
        let body = reply.json();
        if body["outcome"] == "dropped" {
            break;
        }
        patience.retry(&body).await;
    }
}
