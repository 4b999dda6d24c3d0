//! The behaviour every [`EventLog`] backend must have, as one test suite.
//!
//! Each backend's tests call [`run_all`] with a way to open a fresh, empty
//! log (unique tenant names make the cases independent of each other).

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use super::*;

/// Opens an empty log with the given retention.
pub trait Opener: Sync {
    fn open(&self, retention: Retention) -> impl Future<Output = SharedLog> + Send;
}

pub fn event(kind: &str, n: u64) -> NewEvent {
    NewEvent {
        meta: EventMeta {
            kind: kind.to_owned(),
            subject: Some(format!("order/{n}")),
            audience: vec![],
        },
        envelope: format!(r#"{{"type":"{kind}","data":{{"n":{n}}}}}"#),
        dedup_key: None,
    }
}

fn unique(name: &str) -> String {
    format!("{name}-{}", crate::log::new_epoch())
}

pub async fn run_all(o: &impl Opener) {
    append_then_read_in_order(o).await;
    read_is_exclusive_and_limited(o).await;
    meta_round_trips(o).await;
    tenants_are_isolated(o).await;
    dedup_keys_return_the_first_offset(o).await;
    epoch_is_stable(o).await;
    tail_wakes_on_append(o).await;
    tail_times_out_empty(o).await;
    concurrent_appends_are_totally_ordered(o).await;
    retention_by_count(o).await;
    retention_by_age(o).await;
    delete_removes_one_stream_and_the_next_starts_a_new_epoch(o).await;
    delete_is_idempotent_and_wakes_no_one_forever(o).await;
}

async fn append_then_read_in_order(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("order");
    let batch = log
        .append(&t, (0..5).map(|n| event("order.created", n)).collect())
        .await
        .unwrap();
    assert_eq!(batch.appended.len(), 5);
    let offsets: Vec<_> = batch.appended.iter().map(|a| a.offset).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    assert!(batch.appended.iter().all(|a| !a.duplicate));
    let read = log.read(&t, Offset::ZERO, 100).await.unwrap();
    assert_eq!(read.epoch, batch.epoch);
    assert_eq!(read.head, offsets[4]);
    assert_eq!(read.trimmed_through, Offset::ZERO);
    let got: Vec<_> = read.events.iter().map(|e| e.offset).collect();
    assert_eq!(got, offsets);
    assert_eq!(read.events[3].envelope, event("order.created", 3).envelope);
}

async fn read_is_exclusive_and_limited(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("limit");
    let batch = log
        .append(&t, (0..10).map(|n| event("a.b", n)).collect())
        .await
        .unwrap();
    let third = batch.appended[2].offset;
    let read = log.read(&t, third, 4).await.unwrap();
    let got: Vec<_> = read.events.iter().map(|e| e.offset).collect();
    let want: Vec<_> = batch.appended[3..7].iter().map(|a| a.offset).collect();
    assert_eq!(got, want);
    let end = log.read(&t, batch.appended[9].offset, 4).await.unwrap();
    assert!(end.events.is_empty());
    // `read(MAX, 0)` is how callers learn the head and epoch cheaply.
    let info = log.read(&t, Offset::MAX, 0).await.unwrap();
    assert!(info.events.is_empty());
    assert_eq!(info.head, batch.appended[9].offset);
    assert_eq!(info.epoch, batch.epoch);
    let none = log.read(&t, batch.appended[4].offset, 0).await.unwrap();
    assert!(none.events.is_empty(), "a limit of 0 reads nothing");
    let empty = log.read(&unique("never"), Offset::ZERO, 10).await.unwrap();
    assert!(empty.events.is_empty());
    assert_eq!(empty.head, Offset::ZERO);
}

async fn meta_round_trips(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("meta");
    let mut with_audience = event("payment.succeeded", 1);
    with_audience.meta.audience = vec!["42".into(), "user:7".into()];
    let mut no_subject = event("kyc.verified", 2);
    no_subject.meta.subject = None;
    no_subject.envelope = r#"{"data":"caf\u00e9 \"quoted\" ü","type":"kyc.verified"}"#.into();
    log.append(&t, vec![with_audience.clone(), no_subject.clone()])
        .await
        .unwrap();
    let read = log.read(&t, Offset::ZERO, 10).await.unwrap();
    assert_eq!(read.events[0].meta, with_audience.meta);
    assert_eq!(read.events[1].meta, no_subject.meta);
    assert_eq!(read.events[1].envelope, no_subject.envelope);
}

async fn tenants_are_isolated(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let (a, b) = (unique("tenant-a"), unique("tenant-b"));
    log.append(&a, vec![event("x.y", 1)]).await.unwrap();
    log.append(&b, vec![event("x.y", 2), event("x.y", 3)])
        .await
        .unwrap();
    assert_eq!(
        log.read(&a, Offset::ZERO, 10).await.unwrap().events.len(),
        1
    );
    assert_eq!(
        log.read(&b, Offset::ZERO, 10).await.unwrap().events.len(),
        2
    );
    // A tenant whose name is a prefix of another's sees only its own events.
    let prefix = unique("p");
    let longer = format!("{prefix}x");
    log.append(&longer, vec![event("x.y", 4)]).await.unwrap();
    assert!(
        log.read(&prefix, Offset::ZERO, 10)
            .await
            .unwrap()
            .events
            .is_empty()
    );
}

async fn dedup_keys_return_the_first_offset(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("dedup");
    let mut first = event("order.created", 1);
    first.dedup_key = Some("k-1".into());
    let a = log.append(&t, vec![first.clone()]).await.unwrap();
    assert!(!a.appended[0].duplicate);
    let mut other = event("order.created", 2);
    other.dedup_key = Some("k-2".into());
    let b = log.append(&t, vec![first.clone(), other]).await.unwrap();
    assert!(b.appended[0].duplicate);
    assert_eq!(b.appended[0].offset, a.appended[0].offset);
    assert!(!b.appended[1].duplicate);
    // The same key within one batch is stored once.
    let mut again = event("order.created", 3);
    again.dedup_key = Some("k-3".into());
    let c = log.append(&t, vec![again.clone(), again]).await.unwrap();
    assert!(!c.appended[0].duplicate && c.appended[1].duplicate);
    assert_eq!(c.appended[0].offset, c.appended[1].offset);
    // Keys are per tenant.
    let other_tenant = log
        .append(&unique("dedup-other"), vec![first])
        .await
        .unwrap();
    assert!(!other_tenant.appended[0].duplicate);
    assert_eq!(
        log.read(&t, Offset::ZERO, 10).await.unwrap().events.len(),
        3
    );
}

async fn epoch_is_stable(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("epoch");
    let before = log.read(&t, Offset::ZERO, 1).await.unwrap().epoch;
    let appended = log.append(&t, vec![event("a.b", 1)]).await.unwrap().epoch;
    let after = log.read(&t, Offset::ZERO, 1).await.unwrap().epoch;
    assert_eq!(before, appended);
    assert_eq!(appended, after);
    let other = log
        .read(&unique("epoch"), Offset::ZERO, 1)
        .await
        .unwrap()
        .epoch;
    assert_ne!(before, other, "each stream has its own epoch");
}

async fn tail_wakes_on_append(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("tail");
    let start = log.read(&t, Offset::ZERO, 1).await.unwrap().head;
    let writer = {
        let (log, t) = (log.clone(), t.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            log.append(&t, vec![event("a.b", 1), event("a.b", 2)])
                .await
                .unwrap()
        })
    };
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    while got.len() < 2 {
        let batch = log
            .tail(
                &t,
                got.last().copied().unwrap_or(start),
                10,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert!(
            !batch.events.is_empty(),
            "tail returned empty before its wait ran out"
        );
        got.extend(batch.events.iter().map(|e| e.offset));
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "tail did not wake on append"
    );
    let appended = writer.await.unwrap();
    let want: Vec<_> = appended.appended.iter().map(|a| a.offset).collect();
    assert_eq!(got, want);
}

async fn tail_times_out_empty(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("quiet");
    let started = std::time::Instant::now();
    let batch = log
        .tail(&t, Offset::ZERO, 10, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(batch.events.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(150));
}

async fn concurrent_appends_are_totally_ordered(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("concurrent");
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let (log, t) = (log.clone(), t.clone());
            tokio::spawn(async move {
                let mut offsets = Vec::new();
                for i in 0..25 {
                    let b = log
                        .append(&t, vec![event("c.d", w * 100 + i)])
                        .await
                        .unwrap();
                    offsets.push(b.appended[0].offset);
                }
                offsets
            })
        })
        .collect();
    let mut all = HashSet::new();
    for task in tasks {
        let offsets = task.await.unwrap();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "one writer's appends out of order"
        );
        all.extend(offsets);
    }
    assert_eq!(all.len(), 200, "offsets must be unique");
    let read = log.read(&t, Offset::ZERO, 1000).await.unwrap();
    let got: Vec<_> = read.events.iter().map(|e| e.offset).collect();
    assert_eq!(got.len(), 200);
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), all);
}

async fn retention_by_count(o: &impl Opener) {
    let retention = Retention {
        max_events: 50,
        max_age: Duration::from_secs(3600),
    };
    let log = o.open(retention).await;
    let t = unique("count");
    let mut offsets = Vec::new();
    for chunk in 0..20 {
        let b = log
            .append(&t, (0..10).map(|n| event("e.f", chunk * 10 + n)).collect())
            .await
            .unwrap();
        offsets.extend(b.appended.iter().map(|a| a.offset));
    }
    log.trim(&t, now_ms()).await.unwrap();
    let read = log.read(&t, Offset::ZERO, 1000).await.unwrap();
    let n = read.events.len();
    assert!((50..=60).contains(&n), "kept {n} of 200 with max 50");
    let first_kept = read.events[0].offset;
    assert_eq!(read.events.last().unwrap().offset, *offsets.last().unwrap());
    let dropped = offsets.iter().filter(|o| **o < first_kept).count();
    assert_eq!(dropped + n, 200, "kept events are the newest ones");
    assert_eq!(read.trimmed_through, offsets[dropped - 1]);
}

async fn retention_by_age(o: &impl Opener) {
    let retention = Retention {
        max_events: 1_000,
        max_age: Duration::from_secs(60),
    };
    let log = o.open(retention).await;
    let t = unique("age");
    let b = log
        .append(&t, (0..3).map(|n| event("g.h", n)).collect())
        .await
        .unwrap();
    let last = b.appended[2].offset;
    assert_eq!(
        log.trim(&t, now_ms()).await.unwrap(),
        0,
        "nothing is old yet"
    );
    let removed = log.trim(&t, last.ms + 61_000).await.unwrap();
    assert_eq!(removed, 3);
    let read = log.read(&t, Offset::ZERO, 10).await.unwrap();
    assert!(read.events.is_empty());
    assert_eq!(read.trimmed_through, last);
    assert_eq!(read.head, last, "the head survives trimming");
    // New appends continue after the trimmed ones.
    let next = log.append(&t, vec![event("g.h", 9)]).await.unwrap();
    assert!(next.appended[0].offset > last);
}

async fn delete_removes_one_stream_and_the_next_starts_a_new_epoch(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    let t = unique("gone");
    let mut keyed = event("a.b", 1);
    keyed.dedup_key = Some("k-1".into());
    let old = log.append(&t, vec![keyed.clone()]).await.unwrap();
    // A retention mark too: everything so far is past its age.
    let week = DEFAULT_RETENTION.max_age.as_millis() as u64;
    assert_eq!(log.trim(&t, now_ms() + 2 * week).await.unwrap(), 1);
    log.append(&t, vec![event("a.b", 2), event("a.b", 3)])
        .await
        .unwrap();
    // Streams that must survive: another one, one whose name extends this
    // one's, and the tenant's dead-letter stream.
    let others = [unique("kept"), format!("{t}x"), format!("{t}/dead-letters")];
    let mut before = Vec::new();
    for (n, other) in others.iter().enumerate() {
        let mut e = event("c.d", n as u64);
        e.dedup_key = Some("k-1".into());
        before.push(log.append(other, vec![e]).await.unwrap());
    }

    log.delete(&t).await.unwrap();
    // No read in between: the append itself must start the new stream.
    let new = log.append(&t, vec![keyed.clone()]).await.unwrap();
    assert_ne!(
        new.epoch, old.epoch,
        "a deleted stream comes back with a new epoch"
    );
    assert!(!new.appended[0].duplicate, "dedup keys are deleted too");
    let read = log.read(&t, Offset::ZERO, 10).await.unwrap();
    assert_eq!(read.epoch, new.epoch);
    assert_eq!(
        read.trimmed_through,
        Offset::ZERO,
        "the retention mark is gone"
    );
    assert_eq!(
        read.events.iter().map(|e| e.offset).collect::<Vec<_>>(),
        vec![new.appended[0].offset],
        "only the new event"
    );

    log.delete(&t).await.unwrap();
    let empty = log.read(&t, Offset::ZERO, 10).await.unwrap();
    assert!(empty.events.is_empty());
    assert_eq!(empty.head, Offset::ZERO);
    assert_eq!(empty.trimmed_through, Offset::ZERO);
    assert!(empty.epoch != new.epoch && empty.epoch != old.epoch);

    for (other, appended) in others.iter().zip(&before) {
        let read = log.read(other, Offset::ZERO, 10).await.unwrap();
        assert_eq!(read.epoch, appended.epoch, "{other}");
        assert_eq!(read.events.len(), 1, "{other}");
        let mut again = event("c.d", 9);
        again.dedup_key = Some("k-1".into());
        let dup = log.append(other, vec![again]).await.unwrap();
        assert!(dup.appended[0].duplicate, "{other} keeps its dedup keys");
    }
}

async fn delete_is_idempotent_and_wakes_no_one_forever(o: &impl Opener) {
    let log = o.open(DEFAULT_RETENTION).await;
    log.delete(&unique("never-created")).await.unwrap();
    let t = unique("waited-on");
    let head = log
        .append(&t, vec![event("a.b", 1)])
        .await
        .unwrap()
        .appended[0]
        .offset;
    let wait = Duration::from_millis(800);
    let tail = {
        let (log, t) = (log.clone(), t.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            log.tail(&t, head, 10, wait)
                .await
                .map(|_| started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    log.delete(&t).await.unwrap();
    log.delete(&t).await.unwrap();
    let waited = tail.await.unwrap().unwrap();
    assert!(
        waited < wait + Duration::from_secs(3),
        "a tail on a deleted stream returned after {waited:?}"
    );
}
