//! The Redis Streams backend: one stream per tenant, shared by every node.
//!
//! # Key layout
//!
//! Every key of one tenant carries the same Redis Cluster hash tag,
//! `{t:<tenant>}`, so they all live in one slot and a script may touch them
//! together (`<prefix>` is the configured key prefix, e.g. `beacon`):
//!
//! | key                                  | type   | holds                                        |
//! |--------------------------------------|--------|----------------------------------------------|
//! | `<prefix>:{t:<tenant>}:log`          | stream | the events                                   |
//! | `<prefix>:{t:<tenant>}:epoch`        | string | the stream's [`Epoch`], set once (`SET NX`)  |
//! | `<prefix>:{t:<tenant>}:trimmed`      | string | newest id removed by retention               |
//! | `<prefix>:{t:<tenant>}:dedup:<key>`  | string | id of the first event with that dedup key, expiring after the idempotency window |
//!
//! Stream ids (`<ms>-<seq>`, assigned by Redis with `XADD *`) are the
//! [`Offset`]s. Each entry has the fields `t` (type), `s` (subject, absent
//! if none), `a` (audience as a JSON array, absent if empty) and `e` (the
//! envelope, verbatim).
//!
//! # Consistency
//!
//! The scripts are the `.lua` files in `log/redis/`, compiled in with
//! `include_str!`. An append is one Lua script: it creates the epoch if
//! needed, checks and sets the dedup keys, adds the events and applies
//! count retention, all atomically. A read is one script too, so the events, the epoch, the head
//! and `trimmed_through` it returns are one snapshot. The epoch is created
//! on first use; if Redis loses its data (a flush, a restart without
//! persistence) the next use creates a new one, which readers see as an
//! epoch change. Redis 7.0 does not record ids removed by `XTRIM` (its
//! `max-deleted-entry-id` only follows `XDEL`), so retention keeps the
//! exact newest removed id in the `trimmed` key itself.
//!
//! Deleting a stream removes `log`, `epoch` and `trimmed` in one `DEL`,
//! then the stream's dedup keys (found by `SCAN`), so the next use starts
//! a new epoch and no old dedup key answers for the new stream. A tail
//! blocked on the stream (on any node) is not woken by the `DEL`: it sees
//! the new epoch when its wait ends.
//!
//! Redis must not evict these keys (`maxmemory-policy noeviction` or a
//! `volatile-*` policy): a lost epoch key would give a live stream a new
//! epoch. Durability is Redis's: with `appendfsync always` an acknowledged
//! append survives a crash.
//!
//! # Connections and failures
//!
//! Ordinary commands share one multiplexed connection
//! ([`ConnectionManager`]), which reconnects with exponential backoff after
//! the connection is lost. It is opened lazily: a node starts while Redis
//! is down and every call fails with [`LogError::Unavailable`] until Redis
//! is back. Every call is bounded, by [`CALL_TIMEOUT`] or, for a tail, by
//! its wait plus [`TAIL_GRACE`], so a hung Redis gives an error, not a
//! stuck request. When a call times out its effect is
//! unknown (an append may have been stored): callers retry with a dedup key.
//!
//! A tail blocks in `XREAD BLOCK` on a connection of its own, one per
//! tenant, so blocking never holds up other commands. The hub runs one tail
//! loop per tenant per node, so each node holds one reader connection per
//! tenant stream, however many subscribers it serves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use ::redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use ::redis::{
    AsyncCommands, AsyncConnectionConfig, ErrorKind, FromRedisValue, RedisError, Script,
    ScriptInvocation, ServerErrorKind,
};
use async_trait::async_trait;

use super::*;

/// Longest wait for a TCP connection (and handshake) to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for the answer to one command on the shared connection.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest time one call may take in all, including waiting for a
/// reconnection in progress.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(4);
/// Longest wait for `PING` in [`EventLog::health`].
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// Connection attempts after the first, per reconnection, and their delays
/// (exponential with jitter between these bounds). Kept short so a call
/// during an outage fails well within [`CALL_TIMEOUT`]; the next call
/// starts a new reconnection.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);
/// How much longer than its `BLOCK` time a tail waits for Redis to answer
/// before it gives the connection up.
pub const TAIL_GRACE: Duration = Duration::from_secs(2);
/// A tenant's tail connection unused for this long is closed.
const TAIL_IDLE: Duration = Duration::from_secs(120);
/// After a failed tail connection attempt, the tail waits (within its own
/// `wait`) `TAIL_BACKOFF_MIN * 2^failures`, at most `TAIL_BACKOFF_MAX`,
/// before reporting the error, so a tail loop does not spin during an outage.
const TAIL_BACKOFF_MIN: Duration = Duration::from_millis(100);
const TAIL_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Count retention runs on append once a stream exceeds `max_events` by
/// this fraction (like `MAXLEN ~`); [`EventLog::trim`] applies it exactly.
const COUNT_SLACK_DIVISOR: u64 = 10;
/// Largest `max_events` passed to Lua, whose numbers are doubles.
const MAX_LUA_COUNT: u64 = 1 << 53;
/// Keys one `SCAN` call of [`EventLog::delete`] looks at.
const DELETE_SCAN_COUNT: usize = 1000;

/// Removes a stream's oldest entries beyond `max` (exactly) and records the
/// newest removed id. It walks the ids to remove in chunks of 256 so the
/// script never holds more than one chunk of entries.
const TRIM_COUNT_LUA: &str = include_str!("redis/trim_count.lua");

/// KEYS: stream, epoch, trimmed, then one dedup key per event that has one.
/// ARGV: candidate epoch, dedup TTL (ms), max events, count that triggers
/// retention, number of events, then six per event: index of its dedup key
/// in KEYS (0 = none), type, `1` if it has a subject, subject, audience
/// JSON (empty = everyone), envelope.
/// Returns `{epoch, {id...}, {duplicate 0/1...}}`.
const APPEND_LUA: &str = include_str!("redis/append.lua");

/// KEYS: stream, epoch, trimmed. ARGV: candidate epoch, XRANGE start
/// (empty = no events wanted), count.
/// Returns `{epoch, trimmed, head, {entries}}`; ids are `0-0` when unset.
const READ_LUA: &str = include_str!("redis/read.lua");

/// KEYS: stream, trimmed. ARGV: max events, age cutoff in ms (entries with
/// a smaller ms are removed; 0 = none). Returns how many were removed.
const TRIM_LUA: &str = include_str!("redis/trim.lua");

/// The Lua scripts, loaded on first use and again after a Redis restart
/// (`EVALSHA`, falling back to `EVAL` on `NOSCRIPT`).
struct Scripts {
    append: Script,
    read: Script,
    trim: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            append: Script::new(&format!("{TRIM_COUNT_LUA}{APPEND_LUA}")),
            read: Script::new(READ_LUA),
            trim: Script::new(&format!("{TRIM_COUNT_LUA}{TRIM_LUA}")),
        }
    }
}

/// An idle tail connection, waiting in [`RedisLog::tails`] for the
/// tenant's next tail call.
struct TailConn {
    conn: MultiplexedConnection,
    last_used: Instant,
}

/// The event log in Redis Streams. Cheap to share behind an `Arc`; all
/// methods may run concurrently.
pub struct RedisLog {
    /// Opens the tail connections.
    client: ::redis::Client,
    /// The shared connection for everything but tails.
    conn: ConnectionManager,
    /// The server, as `redis://host:port/db` without credentials, for errors.
    target: String,
    prefix: String,
    retention: Retention,
    /// Lifetime of dedup keys, in ms (at least 1).
    dedup_ttl_ms: u64,
    scripts: Scripts,
    /// Idle tail connections by tenant. A tail takes its tenant's connection
    /// out while it blocks and puts it back when Redis has answered; a
    /// connection that failed is dropped instead. Entries idle for longer
    /// than [`TAIL_IDLE`] are closed whenever one is put back, so the map
    /// holds at most the tenants tailed recently. A `std` mutex is fine:
    /// it is held only to take or insert an entry, never across an await.
    tails: Mutex<HashMap<String, TailConn>>,
    /// Consecutive failures to open a tail connection, for its backoff.
    tail_failures: AtomicU32,
}

impl RedisLog {
    /// Prepares a log on the Redis at `url` (`redis://[user:password@]host:port/db`
    /// or `unix:///path`), with keys under `prefix`.
    ///
    /// Does not contact Redis: it succeeds while Redis is down, and each
    /// call reports [`LogError::Unavailable`] until Redis is reachable. Fails
    /// only on a malformed URL or prefix (which must be non-empty and free
    /// of `{`, `}`, which would break the cluster hash tags). Must be called
    /// within a Tokio runtime.
    pub async fn connect(
        url: &str,
        prefix: &str,
        retention: Retention,
        idempotency_window: Duration,
    ) -> Result<RedisLog, LogError> {
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(LogError::internal(format!(
                "invalid Redis key prefix {prefix:?}: it must be non-empty, without braces"
            )));
        }
        let client = ::redis::Client::open(url)
            .map_err(|e| LogError::Internal(Box::new(e)).context("invalid Redis URL"))?;
        let info = client.get_connection_info();
        let target = match info.addr() {
            ::redis::ConnectionAddr::Unix(path) => format!("unix://{}", path.display()),
            addr => format!("redis://{addr}/{}", info.redis_settings().db()),
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = client.get_connection_manager_lazy(config).map_err(|e| {
            LogError::Internal(Box::new(e)).context(format_args!("configuring Redis at {target}"))
        })?;
        Ok(RedisLog {
            client,
            conn,
            target,
            prefix: prefix.to_owned(),
            retention,
            dedup_ttl_ms: (idempotency_window.as_millis() as u64).max(1),
            scripts: Scripts::new(),
            tails: Mutex::default(),
            tail_failures: AtomicU32::new(0),
        })
    }

    /// The key of one of the tenant's records (see the module docs).
    fn key(&self, tenant: &str, name: &str) -> String {
        format!("{}:{{t:{tenant}}}:{name}", self.prefix)
    }

    /// Runs a script on the shared connection within [`CALL_TIMEOUT`].
    ///
    /// A refused connection means nothing was sent, so the call is tried
    /// once more: the manager reports the failure of its last connection
    /// attempt to the first call after Redis is back, and starts a new
    /// attempt, which the second try waits for.
    async fn run<T: FromRedisValue>(
        &self,
        what: &str,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, LogError> {
        let attempt = async {
            let mut conn = self.conn.clone();
            match script.invoke_async(&mut conn).await {
                Err(e) if e.is_connection_refusal() => script.invoke_async(&mut conn).await,
                result => result,
            }
        };
        match tokio::time::timeout(CALL_TIMEOUT, attempt).await {
            Ok(result) => result.map_err(|e| self.error(what, e)),
            Err(_) => Err(LogError::timed_out(CALL_TIMEOUT)
                .context(format_args!("{what}: Redis at {}", self.target))),
        }
    }

    /// Runs one command on the shared connection, like [`run`](Self::run).
    async fn command<T: FromRedisValue>(
        &self,
        what: &str,
        command: &::redis::Cmd,
    ) -> Result<T, LogError> {
        let attempt = async {
            let mut conn = self.conn.clone();
            match command.query_async(&mut conn).await {
                Err(e) if e.is_connection_refusal() => command.query_async(&mut conn).await,
                result => result,
            }
        };
        match tokio::time::timeout(CALL_TIMEOUT, attempt).await {
            Ok(result) => result.map_err(|e| self.error(what, e)),
            Err(_) => Err(LogError::timed_out(CALL_TIMEOUT)
                .context(format_args!("{what}: Redis at {}", self.target))),
        }
    }

    /// Classifies a Redis error: anything that may pass once Redis is
    /// reachable (or done loading, or failed over) is `Unavailable`.
    fn error(&self, what: &str, e: RedisError) -> LogError {
        let transient = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_refusal()
            || e.is_connection_dropped()
            || e.code() == Some("BUSY")
            || matches!(
                e.kind(),
                ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                )
            );
        let context = format!("{what}: Redis at {}", self.target);
        if transient {
            LogError::Unavailable(Box::new(e)).context(context)
        } else {
            LogError::Internal(Box::new(e)).context(context)
        }
    }

    /// The read script: up to `limit` events after `after`, with the
    /// stream's epoch, head and `trimmed_through`, in one snapshot.
    async fn read_script(
        &self,
        tenant: &str,
        after: Offset,
        limit: usize,
    ) -> Result<ReadBatch, LogError> {
        let keys = self.tenant_keys(tenant)?;
        let start = if limit == 0 || after == Offset::MAX {
            String::new()
        } else {
            format!("({after}")
        };
        let mut call = self.scripts.read.prepare_invoke();
        call.key(&keys.log)
            .key(&keys.epoch)
            .key(&keys.trimmed)
            .arg(crate::log::new_epoch().as_str())
            .arg(start)
            .arg(limit);
        let (epoch, trimmed, head, events): (String, String, String, StreamRangeReply) =
            self.run("read", &call).await?;
        Ok(ReadBatch {
            epoch: parse_epoch(&epoch)?,
            events: decode_all(events.ids)?,
            trimmed_through: parse_offset(&trimmed)?,
            head: parse_offset(&head)?,
        })
    }

    fn tenant_keys(&self, tenant: &str) -> Result<TenantKeys, LogError> {
        // A brace would end the hash tag early, and could make one tenant's
        // keys collide with another's.
        if tenant.contains(['{', '}']) {
            return Err(LogError::internal(format!(
                "tenant {tenant:?} cannot name a Redis key (contains a brace)"
            )));
        }
        Ok(TenantKeys {
            log: self.key(tenant, "log"),
            epoch: self.key(tenant, "epoch"),
            trimmed: self.key(tenant, "trimmed"),
        })
    }

    /// Takes the tenant's idle tail connection, or opens one. A failed
    /// attempt waits (within `budget`) for the tail backoff before
    /// returning the error.
    async fn take_tail_conn(
        &self,
        tenant: &str,
        budget: Duration,
    ) -> Result<MultiplexedConnection, LogError> {
        if let Some(idle) = self.lock_tails().remove(tenant) {
            return Ok(idle.conn);
        }
        // No response timeout: a blocking XREAD is bounded by its own
        // timeout in `tail`, never cut short by the client.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        let opened = tokio::time::timeout(
            CALL_TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()));
        match opened {
            Ok(conn) => {
                self.tail_failures.store(0, Ordering::Relaxed);
                Ok(conn)
            }
            Err(e) => {
                let failures = self.tail_failures.fetch_add(1, Ordering::Relaxed);
                let pause = TAIL_BACKOFF_MIN
                    .saturating_mul(1 << failures.min(16))
                    .min(TAIL_BACKOFF_MAX)
                    .min(budget);
                tokio::time::sleep(pause).await;
                Err(self.error("opening tail connection", e))
            }
        }
    }

    /// Returns a tail connection that worked to the pool, closing
    /// connections idle for longer than [`TAIL_IDLE`].
    fn put_tail_conn(&self, tenant: &str, conn: MultiplexedConnection) {
        let now = Instant::now();
        let mut tails = self.lock_tails();
        tails.retain(|_, idle| now.duration_since(idle.last_used) < TAIL_IDLE);
        tails.insert(
            tenant.to_owned(),
            TailConn {
                conn,
                last_used: now,
            },
        );
    }

    fn lock_tails(&self) -> std::sync::MutexGuard<'_, HashMap<String, TailConn>> {
        self.tails.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The keys a read or trim touches.
struct TenantKeys {
    log: String,
    epoch: String,
    trimmed: String,
}

#[async_trait]
impl EventLog for RedisLog {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn append(&self, tenant: &str, events: Vec<NewEvent>) -> Result<AppendBatch, LogError> {
        let keys = self.tenant_keys(tenant)?;
        let max_events = self.retention.max_events.min(MAX_LUA_COUNT);
        let trigger = max_events.saturating_add(max_events / COUNT_SLACK_DIVISOR);
        let n = events.len();
        let mut call = self.scripts.append.prepare_invoke();
        call.key(&keys.log).key(&keys.epoch).key(&keys.trimmed);
        call.arg(crate::log::new_epoch().as_str())
            .arg(self.dedup_ttl_ms)
            .arg(max_events)
            .arg(trigger)
            .arg(n);
        let mut dedup_keys = 0;
        for event in &events {
            let index = match &event.dedup_key {
                Some(key) => {
                    dedup_keys += 1;
                    call.key(self.key(tenant, &format!("dedup:{key}")));
                    // KEYS[1..3] are the stream's own keys.
                    3 + dedup_keys
                }
                None => 0,
            };
            call.arg(index)
                .arg(&event.meta.kind)
                .arg(if event.meta.subject.is_some() {
                    "1"
                } else {
                    "0"
                })
                .arg(event.meta.subject.as_deref().unwrap_or(""))
                .arg(encode_audience(&event.meta.audience))
                .arg(&event.envelope);
        }
        let (epoch, ids, dups): (String, Vec<String>, Vec<i64>) = self.run("append", &call).await?;
        if ids.len() != n || dups.len() != n {
            return Err(LogError::corrupt(format!(
                "append: Redis returned {} ids for {n} events",
                ids.len()
            )));
        }
        let appended = ids
            .iter()
            .zip(dups)
            .map(|(id, dup)| {
                Ok(Appended {
                    offset: parse_offset(id)?,
                    duplicate: dup == 1,
                })
            })
            .collect::<Result<_, LogError>>()?;
        Ok(AppendBatch {
            epoch: parse_epoch(&epoch)?,
            appended,
        })
    }

    async fn read(&self, tenant: &str, after: Offset, limit: usize) -> Result<ReadBatch, LogError> {
        self.read_script(tenant, after, limit).await
    }

    /// Blocks in `XREAD BLOCK` on the tenant's tail connection, then reads
    /// the stream's epoch, head and `trimmed_through`. If a trim or a flush
    /// happened in between (those would not describe the events read), it
    /// answers with one consistent [`read`](EventLog::read) instead.
    async fn tail(
        &self,
        tenant: &str,
        after: Offset,
        limit: usize,
        wait: Duration,
    ) -> Result<ReadBatch, LogError> {
        let block_ms = usize::try_from(wait.as_millis()).unwrap_or(usize::MAX);
        // `BLOCK 0` would wait forever.
        if block_ms == 0 || limit == 0 {
            return self.read(tenant, after, limit).await;
        }
        let log = self.tenant_keys(tenant)?.log;
        let mut conn = self.take_tail_conn(tenant, wait).await?;
        let options = StreamReadOptions::default().block(block_ms).count(limit);
        let after_id = after.to_string();
        let reply: Option<StreamReadReply> = match tokio::time::timeout(
            wait.saturating_add(TAIL_GRACE),
            conn.xread_options(&[&log], &[&after_id], &options),
        )
        .await
        {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(self.error("tail", e)),
            Err(_) => {
                return Err(LogError::timed_out(wait.saturating_add(TAIL_GRACE))
                    .context(format_args!("tail: XREAD on Redis at {}", self.target)));
            }
        };
        self.put_tail_conn(tenant, conn);
        let ids = reply
            .and_then(|r| r.keys.into_iter().next())
            .map(|k| k.ids)
            .unwrap_or_default();
        let events = decode_all(ids)?;
        let mut batch = self.read_script(tenant, after, 0).await?;
        if let (Some(first), Some(last)) = (events.first(), events.last())
            && (batch.trimmed_through >= first.offset || batch.head < last.offset)
        {
            return self.read(tenant, after, limit).await;
        }
        batch.events = events;
        Ok(batch)
    }

    async fn trim(&self, tenant: &str, now_ms: u64) -> Result<u64, LogError> {
        let keys = self.tenant_keys(tenant)?;
        let max_events = self.retention.max_events.min(MAX_LUA_COUNT);
        let cutoff = now_ms.saturating_sub(self.retention.max_age.as_millis() as u64);
        let mut call = self.scripts.trim.prepare_invoke();
        call.key(&keys.log)
            .key(&keys.trimmed)
            .arg(max_events)
            .arg(cutoff);
        self.run("trim", &call).await
    }

    /// Removes the stream, its epoch and its retention mark in one `DEL`
    /// (so no reader sees a half-deleted stream), then its dedup keys,
    /// found with `SCAN` (a few at a time, so Redis is never blocked for
    /// long). A call that fails part-way may simply be repeated.
    async fn delete(&self, stream: &str) -> Result<(), LogError> {
        let keys = self.tenant_keys(stream)?;
        let mut del = ::redis::cmd("DEL");
        del.arg(&keys.log).arg(&keys.epoch).arg(&keys.trimmed);
        self.command::<i64>("delete", &del).await?;
        let pattern = format!("{}*", glob_escape(&self.key(stream, "dedup:")));
        let mut cursor = 0u64;
        loop {
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(DELETE_SCAN_COUNT);
            let (next, found): (u64, Vec<String>) = self.command("delete", &scan).await?;
            if !found.is_empty() {
                let mut unlink = ::redis::cmd("UNLINK");
                unlink.arg(&found);
                self.command::<i64>("delete", &unlink).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn health(&self) -> Result<(), LogError> {
        let ping = async {
            let mut conn = self.conn.clone();
            ::redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(HEALTH_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.error("health check", e)),
            Err(_) => Err(LogError::timed_out(HEALTH_TIMEOUT).context(format_args!(
                "health check: PING on Redis at {}",
                self.target
            ))),
        }
    }
}

/// `text` as a `SCAN MATCH` pattern that matches only itself.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The audience as stored in field `a`: a JSON array, or empty for everyone.
fn encode_audience(audience: &[String]) -> String {
    if audience.is_empty() {
        return String::new();
    }
    serde_json::to_string(audience).unwrap_or_default()
}

fn decode_all(entries: Vec<StreamId>) -> Result<Vec<StoredEvent>, LogError> {
    entries.iter().map(decode).collect()
}

/// One stream entry back into an event.
fn decode(entry: &StreamId) -> Result<StoredEvent, LogError> {
    let offset = parse_offset(&entry.id)?;
    let corrupt = |what: &str| LogError::corrupt(format!("stream entry {offset}: {what}"));
    let kind = entry.get::<String>("t").ok_or_else(|| corrupt("no type"))?;
    let envelope = entry
        .get::<String>("e")
        .ok_or_else(|| corrupt("no envelope"))?;
    let audience = match entry.get::<String>("a") {
        Some(json) => serde_json::from_str(&json).map_err(|e| {
            LogError::from(e).context(format_args!("stream entry {offset}: audience"))
        })?,
        None => Vec::new(),
    };
    Ok(StoredEvent {
        offset,
        meta: EventMeta {
            kind,
            subject: entry.get::<String>("s"),
            audience,
        },
        envelope,
    })
}

fn parse_offset(id: &str) -> Result<Offset, LogError> {
    id.parse()
        .map_err(|_| LogError::corrupt(format!("malformed stream id {id:?}")))
}

fn parse_epoch(tag: &str) -> Result<Epoch, LogError> {
    Epoch::parse(tag).map_err(|_| LogError::corrupt(format!("stream epoch {tag:?}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failing test panics")]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::log::conformance::{self, Opener, event};
    use beacon_test_support::RedisServer;

    const WINDOW: Duration = Duration::from_secs(600);

    async fn open(server: &RedisServer, prefix: &str) -> RedisLog {
        RedisLog::connect(&server.url(), prefix, DEFAULT_RETENTION, WINDOW)
            .await
            .unwrap()
    }

    /// Retries `op` until it succeeds or `within` runs out.
    async fn eventually<T>(
        within: Duration,
        mut op: impl AsyncFnMut() -> Result<T, LogError>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            match op().await {
                Ok(v) => return v,
                Err(e) if Instant::now() < deadline => {
                    assert!(matches!(e, LogError::Unavailable(_)), "{e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("still failing after {within:?}: {e}"),
            }
        }
    }

    struct Redis(RedisServer);

    impl Opener for Redis {
        async fn open(&self, retention: Retention) -> SharedLog {
            let prefix = format!("test-{}", crate::log::new_epoch());
            Arc::new(
                RedisLog::connect(&self.0.url(), &prefix, retention, WINDOW)
                    .await
                    .unwrap(),
            )
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        conformance::run_all(&Redis(RedisServer::start().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_share_one_hash_tag_per_tenant() {
        let server = RedisServer::start().await;
        let log = open(&server, "bk").await;
        let mut e = event("a.b", 1);
        e.dedup_key = Some("k".into());
        log.append("acme", vec![e]).await.unwrap();
        let client = ::redis::Client::open(server.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut keys: Vec<String> = conn.keys("bk:*").await.unwrap();
        keys.sort();
        assert_eq!(
            keys,
            [
                "bk:{t:acme}:dedup:k",
                "bk:{t:acme}:epoch",
                "bk:{t:acme}:log"
            ]
        );
        let fields: Vec<(String, Vec<(String, String)>)> = ::redis::cmd("XRANGE")
            .arg("bk:{t:acme}:log")
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        let names: Vec<_> = fields[0].1.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["t", "s", "e"], "no `a` for an empty audience");
        assert!(log.append("a{b", vec![event("a.b", 1)]).await.is_err());
    }

    #[tokio::test]
    async fn malformed_urls_and_prefixes_are_rejected() {
        for url in [
            "",
            "not a url",
            "http://localhost:6379",
            "redis://:99999999",
        ] {
            let result = RedisLog::connect(url, "beacon", DEFAULT_RETENTION, WINDOW).await;
            assert!(matches!(result, Err(LogError::Internal(_))), "{url:?}");
        }
        for prefix in ["", "a{b", "a}"] {
            let result =
                RedisLog::connect("redis://127.0.0.1/", prefix, DEFAULT_RETENTION, WINDOW).await;
            assert!(matches!(result, Err(LogError::Internal(_))), "{prefix:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_name_the_server_without_its_password() {
        let mut server = RedisServer::start().await;
        server.kill().await;
        let url = format!("redis://:s3cret@127.0.0.1:{}/", server.port());
        let log = RedisLog::connect(&url, "down", DEFAULT_RETENTION, WINDOW)
            .await
            .unwrap();
        let err = log.read("acme", Offset::ZERO, 1).await.unwrap_err();
        let LogError::Unavailable(_) = &err else {
            panic!("expected Unavailable, got {err}");
        };
        let message = err.to_string();
        let address = format!("redis://127.0.0.1:{}/0", server.port());
        assert!(message.contains(&address), "{message}");
        assert!(!message.contains("s3cret"), "password leaked: {message}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starts_without_redis_and_recovers_when_it_comes_up() {
        let mut server = RedisServer::start().await;
        server.kill().await;
        let log = open(&server, "down").await;
        let started = Instant::now();
        let unavailable = |r: Result<_, LogError>| matches!(r, Err(LogError::Unavailable(_)));
        assert!(unavailable(
            log.append("acme", vec![event("a.b", 1)]).await.map(drop)
        ));
        assert!(unavailable(
            log.read("acme", Offset::ZERO, 10).await.map(drop)
        ));
        assert!(unavailable(
            log.tail("acme", Offset::ZERO, 10, Duration::from_millis(300))
                .await
                .map(drop)
        ));
        assert!(unavailable(log.trim("acme", now_ms()).await.map(drop)));
        assert!(unavailable(log.health().await));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "failing took {:?}",
            started.elapsed()
        );

        server.start_again().await;
        let appended = log.append("acme", vec![event("a.b", 2)]).await.unwrap();
        let read = log.read("acme", Offset::ZERO, 10).await.unwrap();
        assert_eq!(read.events.len(), 1);
        assert_eq!(read.epoch, appended.epoch);
        log.health().await.unwrap();
        let tail = log
            .tail("acme", Offset::ZERO, 10, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(tail.events.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn survives_a_restart_with_acknowledged_events_and_a_running_tail() {
        let mut server = RedisServer::start().await;
        let log = Arc::new(open(&server, "restart").await);
        let before = log
            .append("acme", (0..20).map(|n| event("a.b", n)).collect())
            .await
            .unwrap();

        // A tail loop, as the hub runs it, until it has the events appended
        // after the restart.
        let stop = Arc::new(AtomicBool::new(false));
        let tail_loop = {
            let (log, stop) = (log.clone(), stop.clone());
            let start = before.appended[19].offset;
            tokio::spawn(async move {
                let (mut after, mut got, mut errors) = (start, Vec::new(), 0);
                while got.len() < 5 && !stop.load(Ordering::Relaxed) {
                    match log
                        .tail("acme", after, 100, Duration::from_millis(300))
                        .await
                    {
                        Ok(batch) => {
                            if let Some(last) = batch.events.last() {
                                after = last.offset;
                            }
                            got.extend(batch.events.into_iter().map(|e| e.offset));
                        }
                        Err(LogError::Unavailable(_)) => errors += 1,
                        Err(e) => panic!("tail failed: {e}"),
                    }
                }
                (got, errors)
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;

        server.kill().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(matches!(
            log.append("acme", vec![event("a.b", 99)]).await,
            Err(LogError::Unavailable(_))
        ));
        server.start_again().await;

        let after = eventually(Duration::from_secs(5), async || {
            log.append("acme", (20..25).map(|n| event("a.b", n)).collect())
                .await
        })
        .await;
        assert_eq!(after.epoch, before.epoch, "the data survived");
        let read = log.read("acme", Offset::ZERO, 100).await.unwrap();
        let want: Vec<_> = before
            .appended
            .iter()
            .chain(&after.appended)
            .map(|a| a.offset)
            .collect();
        let got: Vec<_> = read.events.iter().map(|e| e.offset).collect();
        assert_eq!(got, want);

        let deadline = Instant::now() + Duration::from_secs(5);
        while !tail_loop.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let (tailed, errors) = tail_loop.await.unwrap();
        assert!(errors > 0, "the tail saw no outage");
        assert_eq!(tailed, want[20..], "the tail resumed after the outage");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_redis_gives_errors_not_stuck_calls() {
        let server = RedisServer::start().await;
        let log = Arc::new(open(&server, "hung").await);
        log.append("acme", vec![event("a.b", 1)]).await.unwrap();
        let head = log.read("acme", Offset::ZERO, 1).await.unwrap().head;
        // Opens the tenant's tail connection before the hang.
        log.tail("acme", head, 10, Duration::from_millis(50))
            .await
            .unwrap();

        server.pause();
        let started = Instant::now();
        let tail = {
            let log = log.clone();
            tokio::spawn(async move {
                log.tail("acme", head, 10, Duration::from_millis(200))
                    .await
                    .map(drop)
            })
        };
        let append = log.append("acme", vec![event("a.b", 2)]).await;
        assert!(
            matches!(append, Err(LogError::Unavailable(_))),
            "{append:?}"
        );
        assert!(matches!(tail.await.unwrap(), Err(LogError::Unavailable(_))));
        assert!(matches!(log.health().await, Err(LogError::Unavailable(_))));
        assert!(
            started.elapsed() <= CALL_TIMEOUT + Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );

        server.resume();
        eventually(Duration::from_secs(5), async || {
            log.append("acme", vec![event("a.b", 3)]).await
        })
        .await;
        let batch = log
            .tail("acme", head, 10, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(!batch.events.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_keeps_the_epoch_and_the_dedup_keys() {
        let mut server = RedisServer::start().await;
        let log = open(&server, "keep").await;
        let mut e = event("a.b", 1);
        e.dedup_key = Some("once".into());
        let first = log.append("acme", vec![e.clone()]).await.unwrap();
        server.restart().await;
        let again = eventually(Duration::from_secs(5), async || {
            log.append("acme", vec![e.clone()]).await
        })
        .await;
        assert_eq!(again.epoch, first.epoch);
        assert!(again.appended[0].duplicate);
        assert_eq!(again.appended[0].offset, first.appended[0].offset);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flushed_redis_gives_a_new_epoch() {
        let server = RedisServer::start().await;
        let log = open(&server, "flush").await;
        let first = log.append("acme", vec![event("a.b", 1)]).await.unwrap();
        let client = ::redis::Client::open(server.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("FLUSHALL")
            .exec_async(&mut conn)
            .await
            .unwrap();
        let read = log.read("acme", Offset::ZERO, 10).await.unwrap();
        assert_ne!(read.epoch, first.epoch);
        assert!(read.events.is_empty());
        assert_eq!(read.head, Offset::ZERO);
        let again = log.append("acme", vec![event("a.b", 2)]).await.unwrap();
        assert_eq!(again.epoch, read.epoch);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_on_one_node_wakes_a_tail_on_another() {
        let server = RedisServer::start().await;
        let (a, b) = (open(&server, "nodes").await, open(&server, "nodes").await);
        let start = b.read("acme", Offset::ZERO, 1).await.unwrap().head;
        let tail = tokio::spawn(async move {
            let started = Instant::now();
            let batch = b
                .tail("acme", start, 10, Duration::from_secs(5))
                .await
                .unwrap();
            (batch, started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let appended = a.append("acme", vec![event("a.b", 1)]).await.unwrap();
        let (batch, waited) = tail.await.unwrap();
        assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
        assert_eq!(batch.epoch, appended.epoch);
        assert_eq!(batch.head, appended.appended[0].offset);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.events[0].offset, appended.appended[0].offset);
    }
}
