//! Plugins in Redis, shared by every node.
//!
//! # Key layout
//!
//! All keys carry the hash tag `{<prefix>:plugins}`, so they live in one
//! Redis Cluster slot and one script may touch them together. `<plugin>`
//! is `<tenant>/<name>`: tenant ids and plugin names are `[a-z0-9-]`, so
//! the `/` is unambiguous.
//!
//! | key                                   | type   | holds                                          |
//! |---------------------------------------|--------|------------------------------------------------|
//! | `{<prefix>:plugins}:names:<tenant>`   | set    | the tenant's plugin names                      |
//! | `{<prefix>:plugins}:plugin:<plugin>`  | hash   | `latest` → newest version number; `v:<n>` → JSON version `n` (without its number); `d:<digest>` → the version with those bytes; `activation`, `quarantine` → JSON |
//! | `{<prefix>:plugins}:active`           | set    | `<plugin>` of every activated plugin           |
//! | `{<prefix>:plugins}:wasm:<digest>`    | string | the component's bytes                          |
//! | `{<prefix>:plugins}:refs`             | hash   | `<digest>` → how many versions (of any tenant) use it |
//! | `{<prefix>:plugins}:rev`              | string | counter bumped by every change                 |
//!
//! # Consistency
//!
//! Every change is one Lua script that checks, writes and `INCR`s `rev`
//! atomically: two nodes uploading at once get distinct version numbers,
//! and the bounds hold. Deleting a plugin must name its components' keys
//! up front (a script declares every key it touches), so it reads the
//! plugin with `rev`, then runs a script that deletes only if `rev` has not
//! moved, retrying a few times. Reads of several plugins read `rev` with
//! the list of names, then the plugins with `rev` again, in two
//! `MULTI`/`EXEC`s, and retry if it moved, so they return one snapshot.
//! Other nodes notice changes by polling `rev`.

use std::collections::HashMap;

use ::redis::aio::ConnectionManager;
use ::redis::{AsyncCommands, Script, Value};
use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    Activation, HooksRecord, InfoRecord, MAX_PLUGINS_PER_TENANT, MAX_VERSIONS, NewVersion,
    PluginRecord, PluginStore, Quarantine, StoreError, VersionRecord,
};
use crate::backend::{BackendError, Cause};
use crate::log::now_ms;
use crate::redis_conn::LazyRedis;

/// How many times a delete or a read of several plugins is tried when
/// another change lands in between, before giving up with
/// [`StoreError::Conflict`].
const MAX_ATTEMPTS: usize = 5;

/// KEYS: names, plugin, wasm, refs, rev. ARGV: name, digest, version JSON,
/// bytes, most plugins, most versions.
/// Returns `{status, version, version JSON}`; status 0 = stored, 1 = these
/// bytes were already a version, -1 = too many plugins, -2 = too many
/// versions, -3 = the digest is stored with other bytes.
const PUT_LUA: &str = include_str!("redis/put.lua");

/// KEYS: plugin, active, rev. ARGV: activation JSON, version, `<plugin>`.
/// Returns 1 = set, 0 = no such plugin, -1 = no such version.
const ACTIVATE_LUA: &str = include_str!("redis/activate.lua");

/// KEYS: plugin, rev. ARGV: quarantine JSON, or empty to clear.
/// Returns 1 = done, 0 = no such plugin.
const QUARANTINE_LUA: &str = include_str!("redis/quarantine.lua");

/// KEYS: names, plugin, active, refs, rev, then the wasm key of each of
/// the plugin's digests. ARGV: name, `<plugin>`, the `rev` the digests
/// were read at, then the digests (in the order of their keys).
/// Returns 1 = deleted, 0 = no such plugin, -1 = `rev` moved (read again).
const DELETE_LUA: &str = include_str!("redis/delete.lua");

/// A version as kept in its plugin's hash: its number is the field name.
#[derive(Serialize, Deserialize)]
struct StoredVersion {
    digest: String,
    size: u64,
    hooks: HooksRecord,
    info: InfoRecord,
    created_ms: u64,
}

impl StoredVersion {
    fn into_record(self, version: u32) -> VersionRecord {
        VersionRecord {
            version,
            digest: self.digest,
            size: self.size,
            hooks: self.hooks,
            info: self.info,
            created_ms: self.created_ms,
        }
    }
}

/// Plugins in Redis; see the module docs for the keys.
pub struct RedisPlugins {
    redis: LazyRedis,
    /// `{<prefix>:plugins}`.
    tag: String,
    put: Script,
    activate: Script,
    quarantine: Script,
    delete: Script,
}

impl RedisPlugins {
    /// Checks the URL; connects on first use.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Ok(RedisPlugins {
            redis: LazyRedis::new(url).map_err(|e| BackendError::Internal(Box::new(e)))?,
            tag: format!("{{{prefix}:plugins}}"),
            put: Script::new(PUT_LUA),
            activate: Script::new(ACTIVATE_LUA),
            quarantine: Script::new(QUARANTINE_LUA),
            delete: Script::new(DELETE_LUA),
        })
    }

    fn names_key(&self, tenant: &str) -> String {
        format!("{}:names:{tenant}", self.tag)
    }

    fn plugin_key(&self, member: &str) -> String {
        format!("{}:plugin:{member}", self.tag)
    }

    fn active_key(&self) -> String {
        format!("{}:active", self.tag)
    }

    fn wasm_key(&self, digest: &str) -> String {
        format!("{}:wasm:{digest}", self.tag)
    }

    fn refs_key(&self) -> String {
        format!("{}:refs", self.tag)
    }

    fn rev_key(&self) -> String {
        format!("{}:rev", self.tag)
    }

    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        self.redis.get().await.map_err(unavailable)
    }

    /// Reads the plugins listed in the set `list` as one snapshot: `rev`
    /// and the set in one `MULTI`, the plugins' hashes and `rev` again in a
    /// second, retried while `rev` moves in between. `member` turns an
    /// entry of the set into `<tenant>/<name>`. Returns `(member, hash)`
    /// ordered by member, without plugins removed in the meantime.
    async fn snapshot(
        &self,
        list: &str,
        member: impl Fn(String) -> String,
    ) -> Result<Vec<(String, HashMap<String, String>)>, StoreError> {
        let mut conn = self.conn().await?;
        for _ in 0..MAX_ATTEMPTS {
            let (rev, entries): (Option<u64>, Vec<String>) = ::redis::pipe()
                .atomic()
                .get(self.rev_key())
                .smembers(list)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let mut members: Vec<String> = entries.into_iter().map(&member).collect();
            members.sort();
            let mut second = ::redis::pipe();
            second.atomic().get(self.rev_key());
            for member in &members {
                second.hgetall(self.plugin_key(member));
            }
            let mut values: Vec<Value> =
                second.query_async(&mut conn).await.map_err(unavailable)?;
            if values.len() != members.len() + 1 {
                return Err(corrupt(format!(
                    "Redis answered {} values for {} plugins",
                    values.len(),
                    members.len()
                )));
            }
            let hashes = values.split_off(1);
            let again: Option<u64> = values
                .pop()
                .map(::redis::from_redis_value)
                .transpose()
                .map_err(corrupt)?
                .flatten();
            if again != rev {
                continue;
            }
            let mut out = Vec::with_capacity(members.len());
            for (member, hash) in members.into_iter().zip(hashes) {
                let hash: HashMap<String, String> =
                    ::redis::from_redis_value(hash).map_err(corrupt)?;
                if !hash.is_empty() {
                    out.push((member, hash));
                }
            }
            return Ok(out);
        }
        Err(StoreError::Conflict(
            "the plugin store kept changing while being read; retry".into(),
        ))
    }
}

fn unavailable(e: ::redis::RedisError) -> StoreError {
    BackendError::redis(e).into()
}

fn corrupt(e: impl Into<Cause>) -> StoreError {
    BackendError::corrupt(e).context("plugin record").into()
}

fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| BackendError::internal(e).into())
}

fn member(tenant: &str, name: &str) -> String {
    format!("{tenant}/{name}")
}

/// A plugin from its hash (see the module docs).
fn record(name: &str, hash: HashMap<String, String>) -> Result<PluginRecord, StoreError> {
    let mut plugin = PluginRecord {
        name: name.to_owned(),
        versions: Vec::new(),
        activation: None,
        quarantine: None,
    };
    for (field, value) in hash {
        if let Some(version) = field.strip_prefix("v:") {
            let version: u32 = version.parse().map_err(corrupt)?;
            let stored: StoredVersion = serde_json::from_str(&value).map_err(corrupt)?;
            plugin.versions.push(stored.into_record(version));
        } else if field == "activation" {
            plugin.activation = Some(serde_json::from_str(&value).map_err(corrupt)?);
        } else if field == "quarantine" {
            plugin.quarantine = Some(serde_json::from_str(&value).map_err(corrupt)?);
        }
    }
    plugin.versions.sort_by_key(|v| v.version);
    Ok(plugin)
}

#[async_trait]
impl PluginStore for RedisPlugins {
    async fn put_version(
        &self,
        tenant: &str,
        name: &str,
        new: NewVersion,
    ) -> Result<VersionRecord, StoreError> {
        let stored = StoredVersion {
            digest: new.digest.clone(),
            size: new.size,
            hooks: new.hooks,
            info: new.info,
            created_ms: now_ms(),
        };
        let (status, version, json): (i64, u32, String) = self
            .put
            .key(self.names_key(tenant))
            .key(self.plugin_key(&member(tenant, name)))
            .key(self.wasm_key(&new.digest))
            .key(self.refs_key())
            .key(self.rev_key())
            .arg(name)
            .arg(&new.digest)
            .arg(to_json(&stored)?)
            .arg(new.wasm.as_ref())
            .arg(MAX_PLUGINS_PER_TENANT)
            .arg(MAX_VERSIONS)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        match status {
            0 | 1 => {
                let stored: StoredVersion = serde_json::from_str(&json).map_err(corrupt)?;
                Ok(stored.into_record(version))
            }
            -1 => Err(StoreError::too_many_plugins()),
            -2 => Err(StoreError::too_many_versions()),
            -3 => Err(StoreError::digest_conflict(&new.digest)),
            other => Err(corrupt(format!("unexpected upload status {other}"))),
        }
    }

    async fn versions(&self, tenant: &str, name: &str) -> Result<Vec<VersionRecord>, StoreError> {
        Ok(self
            .plugin(tenant, name)
            .await?
            .map(|p| p.versions)
            .unwrap_or_default())
    }

    async fn wasm(&self, digest: &str) -> Result<Option<Bytes>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn()
            .await?
            .get(self.wasm_key(digest))
            .await
            .map_err(unavailable)?;
        Ok(bytes.map(Bytes::from))
    }

    async fn set_activation(
        &self,
        tenant: &str,
        name: &str,
        activation: Activation,
    ) -> Result<(), StoreError> {
        let member = member(tenant, name);
        let done: i64 = self
            .activate
            .key(self.plugin_key(&member))
            .key(self.active_key())
            .key(self.rev_key())
            .arg(to_json(&activation)?)
            .arg(activation.version)
            .arg(&member)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        match done {
            1 => Ok(()),
            0 => Err(StoreError::NotFound("plugin")),
            _ => Err(StoreError::NotFound("version")),
        }
    }

    async fn set_quarantine(
        &self,
        tenant: &str,
        name: &str,
        quarantine: Option<Quarantine>,
    ) -> Result<(), StoreError> {
        let json = match &quarantine {
            Some(q) => to_json(q)?,
            None => String::new(),
        };
        let done: i64 = self
            .quarantine
            .key(self.plugin_key(&member(tenant, name)))
            .key(self.rev_key())
            .arg(json)
            .invoke_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        if done == 0 {
            return Err(StoreError::NotFound("plugin"));
        }
        Ok(())
    }

    async fn plugins(&self, tenant: &str) -> Result<Vec<PluginRecord>, StoreError> {
        let found = self
            .snapshot(&self.names_key(tenant), |name| member(tenant, &name))
            .await?;
        let prefix = format!("{tenant}/");
        found
            .into_iter()
            .map(|(member, hash)| {
                let name = member.strip_prefix(&prefix).unwrap_or(&member);
                record(name, hash)
            })
            .collect()
    }

    async fn plugin(&self, tenant: &str, name: &str) -> Result<Option<PluginRecord>, StoreError> {
        let hash: HashMap<String, String> = self
            .conn()
            .await?
            .hgetall(self.plugin_key(&member(tenant, name)))
            .await
            .map_err(unavailable)?;
        if hash.is_empty() {
            return Ok(None);
        }
        record(name, hash).map(Some)
    }

    async fn active(&self) -> Result<Vec<(String, PluginRecord)>, StoreError> {
        let mut out = Vec::new();
        for (member, hash) in self.snapshot(&self.active_key(), |m| m).await? {
            let Some((tenant, name)) = member.split_once('/') else {
                return Err(corrupt(format!("active plugin {member:?}")));
            };
            let plugin = record(name, hash)?;
            if plugin.activation.is_some() {
                out.push((tenant.to_owned(), plugin));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1.name).cmp(&(&b.0, &b.1.name)));
        Ok(out)
    }

    async fn delete(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let member = member(tenant, name);
        let plugin_key = self.plugin_key(&member);
        let mut conn = self.conn().await?;
        for _ in 0..MAX_ATTEMPTS {
            let (rev, hash): (Option<String>, HashMap<String, String>) = ::redis::pipe()
                .atomic()
                .get(self.rev_key())
                .hgetall(&plugin_key)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if hash.is_empty() {
                return Ok(false);
            }
            let digests: Vec<&str> = hash.keys().filter_map(|f| f.strip_prefix("d:")).collect();
            let mut call = self.delete.prepare_invoke();
            call.key(self.names_key(tenant))
                .key(&plugin_key)
                .key(self.active_key())
                .key(self.refs_key())
                .key(self.rev_key());
            call.arg(name)
                .arg(&member)
                .arg(rev.as_deref().unwrap_or("0"));
            for digest in &digests {
                call.key(self.wasm_key(digest));
                call.arg(*digest);
            }
            let done: i64 = call.invoke_async(&mut conn).await.map_err(unavailable)?;
            match done {
                1 => return Ok(true),
                0 => return Ok(false),
                _ => continue,
            }
        }
        Err(StoreError::Conflict(
            "the plugin store kept changing during the delete; retry".into(),
        ))
    }

    async fn revision(&self) -> Result<u64, StoreError> {
        let rev: Option<u64> = self
            .conn()
            .await?
            .get(self.rev_key())
            .await
            .map_err(unavailable)?;
        Ok(rev.unwrap_or(0))
    }

    async fn health(&self) -> Result<(), StoreError> {
        let () = ::redis::cmd("PING")
            .query_async(&mut self.conn().await?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::conformance;
    use super::*;
    use beacon_test_support::RedisServer;

    #[tokio::test(flavor = "multi_thread")]
    async fn conformance() {
        let redis = RedisServer::start().await;
        let store = RedisPlugins::new(&redis.url(), "plugins-conformance").unwrap();
        conformance::run_all(&store).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_nodes_share_plugins_and_prefixes_are_separate() {
        let redis = RedisServer::start().await;
        let a = RedisPlugins::new(&redis.url(), "plugins-shared").unwrap();
        let b = RedisPlugins::new(&redis.url(), "plugins-shared").unwrap();
        let other = RedisPlugins::new(&redis.url(), "plugins-other").unwrap();
        let wasm = conformance::component(5, 300);
        let v = a
            .put_version("acme", "p", conformance::new_version(&wasm))
            .await
            .unwrap();
        a.set_activation("acme", "p", conformance::activation(1))
            .await
            .unwrap();
        assert_eq!(b.revision().await.unwrap(), a.revision().await.unwrap());
        let seen = b.active().await.unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1.versions, vec![v.clone()]);
        assert_eq!(b.wasm(&v.digest).await.unwrap(), Some(wasm.clone()));
        // The same bytes uploaded through the other node: the same version.
        let again = b
            .put_version("acme", "p", conformance::new_version(&wasm))
            .await
            .unwrap();
        assert_eq!(again, v);

        assert_eq!(other.revision().await.unwrap(), 0);
        assert!(other.active().await.unwrap().is_empty());
        assert!(other.plugins("acme").await.unwrap().is_empty());
        assert_eq!(other.wasm(&v.digest).await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn keys_share_one_hash_tag() {
        let redis = RedisServer::start().await;
        let store = RedisPlugins::new(&redis.url(), "tagged").unwrap();
        let wasm = conformance::component(6, 10);
        store
            .put_version("acme", "p", conformance::new_version(&wasm))
            .await
            .unwrap();
        store
            .set_activation("acme", "p", conformance::activation(1))
            .await
            .unwrap();
        let mut conn = store.conn().await.unwrap();
        let mut keys: Vec<String> = conn.keys("*").await.unwrap();
        keys.sort();
        let digest = conformance::digest_of(&wasm);
        assert_eq!(
            keys,
            [
                "{tagged:plugins}:active".to_owned(),
                "{tagged:plugins}:names:acme".to_owned(),
                "{tagged:plugins}:plugin:acme/p".to_owned(),
                "{tagged:plugins}:refs".to_owned(),
                "{tagged:plugins}:rev".to_owned(),
                format!("{{tagged:plugins}}:wasm:{digest}"),
            ]
        );
        // The bytes are kept as a plain binary string.
        let raw: Vec<u8> = conn
            .get(format!("{{tagged:plugins}}:wasm:{digest}"))
            .await
            .unwrap();
        assert_eq!(raw, wasm.as_ref());
        // Deleting the only plugin leaves nothing but the counter.
        assert!(store.delete("acme", "p").await.unwrap());
        let keys: Vec<String> = conn.keys("*").await.unwrap();
        assert_eq!(keys, ["{tagged:plugins}:rev"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn deletes_and_reads_retry_when_the_store_moves() {
        let redis = RedisServer::start().await;
        let store = Arc::new(RedisPlugins::new(&redis.url(), "busy").unwrap());
        for n in 0..4u8 {
            let name = format!("p{n}");
            store
                .put_version(
                    "acme",
                    &name,
                    conformance::new_version(&conformance::component(n, 64)),
                )
                .await
                .unwrap();
            store
                .set_activation("acme", &name, conformance::activation(1))
                .await
                .unwrap();
        }
        // A writer bumps the revision continuously while deletes and reads run.
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..200u32 {
                    let mut q = conformance::quarantine();
                    q.failures = n;
                    store.set_quarantine("acme", "p0", Some(q)).await.unwrap();
                }
            })
        };
        let mut deleted = 0;
        for n in 1..4u8 {
            match store.delete("acme", &format!("p{n}")).await {
                Ok(true) => deleted += 1,
                Ok(false) => panic!("p{n} vanished"),
                // Retried MAX_ATTEMPTS times under constant writes: allowed.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("{e}"),
            }
            match store.active().await {
                Ok(active) => assert!(active.iter().all(|(_, p)| p.activation.is_some())),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        writer.await.unwrap();
        for n in 1..4u8 {
            store.delete("acme", &format!("p{n}")).await.unwrap();
        }
        let left = store.active().await.unwrap();
        assert_eq!(left.len(), 1, "{left:?} ({deleted} deleted under load)");
        assert_eq!(left[0].1.quarantine.as_ref().map(|q| q.failures), Some(199));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_down_redis_is_unavailable() {
        let mut redis = RedisServer::start().await;
        let store = RedisPlugins::new(&redis.url(), "down").unwrap();
        store.health().await.unwrap();
        redis.kill().await;
        assert!(matches!(
            store.health().await,
            Err(StoreError::Backend(BackendError::Unavailable(_)))
        ));
        assert!(matches!(
            store.revision().await,
            Err(StoreError::Backend(BackendError::Unavailable(_)))
        ));
        let fresh = RedisPlugins::new(&redis.url(), "down").unwrap();
        assert!(matches!(
            fresh
                .put_version(
                    "acme",
                    "p",
                    conformance::new_version(&conformance::component(1, 8))
                )
                .await,
            Err(StoreError::Backend(BackendError::Unavailable(_)))
        ));
        redis.start_again().await;
        assert_eq!(fresh.revision().await.unwrap(), 0);
    }
}
