//! Presence in Redis, shared by every node: the caps are global.
//!
//! Keys, per tenant, under one hash tag (so each script touches one slot
//! on Redis Cluster): `{<prefix>:presence:<tenant>}:conns`, a sorted set of
//! `"<connection id> <user>"` scored by expiry (Unix ms), and
//! `{<prefix>:presence:<tenant>}:user:<user>`, a sorted set of the user's
//! connection ids scored by registration time (for close-oldest).
//! Connection ids never contain a space, so the member splits at the first
//! one. Registering is one Lua script: purge what expired, count the live
//! connections of the user and of the tenant, apply the policy, add.
//!
//! A deleted tenant's keys are removed at once, and
//! `{<prefix>:presence:<tenant>}:removed` keeps the removal time (Unix ms)
//! for a while, so its connections on other nodes learn why their entry
//! went.
//!
//! Bounded: expired members are purged on every registration and never
//! counted or listed; every key expires [`KEY_TTL_FACTOR`] × the presence
//! TTL after its last write, so the keys of a dead node's users vanish.

use ::redis::aio::ConnectionManager;
use ::redis::{AsyncCommands, Script};
use async_trait::async_trait;

use super::{Admission, Caps, Entry, Online, PresenceError, PresenceStore};
use crate::redis_conn::{LazyRedis, is_unavailable};

/// Key lifetime, in presence TTLs after the last write (entries' own
/// expiries decide what counts; this only frees memory).
pub const KEY_TTL_FACTOR: u64 = 2;
/// Most connections read by one presence listing.
pub const MAX_LISTED: isize = 100_000;

/// KEYS: conns, user's set. ARGV: connection, user, now, expires, per-user
/// cap, per-tenant cap, policy, key TTL (ms).
/// Returns `{'ok', replaced...}`, `{'user', cap}` or `{'tenant', cap}`.
const REGISTER_LUA: &str = r"
local conn, user, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local member = conn .. ' ' .. user
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local present = 0
if redis.call('ZSCORE', KEYS[1], member) then present = 1 end
for _, c in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if c == conn or not redis.call('ZSCORE', KEYS[1], c .. ' ' .. user) then
    redis.call('ZREM', KEYS[2], c)
  end
end
local mine = redis.call('ZCARD', KEYS[2])
local cap = tonumber(ARGV[5])
local replaced = {}
if mine >= cap then
  if ARGV[7] ~= 'close-oldest' or cap == 0 then return {'user', ARGV[5]} end
  replaced = redis.call('ZRANGE', KEYS[2], 0, mine - cap)
end
if redis.call('ZCARD', KEYS[1]) - #replaced - present >= tonumber(ARGV[6]) then
  return {'tenant', ARGV[6]}
end
for _, c in ipairs(replaced) do
  redis.call('ZREM', KEYS[2], c)
  redis.call('ZREM', KEYS[1], c .. ' ' .. user)
end
redis.call('ZADD', KEYS[1], ARGV[4], member)
redis.call('ZADD', KEYS[2], now, conn)
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
local answer = {'ok'}
for _, c in ipairs(replaced) do answer[#answer + 1] = c end
return answer
";

/// KEYS: conns, user's set. ARGV: connection, user, expires, key TTL (ms).
const REFRESH_LUA: &str = r"
local member = ARGV[1] .. ' ' .. ARGV[2]
local score = redis.call('ZSCORE', KEYS[1], member)
if not score then return 0 end
if tonumber(score) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[3], member)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
";

pub struct RedisPresence {
    redis: LazyRedis,
    prefix: String,
    register: Script,
    refresh: Script,
}

impl RedisPresence {
    pub fn new(url: &str, prefix: &str) -> Result<Self, PresenceError> {
        Ok(RedisPresence {
            redis: LazyRedis::new(url).map_err(PresenceError::Backend)?,
            prefix: prefix.to_owned(),
            register: Script::new(REGISTER_LUA),
            refresh: Script::new(REFRESH_LUA),
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

    fn removed_key(&self, tenant: &str) -> String {
        format!("{}:removed", self.tag(tenant))
    }

    async fn conn(&self) -> Result<ConnectionManager, PresenceError> {
        self.redis.get().await.map_err(failure)
    }
}

fn failure(e: ::redis::RedisError) -> PresenceError {
    if is_unavailable(&e) {
        PresenceError::Unavailable(e.to_string())
    } else {
        PresenceError::Backend(e.to_string())
    }
}

/// Key lifetime for an entry expiring at `expires_ms`.
fn key_ttl(now_ms: u64, expires_ms: u64) -> u64 {
    expires_ms.saturating_sub(now_ms).max(1) * KEY_TTL_FACTOR
}

fn member(entry: &Entry<'_>) -> String {
    format!("{} {}", entry.connection, entry.user)
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn register(
        &self,
        entry: &Entry<'_>,
        caps: Caps,
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Admission, PresenceError> {
        let answer: Vec<String> = self
            .register
            .key(self.conns_key(entry.tenant))
            .key(self.user_key(entry.tenant, entry.user))
            .arg(entry.connection)
            .arg(entry.user)
            .arg(now_ms)
            .arg(expires_ms)
            .arg(caps.per_user)
            .arg(caps.per_tenant)
            .arg(caps.policy.as_str())
            .arg(key_ttl(now_ms, expires_ms))
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(failure)?;
        let cap = || answer.get(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        match answer.first().map(String::as_str) {
            Some("ok") => Ok(Admission::Admitted {
                replaced: answer[1..].to_vec(),
            }),
            Some("user") => Ok(Admission::UserFull { cap: cap() }),
            Some("tenant") => Ok(Admission::TenantFull { cap: cap() }),
            _ => Err(PresenceError::Backend(format!(
                "unexpected register answer {answer:?}"
            ))),
        }
    }

    async fn refresh(&self, entry: &Entry<'_>, expires_ms: u64) -> Result<bool, PresenceError> {
        let now = crate::log::now_ms();
        let kept: i64 = self
            .refresh
            .key(self.conns_key(entry.tenant))
            .key(self.user_key(entry.tenant, entry.user))
            .arg(entry.connection)
            .arg(entry.user)
            .arg(expires_ms)
            .arg(key_ttl(now.min(expires_ms), expires_ms))
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(failure)?;
        Ok(kept == 1)
    }

    async fn remove(&self, entry: &Entry<'_>) -> Result<(), PresenceError> {
        let mut conn = self.conn().await?;
        ::redis::pipe()
            .atomic()
            .zrem(self.conns_key(entry.tenant), member(entry))
            .ignore()
            .zrem(self.user_key(entry.tenant, entry.user), entry.connection)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(failure)
    }

    async fn online(&self, tenant: &str, now_ms: u64) -> Result<Online, PresenceError> {
        let members: Vec<String> = self
            .conn()
            .await?
            .zrangebyscore_limit(
                self.conns_key(tenant),
                format!("({now_ms}"),
                "+inf",
                0,
                MAX_LISTED,
            )
            .await
            .map_err(failure)?;
        let users = members
            .iter()
            .filter_map(|m| m.split_once(' ').map(|(_, user)| user));
        Ok(Online::from_users(users))
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
        pipe.atomic().del(self.conns_key(tenant)).ignore();
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
        registered_ms: u64,
        _now_ms: u64,
    ) -> Result<bool, PresenceError> {
        let at: Option<u64> = self
            .conn()
            .await?
            .get(self.removed_key(tenant))
            .await
            .map_err(failure)?;
        Ok(at.is_some_and(|at| registered_ms <= at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::RedisServer;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        let server = RedisServer::start();
        let store = RedisPresence::new(&server.url(), "presence-test").unwrap();
        super::super::conformance::run_all(&store, "").await;
        // A second store on the same Redis (another node) sees the same entries.
        let other = RedisPresence::new(&server.url(), "presence-test").unwrap();
        let online = other.online("t", 1_000_000).await.unwrap();
        assert_eq!(online.connections, 4);
    }
}
