//! Subscriber processes against the scripted server: every event counted
//! once, losses and cut-offs told apart, refusals reported.

use std::path::Path;
use std::time::Duration;

use beacon_bench::client::Pool;
use beacon_bench::clock;

use crate::support::{self, BEACON_OPENING, NCHAN_OPENING, Send, Shape};

const STREAMS: usize = 6;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_beacon-bench"))
}

fn paths(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/stream?n={i}")).collect()
}

async fn opened_pool(shape: Shape, opening: &str) -> (support::Scripted, Pool) {
    let server = support::start(shape, 200, opening).await;
    let mut pool = Pool::spawn_exe(exe(), 2, &support::subscribe(shape, server.addr))
        .await
        .expect("subscriber processes");
    let opened = pool.open(paths(STREAMS)).await.expect("open");
    assert_eq!(opened.opened, STREAMS as u64, "{:?}", opened.first_error);
    assert_eq!(opened.failures, 0);
    assert_eq!(opened.latency.len(), STREAMS as u64);
    assert_eq!(pool.status().await.expect("status"), (STREAMS as u64, 0));
    (server, pool)
}

#[tokio::test]
async fn every_event_of_both_stream_shapes_is_counted_with_its_latency() {
    for (shape, opening) in [
        (Shape::Beacon, BEACON_OPENING),
        (Shape::Nchan, NCHAN_OPENING),
    ] {
        let (server, mut pool) = opened_pool(shape, opening).await;
        let sent = clock::now_ns();
        for _ in 0..5 {
            server.sends.send(Send::Event(sent)).expect("sent");
        }
        let (drained_at, timed_out) = pool.drain(5, Duration::from_secs(10)).await.expect("drain");
        assert!(!timed_out, "{shape:?}");
        assert!(drained_at >= sent);
        let seen = pool.finish(5).await.expect("finish");
        assert_eq!(seen.subscribers, STREAMS as u64, "{shape:?}");
        assert_eq!(seen.received, 5 * STREAMS as u64, "{shape:?}");
        assert_eq!(
            (seen.loss, seen.extra, seen.missing_ts),
            (0, 0, 0),
            "{shape:?}"
        );
        assert_eq!(seen.ended_early, 0, "{shape:?}: {:?}", seen.end_reasons);
        let latency = seen.latency.to_histogram();
        assert_eq!(latency.len(), 5 * STREAMS as u64);
        let waited_us = (clock::now_ns() - sent) / 1000;
        assert!(
            latency.max() <= latency.highest_equivalent(waited_us),
            "{shape:?}"
        );
    }
}

#[tokio::test]
async fn a_stream_that_ends_early_is_loss_and_a_cut_off_one_is_not() {
    let (server, mut pool) = opened_pool(Shape::Nchan, NCHAN_OPENING).await;
    server
        .sends
        .send(Send::Event(clock::now_ns()))
        .expect("sent");
    server.sends.send(Send::Close).expect("sent");
    let (_, timed_out) = pool.drain(3, Duration::from_secs(10)).await.expect("drain");
    assert!(!timed_out, "ended streams count as drained");
    let seen = pool.finish(3).await.expect("finish");
    assert_eq!(seen.received, STREAMS as u64);
    assert_eq!(seen.loss, 2 * STREAMS as u64);
    assert_eq!(seen.subscribers_with_loss, STREAMS as u64);
    assert_eq!(seen.max_loss_per_subscriber, 2);
    assert_eq!(seen.ended_early, STREAMS as u64);
    assert_eq!(seen.cut_off, 0);

    let (server, mut pool) = opened_pool(Shape::Beacon, BEACON_OPENING).await;
    server
        .sends
        .send(Send::Event(clock::now_ns()))
        .expect("sent");
    let overflow = "event: beacon.overflow\ndata: {\"queue\":1024}\n\n";
    server
        .sends
        .send(Send::Frame(overflow.into()))
        .expect("sent");
    let (_, timed_out) = pool.drain(3, Duration::from_secs(10)).await.expect("drain");
    assert!(!timed_out);
    let seen = pool.finish(3).await.expect("finish");
    assert_eq!(
        seen.received, STREAMS as u64,
        "control events are not deliveries"
    );
    assert_eq!(
        (seen.loss, seen.cut_off, seen.cut_off_missing),
        (0, STREAMS as u64, 2 * STREAMS as u64)
    );
}

#[tokio::test]
async fn other_control_events_are_reported_not_counted() {
    let (server, mut pool) = opened_pool(Shape::Beacon, BEACON_OPENING).await;
    let gap = "event: beacon.gap\ndata: {\"reason\":\"epoch\"}\n\n";
    server.sends.send(Send::Frame(gap.into())).expect("sent");
    server
        .sends
        .send(Send::Event(clock::now_ns()))
        .expect("sent");
    let (_, timed_out) = pool.drain(1, Duration::from_secs(10)).await.expect("drain");
    assert!(!timed_out);
    let seen = pool.finish(1).await.expect("finish");
    assert_eq!(seen.received, STREAMS as u64);
    assert_eq!(
        seen.controls.len(),
        3,
        "a few are kept: {:?}",
        seen.controls
    );
    assert!(
        seen.controls[0].starts_with("beacon.gap "),
        "{:?}",
        seen.controls
    );
}

#[tokio::test]
async fn refused_streams_are_failures_with_the_reason() {
    let server = support::start(Shape::Beacon, 401, "").await;
    let mut pool = Pool::spawn_exe(exe(), 2, &support::subscribe(Shape::Beacon, server.addr))
        .await
        .expect("subscriber processes");
    let opened = pool.open(paths(3)).await.expect("open");
    assert_eq!((opened.opened, opened.failures), (0, 3));
    let error = opened.first_error.expect("a reason");
    assert!(
        error.contains("401") && error.contains("unauthorized"),
        "{error}"
    );

    let expired = ": beacon\n\nevent: beacon.token_expired\ndata: {}\n\n";
    let server = support::start(Shape::Beacon, 200, expired).await;
    let mut pool = Pool::spawn_exe(exe(), 1, &support::subscribe(Shape::Beacon, server.addr))
        .await
        .expect("subscriber processes");
    let opened = pool.open(paths(2)).await.expect("open");
    assert_eq!((opened.opened, opened.failures), (0, 2));
    let error = opened.first_error.expect("a reason");
    assert!(
        error.contains("beacon.token_expired before beacon.connected"),
        "{error}"
    );
}
