//! Contracts in Redis, shared by every node.
//!
//! # Key layout
//!
//! All keys carry the hash tag `{<prefix>:schemas}`, so they live in one
//! Redis Cluster slot and one script may touch them together:
//!
//! | key                                  | type   | holds                                   |
//! |--------------------------------------|--------|-----------------------------------------|
//! | `{<prefix>:schemas}:contracts`       | hash   | `<type>@<version>` → JSON [`Contract`]  |
//! | `{<prefix>:schemas}:latest`          | hash   | `<type>` → newest version number        |
//! | `{<prefix>:schemas}:modes`           | hash   | `<type>` → mode name                    |
//! | `{<prefix>:schemas}:deprecated`      | set    | `<type>@<version>`                      |
//! | `{<prefix>:schemas}:rev`             | string | counter bumped by every write           |
//!
//! Type names cannot contain `@` (see [`beacon_protocol::envelope::valid_type`]), so the
//! field names are unambiguous.
//!
//! # Consistency and propagation
//!
//! A registration is one Lua script: it compares the type's newest version
//! with the one expected, stores the contract, advances `latest` and bumps
//! `rev`, atomically — two nodes registering at once cannot both get the
//! same number. Deprecation is a script too; setting a mode is a
//! `MULTI`/`EXEC`. A load reads every key in one `MULTI`/`EXEC`, so it is
//! one consistent snapshot. Other nodes learn about a change by polling
//! `rev` (one `GET`, see [`Registry::watch`](super::Registry::watch)),
//! which needs no keyspace notifications or pub/sub connection and cannot
//! miss a change the way a lost pub/sub message can.

use std::collections::{BTreeMap, HashMap, HashSet};

use ::redis::aio::ConnectionManager;
use ::redis::{AsyncCommands, Script};
use async_trait::async_trait;

use super::store::{ContractStore, StoredCatalogue};
use super::{Contract, Mode, SchemaError};
use crate::backend::BackendError;
use crate::redis_conn::LazyRedis;

/// KEYS: contracts, latest, rev. ARGV: type, version, contract JSON.
const APPEND_LUA: &str = include_str!("redis/append.lua");

/// KEYS: contracts, deprecated, rev. ARGV: `<type>@<version>`.
const DEPRECATE_LUA: &str = include_str!("redis/deprecate.lua");

pub struct RedisContracts {
    redis: LazyRedis,
    contracts: String,
    latest: String,
    modes: String,
    deprecated: String,
    rev: String,
    append: Script,
    deprecate: Script,
}

impl RedisContracts {
    pub fn new(url: &str, prefix: &str) -> Result<Self, SchemaError> {
        let redis = LazyRedis::new(url).map_err(|e| BackendError::Internal(Box::new(e)))?;
        let key = |name: &str| format!("{{{prefix}:schemas}}:{name}");
        Ok(RedisContracts {
            redis,
            contracts: key("contracts"),
            latest: key("latest"),
            modes: key("modes"),
            deprecated: key("deprecated"),
            rev: key("rev"),
            append: Script::new(APPEND_LUA),
            deprecate: Script::new(DEPRECATE_LUA),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager, SchemaError> {
        self.redis.get().await.map_err(unavailable)
    }
}

fn unavailable(e: ::redis::RedisError) -> SchemaError {
    BackendError::redis(e).into()
}

fn field(kind: &str, version: u32) -> String {
    format!("{kind}@{version}")
}

#[async_trait]
impl ContractStore for RedisContracts {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn revision(&self) -> Result<u64, SchemaError> {
        let rev: Option<u64> = self
            .conn()
            .await?
            .get(&self.rev)
            .await
            .map_err(unavailable)?;
        Ok(rev.unwrap_or(0))
    }

    async fn load(&self) -> Result<StoredCatalogue, SchemaError> {
        let mut conn = self.conn().await?;
        let (rev, contracts, modes, deprecated): (
            Option<u64>,
            HashMap<String, String>,
            HashMap<String, String>,
            HashSet<String>,
        ) = ::redis::pipe()
            .atomic()
            .get(&self.rev)
            .hgetall(&self.contracts)
            .hgetall(&self.modes)
            .smembers(&self.deprecated)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut list = Vec::with_capacity(contracts.len());
        for (name, json) in contracts {
            let mut contract: Contract = serde_json::from_str(&json)
                .map_err(|e| BackendError::from(e).context(format_args!("contract {name:?}")))?;
            contract.deprecated = deprecated.contains(&name);
            list.push(contract);
        }
        list.sort_by(|a, b| (&a.kind, a.version).cmp(&(&b.kind, b.version)));
        let mut parsed = BTreeMap::new();
        for (kind, mode) in modes {
            let mode = Mode::parse(&mode)
                .ok_or_else(|| BackendError::corrupt(format!("mode {mode:?}")))?;
            parsed.insert(kind, mode);
        }
        Ok(StoredCatalogue {
            revision: rev.unwrap_or(0),
            modes: parsed,
            contracts: list,
        })
    }

    async fn append(&self, contract: &Contract) -> Result<bool, SchemaError> {
        let mut record = contract.clone();
        record.deprecated = false;
        let json = serde_json::to_string(&record).map_err(BackendError::internal)?;
        let mut conn = self.conn().await?;
        let stored: i64 = self
            .append
            .key(&self.contracts)
            .key(&self.latest)
            .key(&self.rev)
            .arg(&contract.kind)
            .arg(contract.version)
            .arg(json)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(stored == 1)
    }

    async fn set_mode(&self, kind: &str, mode: Mode) -> Result<(), SchemaError> {
        let mut conn = self.conn().await?;
        let () = ::redis::pipe()
            .atomic()
            .hset(&self.modes, kind, mode.as_str())
            .ignore()
            .incr(&self.rev, 1)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn deprecate(&self, kind: &str, version: u32) -> Result<bool, SchemaError> {
        let mut conn = self.conn().await?;
        let done: i64 = self
            .deprecate
            .key(&self.contracts)
            .key(&self.deprecated)
            .key(&self.rev)
            .arg(field(kind, version))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beacon_test_support::RedisServer;

    #[tokio::test(flavor = "multi_thread")]
    async fn conformance() {
        let redis = RedisServer::start().await;
        let store = RedisContracts::new(&redis.url(), "schemas-test").unwrap();
        super::super::store::conformance::run_all(&store).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn prefixes_are_separate_and_a_down_redis_is_unavailable() {
        let mut redis = RedisServer::start().await;
        let a = RedisContracts::new(&redis.url(), "one").unwrap();
        let b = RedisContracts::new(&redis.url(), "two").unwrap();
        let c = super::super::store::conformance::contract("k.a", 1);
        assert!(a.append(&c).await.unwrap());
        assert!(b.load().await.unwrap().contracts.is_empty());
        assert!(b.append(&c).await.unwrap());
        redis.kill().await;
        assert!(matches!(
            a.revision().await,
            Err(SchemaError::Backend(BackendError::Unavailable(_)))
        ));
        redis.start_again().await;
        assert_eq!(a.load().await.unwrap().contracts, vec![c]);
    }

    fn order(extra: &str) -> serde_json::Value {
        let mut s = serde_json::json!({"type": "object",
            "properties": {"orderId": {"type": "string"}}, "required": ["orderId"]});
        if !extra.is_empty() {
            s["properties"][extra] = serde_json::json!({"type": "string"});
        }
        s
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_registries_share_one_catalogue_within_a_second() {
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        use crate::schema::registry::REFRESH_EVERY;
        use crate::schema::{Invalid, Mode, Registry};

        let mut redis = RedisServer::start().await;
        let open = || async {
            Registry::open(Arc::new(
                RedisContracts::new(&redis.url(), "shared").unwrap(),
            ))
            .await
            .unwrap()
        };
        let (a, b) = (open().await, open().await);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let _watch = b.watch(REFRESH_EVERY, shutdown.clone());
        let event = serde_json::json!({"orderId": "IE-1"});

        async fn within_a_second(check: &dyn Fn() -> bool) -> Duration {
            let started = Instant::now();
            while !check() {
                assert!(
                    started.elapsed() < Duration::from_secs(1),
                    "not visible after 1 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            started.elapsed()
        }
        assert!(matches!(
            b.validate("order.created", None, &event),
            Err(Invalid::UnknownType { .. })
        ));
        a.register("order.created", order("")).await.unwrap();
        let took = within_a_second(&|| b.validate("order.created", None, &event) == Ok(1)).await;
        println!("registration visible on the other node after {took:?}");

        a.set_mode("order.created", Mode::Full).await.unwrap();
        within_a_second(&|| b.get("order.created").is_some_and(|t| t.mode == Mode::Full)).await;

        // Both nodes register at once: each gets its own number, no gap, no loss.
        let (ra, rb) = tokio::join!(
            a.register("order.created", order("note")),
            b.register("order.created", order("channel"))
        );
        let mut got = vec![ra.unwrap(), rb.unwrap()];
        got.sort();
        assert_eq!(got, [2, 3]);

        a.deprecate("order.created", 3).await.unwrap();
        within_a_second(&|| b.validate("order.created", None, &event) == Ok(2)).await;

        // Redis down: validation goes on from the last snapshot; writes fail.
        redis.kill().await;
        tokio::time::sleep(REFRESH_EVERY * 2).await;
        assert_eq!(b.validate("order.created", None, &event), Ok(2));
        assert!(matches!(
            b.register("other.type", order("")).await,
            Err(SchemaError::Backend(BackendError::Unavailable(_)))
        ));
        redis.start_again().await;
        // The first call after a restart may find the old connection broken
        // (Unavailable) while the manager reconnects; callers retry.
        let started = Instant::now();
        while let Err(e) = a.register("other.type", order("")).await {
            assert!(
                matches!(e, SchemaError::Backend(BackendError::Unavailable(_))),
                "{e}"
            );
            assert!(started.elapsed() < Duration::from_secs(5), "{e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        within_a_second(&|| b.get("other.type").is_some()).await;
        shutdown.cancel();
    }
}
