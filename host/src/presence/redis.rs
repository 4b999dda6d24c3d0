//! Presence in Redis, shared by every node: the caps are global.
//!
//! Keys, per tenant, under one hash tag (so each script touches one slot
//! on Redis Cluster): `{<prefix>:presence:<tenant>}:conns`, a sorted set of
//! `"<connection id> <user>"` scored by expiry (Unix ms), and
//! `{<prefix>:presence:<tenant>}:user:<user>`, a sorted set of the user's
//! connection ids scored by registration time (for close-oldest), and
//! `{<prefix>:presence:<tenant>}:seq`, the last change's number.
//! Connection ids never contain a space, so the member splits at the first
//! one. Registering is one Lua script: purge what expired, count the live
//! connections of the user and of the tenant, apply the policy, add.
//! Refreshing is one script per tenant and batch: purge, then extend each
//! of the node's entries. Joins and leaves are found and numbered inside
//! the same scripts as the changes, so they are exact across nodes.
//!
//! A deleted tenant's keys are removed at once, and
//! `{<prefix>:presence:<tenant>}:removed` keeps the removal time (Unix ms)
//! for a while, so its connections on other nodes learn why their entry
//! went.
//!
//! Bounded: expired members are purged on every registration and refresh, and never
//! counted or listed; every key expires [`KEY_TTL_FACTOR`] × the presence
//! TTL after its last write, so the keys of a dead node's users vanish.

use ::redis::aio::ConnectionManager;
use ::redis::{AsyncCommands, Script};
use async_trait::async_trait;

use super::{
    Admission, Caps, Change, Conn, Entry, Online, PresenceError, PresenceStore, Refreshed,
    Registered,
};
use crate::redis_conn::LazyRedis;

/// Key lifetime, in presence TTLs after the last write (entries' own
/// expiries decide what counts; this only frees memory).
pub const KEY_TTL_FACTOR: u64 = 2;
/// Most connections read by one presence listing.
pub const MAX_LISTED: isize = 100_000;

/// Shared by the scripts below. Key names: `tag` is the tenant's hash
/// tag, so the per-user keys a script derives lie in the same slot as its
/// declared ones.
///
/// `change(seq_key, now, user, joined, out)`: numbers a change (see
/// [`super::next_seq`]) and appends `user, '1'|'0', seq` to `out`.
/// `purge(conns, seq_key, tag, now, out)`: removes the expired entries
/// (oldest first) and records each user whose last entry that was.
const COMMON_LUA: &str = include_str!("redis/common.lua");

/// KEYS: conns, user's set, seq. ARGV: connection, user, now, expires,
/// per-user cap, per-tenant cap, policy, key TTL (ms), tag.
/// Returns `{'ok', n, changes (3n)..., replaced...}`, or `{'user', n,
/// changes (3n)..., cap}` / `{'tenant', ...}` when a cap refuses it.
const REGISTER_LUA: &str = include_str!("redis/register.lua");

/// KEYS: conns, seq. ARGV: now, expires, key TTL (ms), tag, then
/// connection and user of each connection to refresh.
/// Returns `{n, changes (3n)..., gone connections...}`.
const REFRESH_LUA: &str = include_str!("redis/refresh.lua");

/// KEYS: conns, user's set, seq. ARGV: connection, user, now.
/// Returns `{}` or the user's leaving `{user, '0', seq}`.
const REMOVE_LUA: &str = include_str!("redis/remove.lua");

/// Most connections refreshed by one script call (the rest go in the next).
pub const REFRESH_BATCH: usize = 500;

pub struct RedisPresence {
    redis: LazyRedis,
    prefix: String,
    register: Script,
    refresh: Script,
    remove: Script,
}

impl RedisPresence {
    pub fn new(url: &str, prefix: &str) -> Result<Self, PresenceError> {
        Ok(RedisPresence {
            redis: LazyRedis::new(url).map_err(|e| PresenceError::Internal(Box::new(e)))?,
            prefix: prefix.to_owned(),
            register: Script::new(&format!("{COMMON_LUA}{REGISTER_LUA}")),
            refresh: Script::new(&format!("{COMMON_LUA}{REFRESH_LUA}")),
            remove: Script::new(&format!("{COMMON_LUA}{REMOVE_LUA}")),
        })
    }

    fn tag(&self, tenant: &str) -> String {
        format!("{{{}:presence:{tenant}}}", self.prefix)
    }

    fn conns_key(&self, tenant: &str) -> String {
        format!("{}:conns", self.tag(tenant))
    }

    fn user_key(&self, tenant: &str, user: &str) -> String {
        format!("{}:user:{user}", self.tag(tenant))
    }

    fn seq_key(&self, tenant: &str) -> String {
        format!("{}:seq", self.tag(tenant))
    }

    fn removed_key(&self, tenant: &str) -> String {
        format!("{}:removed", self.tag(tenant))
    }

    async fn conn(&self) -> Result<ConnectionManager, PresenceError> {
        self.redis.get().await.map_err(failure)
    }
}

fn failure(e: ::redis::RedisError) -> PresenceError {
    PresenceError::redis(e)
}

/// Key lifetime for an entry expiring at `expires_ms`.
fn key_ttl(now_ms: u64, expires_ms: u64) -> u64 {
    expires_ms.saturating_sub(now_ms).max(1) * KEY_TTL_FACTOR
}

fn unexpected(answer: &[String]) -> PresenceError {
    PresenceError::corrupt(format!("unexpected presence answer {answer:?}"))
}

/// Reads `n` changes (user, joined, seq) from a script's answer.
fn changes(answer: &[String], n: usize) -> Result<Vec<Change>, PresenceError> {
    let bad = || unexpected(answer);
    answer
        .get(..n * 3)
        .ok_or_else(bad)?
        .chunks_exact(3)
        .map(|c| {
            Ok(Change {
                user: c[0].clone(),
                joined: c[1] == "1",
                seq: c[2].parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// The count `n` heading a script's answer, and what follows it.
fn counted(answer: &[String]) -> Result<(usize, &[String]), PresenceError> {
    let n = answer
        .first()
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| unexpected(answer))?;
    Ok((n, &answer[1..]))
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn register(
        &self,
        entry: &Entry<'_>,
        caps: Caps,
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Registered, PresenceError> {
        let answer: Vec<String> = self
            .register
            .key(self.conns_key(entry.tenant))
            .key(self.user_key(entry.tenant, entry.user))
            .key(self.seq_key(entry.tenant))
            .arg(entry.connection)
            .arg(entry.user)
            .arg(now_ms)
            .arg(expires_ms)
            .arg(caps.per_user)
            .arg(caps.per_tenant)
            .arg(caps.policy.as_str())
            .arg(key_ttl(now_ms, expires_ms))
            .arg(self.tag(entry.tenant))
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(failure)?;
        let (why, rest) = answer.split_first().ok_or_else(|| unexpected(&answer))?;
        let (n, rest) = counted(rest)?;
        let changes = changes(rest, n)?;
        let rest = &rest[n * 3..];
        let cap = || -> Result<u32, PresenceError> {
            rest.first()
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| unexpected(&answer))
        };
        let admission = match why.as_str() {
            "ok" => Admission::Admitted {
                replaced: rest.to_vec(),
            },
            "user" => Admission::UserFull { cap: cap()? },
            "tenant" => Admission::TenantFull { cap: cap()? },
            _ => return Err(unexpected(&answer)),
        };
        Ok(Registered { admission, changes })
    }

    async fn refresh(
        &self,
        tenant: &str,
        conns: &[Conn<'_>],
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Refreshed, PresenceError> {
        let mut conn = self.conn().await?;
        let mut refreshed = Refreshed::default();
        // At least one call, so that the purge runs even with no connections.
        let chunks = conns.chunks(REFRESH_BATCH);
        let chunks = chunks.chain(conns.is_empty().then_some(&[][..]));
        for chunk in chunks {
            let mut call = self.refresh.prepare_invoke();
            call.key(self.conns_key(tenant))
                .key(self.seq_key(tenant))
                .arg(now_ms)
                .arg(expires_ms)
                .arg(key_ttl(now_ms.min(expires_ms), expires_ms))
                .arg(self.tag(tenant));
            for c in chunk {
                call.arg(c.connection).arg(c.user);
            }
            let answer: Vec<String> = call.invoke_async(&mut conn).await.map_err(failure)?;
            let (n, rest) = counted(&answer)?;
            refreshed.changes.extend(changes(rest, n)?);
            refreshed.gone.extend_from_slice(&rest[n * 3..]);
        }
        Ok(refreshed)
    }

    async fn remove(
        &self,
        entry: &Entry<'_>,
        now_ms: u64,
    ) -> Result<Option<Change>, PresenceError> {
        let answer: Vec<String> = self
            .remove
            .key(self.conns_key(entry.tenant))
            .key(self.user_key(entry.tenant, entry.user))
            .key(self.seq_key(entry.tenant))
            .arg(entry.connection)
            .arg(entry.user)
            .arg(now_ms)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(failure)?;
        Ok(changes(&answer, answer.len() / 3)?.pop())
    }

    async fn online(&self, tenant: &str, now_ms: u64) -> Result<Online, PresenceError> {
        // One transaction: the list and the `seq` it is as of.
        let (members, seq): (Vec<String>, Option<u64>) = ::redis::pipe()
            .atomic()
            .zrangebyscore_limit(
                self.conns_key(tenant),
                format!("({now_ms}"),
                "+inf",
                0,
                MAX_LISTED,
            )
            .get(self.seq_key(tenant))
            .query_async(&mut self.conn().await?)
            .await
            .map_err(failure)?;
        let users = members
            .iter()
            .filter_map(|m| m.split_once(' ').map(|(_, user)| user));
        Ok(Online::from_users(users, seq.unwrap_or(0)))
    }

    async fn remove_tenant(
        &self,
        tenant: &str,
        now_ms: u64,
        remember_ms: u64,
    ) -> Result<(), PresenceError> {
        let mut conn = self.conn().await?;
        let members: Vec<String> = conn
            .zrange(self.conns_key(tenant), 0, -1)
            .await
            .map_err(failure)?;
        let mut users: Vec<&str> = members
            .iter()
            .filter_map(|m| m.split_once(' ').map(|(_, user)| user))
            .collect();
        users.sort_unstable();
        users.dedup();
        // One transaction: a connection registered after the read above
        // loses its entry with the rest (its user key then just expires).
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .del(self.conns_key(tenant))
            .ignore()
            .del(self.seq_key(tenant))
            .ignore();
        for user in users {
            pipe.del(self.user_key(tenant, user)).ignore();
        }
        pipe.cmd("SET")
            .arg(self.removed_key(tenant))
            .arg(now_ms)
            .arg("PX")
            .arg(remember_ms.max(1))
            .ignore();
        pipe.query_async::<()>(&mut conn).await.map_err(failure)
    }

    async fn tenant_removed(
        &self,
        tenant: &str,
        _now_ms: u64,
    ) -> Result<Option<u64>, PresenceError> {
        // The key expires when the removal is no longer remembered.
        self.conn()
            .await?
            .get(self.removed_key(tenant))
            .await
            .map_err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beacon_test_support::RedisServer;

    crate::presence::conformance::presence_conformance!({
        let server = RedisServer::start().await;
        let store = RedisPresence::new(&server.url(), "presence-test").unwrap();
        (server, store)
    });

    /// A second store on the same Redis (another node) sees the same entries.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_node_sees_the_same_entries() {
        let server = RedisServer::start().await;
        let store = RedisPresence::new(&server.url(), "presence-test").unwrap();
        super::super::conformance::caps_per_user_and_per_tenant_refuse_the_newest(&store, "").await;
        let other = RedisPresence::new(&server.url(), "presence-test").unwrap();
        let online = other.online("t", 1_000_000).await.unwrap();
        assert_eq!(online.connections, 4);
    }

    /// One refresh tick of 10 000 connections (10 tenants × 1000) against
    /// a real Redis: one script call per connection (64 in flight) against
    /// one call per tenant and batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark: run with --release --ignored --nocapture"]
    async fn refresh_bench() {
        use futures::StreamExt;
        let server = RedisServer::start().await;
        let store = RedisPresence::new(&server.url(), "presence-bench").unwrap();
        let caps = Caps {
            per_user: 10,
            per_tenant: 100_000,
            policy: super::super::CapPolicy::RefuseNewest,
        };
        let (tenants, per_tenant) = (10, 1000);
        let now = crate::log::now_ms();
        let expires = now + 60_000;
        let ids: Vec<(String, String, String)> = (0..tenants * per_tenant)
            .map(|i| {
                (
                    format!("t{}", i % tenants),
                    format!("u{i}"),
                    format!("c{i}"),
                )
            })
            .collect();
        for (tenant, user, connection) in &ids {
            let entry = Entry {
                tenant,
                user,
                connection,
            };
            store.register(&entry, caps, now, expires).await.unwrap();
        }
        for round in 0..3 {
            let started = std::time::Instant::now();
            futures::stream::iter(&ids)
                .for_each_concurrent(64, |(tenant, user, connection)| {
                    let store = &store;
                    async move {
                        let one = [Conn { user, connection }];
                        let got = store.refresh(tenant, &one, now, expires).await.unwrap();
                        assert!(got.gone.is_empty());
                    }
                })
                .await;
            let single = started.elapsed();
            let started = std::time::Instant::now();
            let mut calls = 0;
            for t in 0..tenants {
                let tenant = format!("t{t}");
                let conns: Vec<Conn<'_>> = ids
                    .iter()
                    .filter(|(owner, _, _)| *owner == tenant)
                    .map(|(_, user, connection)| Conn { user, connection })
                    .collect();
                calls += conns.len().div_ceil(REFRESH_BATCH);
                let got = store.refresh(&tenant, &conns, now, expires).await.unwrap();
                assert!(got.gone.is_empty());
            }
            let batched = started.elapsed();
            println!(
                "round {round}: {} connections: one call each {single:?} ({} calls), \
                 batched {batched:?} ({calls} calls), {:.1}x",
                ids.len(),
                ids.len(),
                single.as_secs_f64() / batched.as_secs_f64()
            );
        }
    }
}
