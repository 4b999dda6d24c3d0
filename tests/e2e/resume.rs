//! Exactly-once resumption with `Last-Event-ID`: after a dropped connection,
//! across restarts, across epochs and after a slow-consumer cut-off.

use std::time::Duration;

use beacon_test_support::{Beacon, SseEvent, Tenant, ev};
use serde_json::json;

#[tokio::test]
async fn resume_with_last_event_id_header_delivers_exactly_the_missed_events() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("u1").await;

    let mut sub = acme.stream(&token).connect().await;
    sub.expect_connected().await;
    let before = acme
        .publish_batch(&(0..3).map(|i| ev("before", json!(i))).collect::<Vec<_>>())
        .await;
    sub.expect_ids(&before).await;
    let resume_from = sub.last_id().expect("an event was received");
    drop(sub);

    let mut missed = Vec::new();
    for i in 0..4 {
        missed.push(acme.publish(ev("while.away", json!(i))).await);
    }

    let mut sub = acme
        .stream(&token)
        .last_event_id(&resume_from)
        .connect()
        .await;
    let connected = sub.expect_connected().await;
    assert_eq!(connected["resume"], "exact", "connected: {connected}");
    assert_eq!(connected["last_event_id"], resume_from.as_str());
    sub.expect_ids(&missed).await;

    let live = acme.publish(ev("live", json!(1))).await;
    sub.expect_ids(&[live]).await;
    sub.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn resume_with_last_event_id_query_parameter_and_header_precedence() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("u1").await;
    let ids = acme
        .publish_batch(&(0..6).map(|i| ev("e", json!(i))).collect::<Vec<_>>())
        .await;

    let mut by_query = acme
        .stream(&token)
        .query("lastEventId", &ids[1])
        .connect()
        .await;
    let connected = by_query.expect_connected().await;
    assert_eq!(connected["resume"], "exact", "connected: {connected}");
    by_query.expect_ids(&ids[2..]).await;

    let mut both = acme
        .stream(&token)
        .query("lastEventId", &ids[0])
        .last_event_id(&ids[3])
        .connect()
        .await;
    let connected = both.expect_connected().await;
    assert_eq!(
        connected["last_event_id"],
        ids[3].as_str(),
        "the header wins"
    );
    both.expect_ids(&ids[4..]).await;

    let mut at_end = acme.stream(&token).last_event_id(&ids[5]).connect().await;
    assert_eq!(at_end.expect_connected().await["resume"], "exact");
    let live = acme.publish(ev("live", json!(null))).await;
    at_end.expect_ids(std::slice::from_ref(&live)).await;
    by_query.expect_ids(std::slice::from_ref(&live)).await;
    both.expect_ids(&[live]).await;
}

/// Subscribers resume from the same id while events keep being published (on
/// `publish_on`); each must see every event exactly once, in order, across the
/// switch from replay to live delivery.
pub async fn check_resume_while_publishing(publish_on: &Tenant, subscribe_on: &Tenant) {
    const EVENTS: usize = 60;
    let start = publish_on.publish(ev("seq.start", json!(0))).await;
    let token = subscribe_on.token("u1").await;

    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let publisher = {
        let tenant = publish_on.clone();
        tokio::spawn(async move {
            let mut ids = Vec::with_capacity(EVENTS);
            while ids.len() < EVENTS {
                let i = ids.len();
                if i % 7 == 3 {
                    let batch: Vec<_> = (i..i + 3).map(|j| ev("seq", json!(j))).collect();
                    ids.extend(tenant.publish_batch(&batch).await);
                } else {
                    ids.push(tenant.publish(ev("seq", json!(i))).await);
                }
                progress_tx.send_replace(ids.len());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ids
        })
    };

    let mut subscribers = Vec::new();
    for threshold in [0, 15, 35] {
        progress
            .wait_for(|n| *n >= threshold)
            .await
            .expect("publisher alive");
        let mut sub = subscribe_on
            .stream(&token)
            .last_event_id(&start)
            .connect()
            .await;
        let connected = sub.expect_connected().await;
        assert_eq!(connected["resume"], "exact", "connected: {connected}");
        subscribers.push(sub);
    }
    let ids = tokio::time::timeout(Duration::from_secs(60), publisher)
        .await
        .expect("publishing finishes")
        .expect("publisher task");
    for sub in &mut subscribers {
        let events = sub.expect_ids(&ids).await;
        let numbers: Vec<_> = events.iter().map(|e| e.data["data"].clone()).collect();
        assert_eq!(
            numbers,
            (0..ids.len()).map(|i| json!(i)).collect::<Vec<_>>()
        );
        sub.assert_quiet(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn resume_while_publishing_is_exactly_once() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    check_resume_while_publishing(&acme, &acme).await;
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9_and_restart() {
    let mut server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(acme.publish(ev("single", json!(i))).await);
    }
    ids.extend(
        acme.publish_batch(&(5..20).map(|i| ev("batched", json!(i))).collect::<Vec<_>>())
            .await,
    );

    server.kill().await;
    server.start_again().await;
    let acme = acme.on(&server);

    let token = acme.token("u1").await;
    let mut sub = acme.stream(&token).last_event_id(&ids[0]).connect().await;
    let connected = sub.expect_connected().await;
    assert_eq!(
        connected["resume"], "exact",
        "the stream's epoch must survive a restart: {connected}"
    );
    let events = sub.expect_ids(&ids[1..]).await;
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.data["data"], i + 1);
    }
    let after = acme.publish(ev("after.restart", json!(20))).await;
    assert!(!ids.contains(&after), "a new event reused an old id");
    sub.expect_ids(&[after]).await;
}

#[tokio::test]
async fn sigterm_closes_streams_with_shutdown_and_exits_cleanly() {
    let mut server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.subscribe("u1").await;
    let e1 = acme.publish(ev("one", json!(1))).await;
    let e2 = acme.publish(ev("two", json!(2))).await;
    sub.expect_ids(&[e1.clone(), e2.clone()]).await;

    server.send_sigterm();
    let shutdown = sub.next().await;
    assert_eq!(shutdown.event, "beacon.shutdown", "got {shutdown:?}");
    let after = sub.expect_end(Duration::from_secs(10)).await;
    assert!(after.is_empty(), "events after beacon.shutdown: {after:?}");
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "beacon exited with {status} after SIGTERM"
    );

    server.start_again_on_same_port().await;
    let token = acme.token("u1").await;
    let mut sub = acme.stream(&token).last_event_id(&e1).connect().await;
    assert_eq!(sub.expect_connected().await["resume"], "exact");
    sub.expect_ids(&[e2]).await;
}

#[tokio::test]
async fn sigterm_while_publishing_loses_no_acknowledged_event() {
    let mut server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let first = acme.publish(ev("start", json!(-1))).await;

    let (acked_tx, mut acked) = tokio::sync::watch::channel(0usize);
    let publisher = {
        let tenant = acme.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut attempts = 0usize;
            loop {
                attempts += 1;
                let sent = tenant
                    .events_request()
                    .json(&ev("load", json!(attempts)))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if response.status().as_u16() != 201 {
                    break;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    break;
                };
                let id = body["id"].as_str().map(str::to_owned);
                ids.push(id.unwrap_or_else(|| panic!("no id in {body}")));
                acked_tx.send_replace(ids.len());
            }
            (ids, attempts)
        })
    };
    acked
        .wait_for(|n| *n >= 20)
        .await
        .expect("the publisher got 20 acknowledgements");
    server.send_sigterm();
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "beacon exited with {status} after SIGTERM"
    );
    let (ids, attempts) = tokio::time::timeout(Duration::from_secs(60), publisher)
        .await
        .expect("the publisher stops once the server is gone")
        .expect("publisher task");
    assert_eq!(attempts, ids.len() + 1, "one failed attempt ends the loop");

    server.start_again().await;
    let acme = acme.on(&server);
    let token = acme.token("u1").await;
    let mut sub = acme.stream(&token).last_event_id(&first).connect().await;
    assert_eq!(sub.expect_connected().await["resume"], "exact");
    sub.expect_ids(&ids).await;
    let marker = acme.publish(ev("marker", json!(null))).await;
    let next = sub.next().await;
    if next.id != marker {
        assert_eq!(
            next.data["data"],
            json!(attempts),
            "only the unacknowledged last attempt may have been stored: {next:?}"
        );
        sub.expect_ids(&[marker]).await;
    }
}

#[tokio::test]
async fn resume_from_another_epoch_reports_a_gap_then_replays_the_stream() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let ids = acme
        .publish_batch(&(0..3).map(|i| ev("e", json!(i))).collect::<Vec<_>>())
        .await;
    let foreign = "zzzzzzzz_1-0";
    assert!(
        !ids[0].starts_with("zzzzzzzz_"),
        "unlucky epoch collision: {ids:?}"
    );
    let token = acme.token("u1").await;

    let mut expected = ids.clone();
    for by_header in [true, false] {
        let request = acme.stream(&token);
        let request = if by_header {
            request.last_event_id(foreign)
        } else {
            request.query("lastEventId", foreign)
        };
        let mut sub = request.connect().await;
        let connected = sub.expect_connected().await;
        assert_eq!(connected["resume"], "gap", "connected: {connected}");
        let gap = sub.expect_control("beacon.gap").await;
        assert_eq!(gap["reason"], "epoch", "gap: {gap}");
        assert_eq!(gap["requested"], foreign, "gap: {gap}");
        sub.expect_ids(&expected).await;
        let live = acme.publish(ev("live", json!(by_header))).await;
        sub.expect_ids(std::slice::from_ref(&live)).await;
        expected.push(live);
    }
}

#[tokio::test]
async fn resume_from_before_retention_reports_an_expired_gap() {
    let server = Beacon::builder().arg("retention-events", "5").start().await;
    let acme = server.create_tenant("acme").await;
    let mut ids = Vec::new();
    for chunk in 0..5 {
        ids.extend(
            acme.publish_batch(
                &(0..10)
                    .map(|i| ev("e", json!(chunk * 10 + i)))
                    .collect::<Vec<_>>(),
            )
            .await,
        );
    }
    let token = acme.token("u1").await;
    let mut sub = acme.stream(&token).last_event_id(&ids[0]).connect().await;
    let connected = sub.expect_connected().await;
    let marker = acme.publish(ev("marker", json!(null))).await;
    let mut events: Vec<SseEvent> = Vec::new();
    loop {
        let event = sub.next().await;
        if event.id == marker {
            break;
        }
        events.push(event);
    }
    if connected["resume"] == "exact" {
        let got: Vec<_> = events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(got, ids[1..], "an exact resume must replay everything");
    } else {
        assert_eq!(connected["resume"], "gap", "connected: {connected}");
        assert!(
            !events.is_empty() && events[0].event == "beacon.gap",
            "expected beacon.gap first: {events:?}"
        );
        assert_eq!(events[0].data["reason"], "expired", "{:?}", events[0]);
        assert_eq!(events[0].data["requested"], ids[0].as_str());
        let got: Vec<_> = events[1..].iter().map(|e| e.id.clone()).collect();
        assert!(
            got.len() >= 5 && ids.ends_with(&got),
            "after an expired gap delivery continues with the oldest retained events, \
             contiguous up to the newest: {got:?} (published {ids:?})"
        );
    }
}

/// Reads until `expected` ids have all arrived, reconnecting with the last id
/// received whenever the stream ends (at most `max_reconnects` times).
async fn collect_with_reconnects(
    tenant: &Tenant,
    token: &str,
    mut last_id: String,
    expected: &[String],
    max_reconnects: usize,
) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    for _ in 0..=max_reconnects {
        let mut sub = tenant.stream(token).last_event_id(&last_id).connect().await;
        let connected = sub.expect_connected().await;
        assert_eq!(connected["resume"], "exact", "connected: {connected}");
        while got.len() < expected.len() {
            match sub.next_or_end(Duration::from_secs(30)).await {
                Some(event) if event.is_control() => {
                    assert_eq!(
                        event.event, "beacon.overflow",
                        "unexpected control event {event:?}"
                    );
                    assert_eq!(event.data["last_event_id"], last_id.as_str());
                }
                Some(event) => {
                    last_id = event.id.clone();
                    got.push(event.id);
                }
                None => break,
            }
        }
        if got.len() == expected.len() {
            return got;
        }
    }
    panic!(
        "only {} of {} events after {max_reconnects} reconnects",
        got.len(),
        expected.len()
    );
}

#[tokio::test]
async fn slow_consumer_is_cut_off_and_resumes_exactly_once() {
    const BATCHES: usize = 20;
    const PER_BATCH: usize = 15;
    let server = Beacon::builder().arg("queue", "16").start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("u1").await;
    let mut sub = acme.stream(&token).connect().await;
    sub.expect_connected().await;
    let first = acme.publish(ev("small", json!("first"))).await;
    sub.expect_ids(std::slice::from_ref(&first)).await;

    sub.pause();
    let padding = "x".repeat(48_000);
    let mut ids = Vec::new();
    for b in 0..BATCHES {
        let batch: Vec<_> = (0..PER_BATCH)
            .map(|i| ev("big", json!({ "n": b * PER_BATCH + i, "padding": padding })))
            .collect();
        ids.extend(acme.publish_batch(&batch).await);
    }
    sub.resume();

    let mut received: Vec<String> = Vec::new();
    let mut overflow = None;
    while let Some(event) = sub.next_or_end(Duration::from_secs(30)).await {
        if event.is_control() {
            assert_eq!(event.event, "beacon.overflow", "unexpected {event:?}");
            assert!(overflow.is_none(), "two overflow events");
            overflow = Some(event.data);
        } else {
            assert!(
                overflow.is_none(),
                "event {} after beacon.overflow",
                event.id
            );
            received.push(event.id);
            assert!(
                received.len() < ids.len(),
                "a consumer that read nothing while {} large events were published was never \
                 cut off (--queue 16)",
                ids.len()
            );
        }
    }
    assert!(
        ids.starts_with(&received),
        "before the cut-off the events must be a prefix of the published ones"
    );
    let last = received.last().cloned().unwrap_or_else(|| first.clone());
    let overflow = overflow.as_ref().unwrap_or_else(|| {
        panic!(
            "the stream ended after {} events without beacon.overflow",
            received.len()
        )
    });
    assert_eq!(overflow["reason"], "slow_consumer", "overflow: {overflow}");
    assert_eq!(
        overflow["last_event_id"],
        last.as_str(),
        "overflow must name the last event delivered"
    );

    eprintln!(
        "slow consumer: {} of {} events before the cut-off; overflow: {overflow:?}; end: {:?}",
        received.len(),
        ids.len(),
        sub.ended()
    );
    let rest = collect_with_reconnects(&acme, &token, last, &ids[received.len()..], 5).await;
    assert_eq!(rest, ids[received.len()..], "resumed events");
}
