//! The embedded, durable log: one redb file in the data directory.
//!
//! redb is a pure-Rust, ACID, copy-on-write B-tree with real `fsync` on
//! commit and no background threads, which suits a single node on a small
//! machine. Every tenant's events live in one table keyed by
//! `(tenant, ms, seq)`, so a tenant's stream is a contiguous key range.
//!
//! Writes go through one writer thread that **group-commits**: it takes
//! every append waiting in its queue, writes them in one transaction and
//! fsyncs once, so throughput grows with concurrency while each publish is
//! still acknowledged only after it is on disk. Reads use redb's MVCC read
//! transactions and never wait for the writer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use super::*;

/// `(tenant, ms, seq)` → encoded [`StoredEvent`] (see [`encode`]).
const EVENTS: TableDefinition<(&str, u64, u64), &[u8]> = TableDefinition::new("events");
/// tenant → JSON [`StreamMeta`].
const STREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("streams");
/// `(tenant, dedup key)` → `(expires_ms, ms, seq)` of the first event.
const DEDUP: TableDefinition<(&str, &str), (u64, u64, u64)> = TableDefinition::new("dedup");

/// Appends waiting for the writer. When full, publishers wait (backpressure).
const WRITE_QUEUE: usize = 1024;
/// Most operations folded into one transaction.
const MAX_GROUP: usize = 256;
/// Count retention runs once a stream exceeds `max_events` by this fraction.
const COUNT_SLACK_DIVISOR: u64 = 10;

/// Per-stream bookkeeping, stored in [`STREAMS`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StreamMeta {
    epoch: String,
    head: (u64, u64),
    trimmed: (u64, u64),
    count: u64,
}

impl StreamMeta {
    fn new() -> Self {
        StreamMeta {
            epoch: crate::log::new_epoch().to_string(),
            head: (0, 0),
            trimmed: (0, 0),
            count: 0,
        }
    }
    fn epoch(&self) -> Result<Epoch, LogError> {
        Epoch::parse(&self.epoch)
            .map_err(|_| LogError::corrupt(format!("stream epoch {:?}", self.epoch)))
    }
}

enum WriteOp {
    Append {
        tenant: String,
        events: Vec<NewEvent>,
        reply: oneshot::Sender<Result<AppendBatch, LogError>>,
    },
    Ensure {
        tenant: String,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
    Trim {
        tenant: String,
        now_ms: u64,
        reply: oneshot::Sender<Result<u64, LogError>>,
    },
    Delete {
        tenant: String,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
}

/// Per-tenant "newest offset" signals that wake tails. Entries are created by
/// the first tail of a tenant; a `std` mutex is fine: it is held only to
/// look up or insert a sender, never across an await.
type Heads = Arc<Mutex<HashMap<String, watch::Sender<Offset>>>>;

pub struct EmbeddedLog {
    db: Arc<Database>,
    writer: mpsc::Sender<WriteOp>,
    heads: Heads,
}

/// Opens (or creates) the redb database file shared by the embedded stores.
pub fn open_database(path: &std::path::Path) -> Result<Arc<Database>, LogError> {
    let db = Database::create(path)
        .map_err(|e| LogError::from(e).context(format_args!("opening {}", path.display())))?;
    Ok(Arc::new(db))
}

impl EmbeddedLog {
    /// Starts the writer thread. `idempotency_window` bounds how long dedup
    /// keys are remembered.
    pub fn open(
        db: Arc<Database>,
        retention: Retention,
        idempotency_window: Duration,
    ) -> Result<Self, LogError> {
        {
            let tx = db.begin_write().map_err(backend)?;
            tx.open_table(EVENTS).map_err(backend)?;
            tx.open_table(STREAMS).map_err(backend)?;
            tx.open_table(DEDUP).map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        let heads: Heads = Arc::default();
        let mut w = Writer {
            db: db.clone(),
            heads: heads.clone(),
            retention,
            window_ms: idempotency_window.as_millis() as u64,
            metas: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("beacon-log-writer".into())
            .spawn(move || w.run(queue))
            .map_err(|e| LogError::from(e).context("starting the log writer"))?;
        Ok(EmbeddedLog { db, writer, heads })
    }

    async fn call<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, LogError>>) -> WriteOp,
    ) -> Result<T, LogError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(op(reply))
            .await
            .map_err(|_| writer_stopped())?;
        rx.await.map_err(|_| writer_stopped())?
    }

    fn read_now(
        &self,
        tenant: &str,
        after: Offset,
        limit: usize,
    ) -> Result<Option<ReadBatch>, LogError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let streams = tx.open_table(STREAMS).map_err(backend)?;
        let Some(meta) = streams.get(tenant).map_err(backend)? else {
            return Ok(None);
        };
        let meta: StreamMeta = serde_json::from_slice(meta.value()).map_err(backend)?;
        let table = tx.open_table(EVENTS).map_err(backend)?;
        let start = if after == Offset::MAX {
            return Ok(Some(batch(&meta, Vec::new())?));
        } else if after.seq == u64::MAX {
            (tenant, after.ms + 1, 0)
        } else {
            (tenant, after.ms, after.seq + 1)
        };
        let mut events = Vec::new();
        for entry in table
            .range(start..=(tenant, u64::MAX, u64::MAX))
            .map_err(backend)?
            .take(limit)
        {
            let (key, value) = entry.map_err(backend)?;
            let (_, ms, seq) = key.value();
            events.push(decode(Offset::new(ms, seq), value.value())?);
        }
        Ok(Some(batch(&meta, events)?))
    }

    fn head_signal(&self, tenant: &str) -> watch::Receiver<Offset> {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads
            .entry(tenant.to_owned())
            .or_insert_with(|| watch::channel(Offset::ZERO).0)
            .subscribe()
    }
}

fn batch(meta: &StreamMeta, events: Vec<StoredEvent>) -> Result<ReadBatch, LogError> {
    Ok(ReadBatch {
        epoch: meta.epoch()?,
        events,
        trimmed_through: Offset::new(meta.trimmed.0, meta.trimmed.1),
        head: Offset::new(meta.head.0, meta.head.1),
    })
}

#[async_trait]
impl EventLog for EmbeddedLog {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn append(&self, tenant: &str, events: Vec<NewEvent>) -> Result<AppendBatch, LogError> {
        let tenant = tenant.to_owned();
        self.call(|reply| WriteOp::Append {
            tenant,
            events,
            reply,
        })
        .await
    }

    async fn read(&self, tenant: &str, after: Offset, limit: usize) -> Result<ReadBatch, LogError> {
        if let Some(batch) = self.read_now(tenant, after, limit)? {
            return Ok(batch);
        }
        let owned = tenant.to_owned();
        self.call(|reply| WriteOp::Ensure {
            tenant: owned,
            reply,
        })
        .await?;
        self.read_now(tenant, after, limit)?
            .ok_or_else(|| LogError::internal("stream missing after creation"))
    }

    async fn tail(
        &self,
        tenant: &str,
        after: Offset,
        limit: usize,
        wait: Duration,
    ) -> Result<ReadBatch, LogError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut signal = self.head_signal(tenant);
        loop {
            let batch = self.read(tenant, after, limit).await?;
            if !batch.events.is_empty() {
                return Ok(batch);
            }
            match tokio::time::timeout_at(deadline, signal.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(batch),
            }
        }
    }

    async fn trim(&self, tenant: &str, now_ms: u64) -> Result<u64, LogError> {
        let tenant = tenant.to_owned();
        self.call(|reply| WriteOp::Trim {
            tenant,
            now_ms,
            reply,
        })
        .await
    }

    async fn delete(&self, stream: &str) -> Result<(), LogError> {
        let tenant = stream.to_owned();
        self.call(|reply| WriteOp::Delete { tenant, reply }).await
    }

    async fn health(&self) -> Result<(), LogError> {
        self.db.begin_read().map_err(backend)?;
        if self.writer.is_closed() {
            return Err(writer_stopped());
        }
        Ok(())
    }
}

/// The single writer. Owns the stream metadata cache: nothing else writes.
struct Writer {
    db: Arc<Database>,
    heads: Heads,
    retention: Retention,
    window_ms: u64,
    metas: HashMap<String, StreamMeta>,
}

/// The result of one op within a group, sent once the group commits.
enum Outcome {
    Append(Result<AppendBatch, LogError>),
    Ensure(Result<(), LogError>),
    Trim(Result<u64, LogError>),
    Delete(Result<(), LogError>),
}

impl WriteOp {
    fn tenant(&self) -> &str {
        match self {
            WriteOp::Append { tenant, .. }
            | WriteOp::Ensure { tenant, .. }
            | WriteOp::Trim { tenant, .. }
            | WriteOp::Delete { tenant, .. } => tenant,
        }
    }

    /// Sends the answer. A caller that went away no longer needs it.
    fn answer(self, outcome: Outcome) {
        let mismatch = || LogError::internal("mismatched write outcome");
        match (self, outcome) {
            (WriteOp::Append { reply, .. }, Outcome::Append(r)) => drop(reply.send(r)),
            (WriteOp::Ensure { reply, .. }, Outcome::Ensure(r)) => drop(reply.send(r)),
            (WriteOp::Trim { reply, .. }, Outcome::Trim(r)) => drop(reply.send(r)),
            (WriteOp::Delete { reply, .. }, Outcome::Delete(r)) => drop(reply.send(r)),
            (op, _) => op.fail(mismatch()),
        }
    }

    fn fail(self, e: LogError) {
        match self {
            WriteOp::Append { reply, .. } => drop(reply.send(Err(e))),
            WriteOp::Ensure { reply, .. } => drop(reply.send(Err(e))),
            WriteOp::Trim { reply, .. } => drop(reply.send(Err(e))),
            WriteOp::Delete { reply, .. } => drop(reply.send(Err(e))),
        }
    }
}

impl Writer {
    fn run(&mut self, mut queue: mpsc::Receiver<WriteOp>) {
        while let Some(first) = queue.blocking_recv() {
            let mut ops = vec![first];
            while ops.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
            self.commit_group(ops);
        }
    }

    /// Runs a group of ops in one transaction, commits once, then answers
    /// every op. If the transaction fails, every op in it fails with the
    /// reason and the cached metadata of the streams involved is dropped, so
    /// it is reloaded from what was really committed.
    fn commit_group(&mut self, mut ops: Vec<WriteOp>) {
        let mut outcomes = Vec::with_capacity(ops.len());
        match self.write_group(&mut ops, &mut outcomes) {
            Ok(()) => {
                let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
                for op in &ops {
                    // A deleted stream's tails wake (their signal is gone)
                    // and its signal is not kept for a stream that may
                    // never come back.
                    if matches!(op, WriteOp::Delete { .. }) && !self.metas.contains_key(op.tenant())
                    {
                        heads.remove(op.tenant());
                    }
                    if let (Some(signal), Some(meta)) =
                        (heads.get(op.tenant()), self.metas.get(op.tenant()))
                    {
                        signal.send_if_modified(|head| {
                            let new = Offset::new(meta.head.0, meta.head.1);
                            std::mem::replace(head, new) != new
                        });
                    }
                }
                drop(heads);
                for (op, outcome) in ops.into_iter().zip(outcomes) {
                    op.answer(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, ops = ops.len(), "event log transaction failed");
                let e = Arc::new(e);
                for op in ops {
                    self.metas.remove(op.tenant());
                    op.fail(LogError::shared(&e));
                }
            }
        }
    }

    fn write_group(
        &mut self,
        ops: &mut [WriteOp],
        outcomes: &mut Vec<Outcome>,
    ) -> Result<(), LogError> {
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut events = tx.open_table(EVENTS).map_err(backend)?;
            let mut streams = tx.open_table(STREAMS).map_err(backend)?;
            let mut dedup = tx.open_table(DEDUP).map_err(backend)?;
            let mut t = Tables {
                events: &mut events,
                streams: &mut streams,
                dedup: &mut dedup,
            };
            // Any error aborts the whole transaction: a half-applied op is
            // never committed.
            for op in ops.iter_mut() {
                outcomes.push(match op {
                    WriteOp::Append { tenant, events, .. } => {
                        Outcome::Append(Ok(self.append(&mut t, tenant, std::mem::take(events))?))
                    }
                    WriteOp::Ensure { tenant, .. } => {
                        Outcome::Ensure(Ok(self.meta(&mut t, tenant).map(drop)?))
                    }
                    WriteOp::Trim { tenant, now_ms, .. } => {
                        Outcome::Trim(Ok(self.trim(&mut t, tenant, *now_ms)?))
                    }
                    WriteOp::Delete { tenant, .. } => {
                        Outcome::Delete(Ok(self.delete(&mut t, tenant).map(drop)?))
                    }
                });
            }
            let mut seen = std::collections::HashSet::new();
            for op in ops.iter() {
                let tenant = op.tenant();
                if seen.insert(tenant)
                    && let Some(meta) = self.metas.get(tenant)
                {
                    let json = serde_json::to_vec(meta).map_err(backend)?;
                    t.streams.insert(tenant, json.as_slice()).map_err(backend)?;
                }
            }
        }
        tx.commit().map_err(backend)
    }

    fn meta<'m>(
        &'m mut self,
        t: &mut Tables<'_, '_>,
        tenant: &str,
    ) -> Result<&'m mut StreamMeta, LogError> {
        if !self.metas.contains_key(tenant) {
            let meta = match t.streams.get(tenant).map_err(backend)? {
                Some(json) => serde_json::from_slice(json.value()).map_err(backend)?,
                None => StreamMeta::new(),
            };
            self.metas.insert(tenant.to_owned(), meta);
        }
        self.metas
            .get_mut(tenant)
            .ok_or_else(|| LogError::internal("stream metadata vanished"))
    }

    fn append(
        &mut self,
        t: &mut Tables<'_, '_>,
        tenant: &str,
        events: Vec<NewEvent>,
    ) -> Result<AppendBatch, LogError> {
        let now = now_ms();
        let window_ms = self.window_ms;
        let max_events = self.retention.max_events;
        let meta = self.meta(t, tenant)?;
        let mut head = Offset::new(meta.head.0, meta.head.1);
        let mut appended = Vec::with_capacity(events.len());
        for event in events {
            if let Some(key) = &event.dedup_key
                && let Some(seen) = t.dedup.get((tenant, key.as_str())).map_err(backend)?
            {
                let (expires, ms, seq) = seen.value();
                if expires > now {
                    appended.push(Appended {
                        offset: Offset::new(ms, seq),
                        duplicate: true,
                    });
                    continue;
                }
            }
            head = head.next_after(now);
            t.events
                .insert((tenant, head.ms, head.seq), encode(&event).as_slice())
                .map_err(backend)?;
            if let Some(key) = &event.dedup_key {
                t.dedup
                    .insert((tenant, key.as_str()), (now + window_ms, head.ms, head.seq))
                    .map_err(backend)?;
            }
            meta.count += 1;
            appended.push(Appended {
                offset: head,
                duplicate: false,
            });
        }
        meta.head = (head.ms, head.seq);
        let epoch = meta.epoch()?;
        if meta.count > max_events + max_events / COUNT_SLACK_DIVISOR {
            self.trim_count(t, tenant)?;
        }
        Ok(AppendBatch { epoch, appended })
    }

    /// Removes the oldest events beyond `max_events`.
    fn trim_count(&mut self, t: &mut Tables<'_, '_>, tenant: &str) -> Result<u64, LogError> {
        let max_events = self.retention.max_events;
        let meta = self.meta(t, tenant)?;
        let excess = meta.count.saturating_sub(max_events);
        if excess == 0 {
            return Ok(0);
        }
        let last = t
            .events
            .range((tenant, 0, 0)..=(tenant, u64::MAX, u64::MAX))
            .map_err(backend)?
            .nth(excess as usize - 1)
            .transpose()
            .map_err(backend)?
            .map(|(k, _)| {
                let (_, ms, seq) = k.value();
                (ms, seq)
            });
        let Some((ms, seq)) = last else { return Ok(0) };
        let removed = remove_through(t, tenant, Offset::new(ms, seq))?;
        let meta = self.meta(t, tenant)?;
        meta.count -= removed;
        meta.trimmed = meta.trimmed.max((ms, seq));
        Ok(removed)
    }

    fn trim(&mut self, t: &mut Tables<'_, '_>, tenant: &str, now_ms: u64) -> Result<u64, LogError> {
        let cutoff = now_ms.saturating_sub(self.retention.max_age.as_millis() as u64);
        let mut removed = self.trim_count(t, tenant)?;
        let newest_old = t
            .events
            .range((tenant, 0, 0)..(tenant, cutoff, 0))
            .map_err(backend)?
            .next_back()
            .transpose()
            .map_err(backend)?
            .map(|(k, _)| {
                let (_, ms, seq) = k.value();
                (ms, seq)
            });
        if let Some((ms, seq)) = newest_old {
            let n = remove_through(t, tenant, Offset::new(ms, seq))?;
            let meta = self.meta(t, tenant)?;
            meta.count -= n;
            meta.trimmed = meta.trimmed.max((ms, seq));
            removed += n;
        }
        t.dedup
            .retain_in((tenant, "")..(tenant, "\u{7f}"), |_, (expires, _, _)| {
                expires > now_ms
            })
            .map_err(backend)?;
        Ok(removed)
    }

    /// Removes a stream whole: its events, its dedup keys and its metadata
    /// (epoch, head, retention mark). Returns how many events it held.
    fn delete(&mut self, t: &mut Tables<'_, '_>, tenant: &str) -> Result<u64, LogError> {
        let removed = remove_through(t, tenant, Offset::MAX)?;
        // `tenant + "\0"` is the smallest string above `tenant`: the range
        // holds exactly this stream's keys, whatever characters they use.
        let next = format!("{tenant}\0");
        t.dedup
            .retain_in((tenant, "")..(next.as_str(), ""), |_, _| false)
            .map_err(backend)?;
        t.streams.remove(tenant).map_err(backend)?;
        self.metas.remove(tenant);
        Ok(removed)
    }
}

struct Tables<'a, 'txn> {
    events: &'a mut redb::Table<'txn, (&'static str, u64, u64), &'static [u8]>,
    streams: &'a mut redb::Table<'txn, &'static str, &'static [u8]>,
    dedup: &'a mut redb::Table<'txn, (&'static str, &'static str), (u64, u64, u64)>,
}

/// Deletes a tenant's events up to and including `through`; returns how many.
fn remove_through(t: &mut Tables<'_, '_>, tenant: &str, through: Offset) -> Result<u64, LogError> {
    let mut removed = 0;
    t.events
        .retain_in(
            (tenant, 0, 0)..=(tenant, through.ms, through.seq),
            |_, _| {
                removed += 1;
                false
            },
        )
        .map_err(backend)?;
    Ok(removed)
}

#[derive(Serialize, Deserialize)]
struct MetaRecord<'a> {
    #[serde(borrow)]
    t: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    a: Vec<String>,
}

/// Stored value: `u32` big-endian length of the routing JSON, the routing
/// JSON (`{"t","s","a"}`), then the envelope bytes. Framing the envelope
/// raw keeps it byte-for-byte as published, with no re-escaping.
fn encode(event: &NewEvent) -> Vec<u8> {
    let meta = MetaRecord {
        t: event.meta.kind.as_str().into(),
        s: event.meta.subject.as_deref().map(Into::into),
        a: event.meta.audience.clone(),
    };
    let meta = serde_json::to_vec(&meta).unwrap_or_default();
    let mut out = Vec::with_capacity(4 + meta.len() + event.envelope.len());
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(event.envelope.as_bytes());
    out
}

fn decode(offset: Offset, bytes: &[u8]) -> Result<StoredEvent, LogError> {
    let corrupt = || LogError::corrupt(format!("event record at {offset}"));
    let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(corrupt());
    }
    let (meta, envelope) = rest.split_at(len);
    let meta: MetaRecord = serde_json::from_slice(meta).map_err(|_| corrupt())?;
    Ok(StoredEvent {
        offset,
        meta: EventMeta {
            kind: meta.t.into_owned(),
            subject: meta.s.map(|s| s.into_owned()),
            audience: meta.a,
        },
        envelope: String::from_utf8(envelope.to_vec()).map_err(|_| corrupt())?,
    })
}

fn backend(e: impl Into<LogError>) -> LogError {
    e.into()
}

/// The writer thread is gone: nothing can be written until a restart.
fn writer_stopped() -> LogError {
    LogError::unavailable("the log writer stopped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::conformance::{self, Opener};

    struct Embedded(tempfile::TempDir);

    impl Opener for Embedded {
        async fn open(&self, retention: Retention) -> SharedLog {
            let path = self
                .0
                .path()
                .join(format!("{}.redb", crate::log::new_epoch()));
            let db = open_database(&path).unwrap();
            Arc::new(EmbeddedLog::open(db, retention, Duration::from_secs(600)).unwrap())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        conformance::run_all(&Embedded(tempfile::tempdir().unwrap())).await;
    }

    #[tokio::test]
    async fn survives_reopen_with_same_epoch_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let (epoch, offsets) = {
            let log = EmbeddedLog::open(
                open_database(&path).unwrap(),
                DEFAULT_RETENTION,
                Duration::from_secs(60),
            )
            .unwrap();
            let b = log
                .append(
                    "acme",
                    (0..3).map(|n| conformance::event("a.b", n)).collect(),
                )
                .await
                .unwrap();
            (
                b.epoch,
                b.appended.iter().map(|a| a.offset).collect::<Vec<_>>(),
            )
        };
        // The writer thread exits when the log is dropped and releases the file.
        let db = loop {
            match Database::create(&path) {
                Ok(db) => break Arc::new(db),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let log = EmbeddedLog::open(db, DEFAULT_RETENTION, Duration::from_secs(60)).unwrap();
        let read = log.read("acme", Offset::ZERO, 10).await.unwrap();
        assert_eq!(read.epoch, epoch);
        assert_eq!(
            read.events.iter().map(|e| e.offset).collect::<Vec<_>>(),
            offsets
        );
        let next = log
            .append("acme", vec![conformance::event("a.b", 9)])
            .await
            .unwrap();
        assert!(next.appended[0].offset > offsets[2]);
    }

    #[tokio::test]
    async fn a_recreated_store_has_a_new_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            EmbeddedLog::open(
                open_database(&dir.path().join(name)).unwrap(),
                DEFAULT_RETENTION,
                Duration::from_secs(60),
            )
            .unwrap()
        };
        let a = open("one.redb")
            .append("acme", vec![conformance::event("a.b", 1)])
            .await
            .unwrap();
        let b = open("two.redb")
            .append("acme", vec![conformance::event("a.b", 1)])
            .await
            .unwrap();
        assert_ne!(a.epoch, b.epoch);
    }

    #[test]
    fn records_round_trip_and_corruption_is_an_error() {
        let mut e = conformance::event("order.created", 5);
        e.meta.audience = vec!["1".into()];
        let bytes = encode(&e);
        let back = decode(Offset::new(1, 2), &bytes).unwrap();
        assert_eq!(back.meta, e.meta);
        assert_eq!(back.envelope, e.envelope);
        assert!(decode(Offset::ZERO, &bytes[..3]).is_err());
        assert!(decode(Offset::ZERO, &[0, 0, 0, 99, b'{']).is_err());
    }
}
