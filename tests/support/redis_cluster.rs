//! A real Redis Cluster: three primaries and three replicas, each a
//! [`RedisServer`] started with `--cluster-enabled yes`, joined by
//! `redis-cli --cluster create --cluster-replicas 1`.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use tokio::process::Command;

use crate::programs::redis_cli_bin;
use crate::redis::run_cli;
use crate::{LaunchError, RedisServer};

/// Primaries in a cluster (each owns a third of the hash slots).
pub const PRIMARIES: usize = 3;
/// Replicas per primary.
pub const REPLICAS_PER_PRIMARY: usize = 1;
/// A node's cluster bus listens on its port plus this.
const BUS_OFFSET: u16 = 10_000;
/// The highest port a node may use, so that its bus port is a valid port.
pub const MAX_NODE_PORT: u16 = u16::MAX - BUS_OFFSET;
/// The lowest port picked for a node.
const MIN_NODE_PORT: u16 = 10_000;
/// How long a node may go unreachable before the cluster fails it over.
/// Short, so tests that kill a primary see a failover quickly.
const NODE_TIMEOUT_MS: &str = "2000";
/// How long the cluster may take to agree on its slots after creation.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Port picks (and node starts) tried before giving up.
const ATTEMPTS: usize = 20;

/// Three primaries and three replicas on loopback ports, each with its own
/// data directory. Dropping it stops every node.
#[derive(Debug)]
pub struct RedisCluster {
    /// Primaries first, in the order given to `redis-cli --cluster create`
    /// (which makes the first [`PRIMARIES`] nodes the primaries).
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the six nodes, creates the cluster and waits until every node
    /// reports `cluster_state:ok` and sees every replica attached.
    pub async fn spawn() -> Result<RedisCluster, LaunchError> {
        let count = PRIMARIES * (1 + REPLICAS_PER_PRIMARY);
        let mut nodes: Vec<RedisServer> = Vec::with_capacity(count);
        let mut attempts = 0;
        while nodes.len() < count {
            attempts += 1;
            let taken: Vec<u16> = nodes.iter().map(RedisServer::port).collect();
            let port = node_port(&taken)?;
            let started = RedisServer::builder()
                .port(port)
                .arg("cluster-enabled", "yes")
                .arg("cluster-config-file", "nodes.conf")
                .arg("cluster-node-timeout", NODE_TIMEOUT_MS)
                .spawn()
                .await;
            match started {
                Ok(node) => nodes.push(node),
                Err(e) if attempts >= ATTEMPTS => return Err(e),
                Err(_) => {}
            }
        }
        let cluster = RedisCluster { nodes };
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let mut create = Command::new(redis_cli_bin()?);
        create
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &REPLICAS_PER_PRIMARY.to_string()])
            .arg("--cluster-yes");
        let output = tokio::time::timeout(SETTLE_TIMEOUT, create.kill_on_drop(true).output())
            .await
            .map_err(|_| LaunchError::Helper {
                command: "redis-cli --cluster create".into(),
                detail: format!("did not finish within {SETTLE_TIMEOUT:?}"),
            })?
            .map_err(|e| LaunchError::io("run redis-cli --cluster create", e))?;
        if !output.status.success() {
            return Err(LaunchError::Helper {
                command: "redis-cli --cluster create".into(),
                detail: format!(
                    "{}:\n{}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            });
        }
        cluster.wait_until_formed().await?;
        Ok(cluster)
    }

    /// [`spawn`](Self::spawn), panicking with the reason if it fails.
    pub async fn start() -> RedisCluster {
        RedisCluster::spawn()
            .await
            .unwrap_or_else(|e| panic!("could not start a Redis Cluster: {e}"))
    }

    /// Every node, primaries first (as created; a failover changes roles).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One node, to kill, pause or restart it.
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// `redis://127.0.0.1:<port>` of every node: the seed list for a
    /// cluster client.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Runs `redis-cli -c` (following redirections) against the first
    /// running node and returns its output, trimmed. Panics on failure.
    pub async fn cli(&mut self, args: &[&str]) -> String {
        let port = self
            .nodes
            .iter_mut()
            .find_map(|n| n.is_running().then(|| n.port()))
            .expect("no cluster node is running");
        let mut command = Command::new(redis_cli_bin().unwrap_or_else(|e| panic!("{e}")));
        command
            .args(["-c", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args);
        run_cli(&mut command).await
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub async fn wait_until_ok(&self) -> Result<(), LaunchError> {
        self.wait_until("cluster_state:ok", |node| async move {
            let info = node.cli(&["CLUSTER", "INFO"]).await;
            info.lines()
                .any(|l| l.trim() == "cluster_state:ok")
                .then_some(())
                .ok_or(info)
        })
        .await
    }

    /// Waits until every node reports the state `ok` and sees every replica
    /// attached to its primary (the replicas are assigned after the slots,
    /// so `ok` alone comes too early).
    async fn wait_until_formed(&self) -> Result<(), LaunchError> {
        self.wait_until_ok().await?;
        let replicas = PRIMARIES * REPLICAS_PER_PRIMARY;
        self.wait_until("every replica attached", |node| async move {
            let nodes = node.cli(&["CLUSTER", "NODES"]).await;
            let attached = nodes
                .lines()
                .filter(|l| l.contains("slave") && l.contains(" connected"))
                .count();
            (attached == replicas).then_some(()).ok_or(nodes)
        })
        .await
    }

    /// Polls `check` on every running node until it passes on all of them
    /// (at most [`SETTLE_TIMEOUT`]); `Err` carries what the node answered.
    async fn wait_until<'a, F, Fut>(&'a self, what: &str, check: F) -> Result<(), LaunchError>
    where
        F: Fn(&'a RedisServer) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            let mut failing = None;
            for node in self.nodes.iter().filter(|n| n.has_process()) {
                if let Err(seen) = check(node).await {
                    failing = Some(format!("port {}: {seen}", node.port()));
                    break;
                }
            }
            let Some(last) = failing else {
                return Ok(());
            };
            if tokio::time::Instant::now() > deadline {
                return Err(LaunchError::NotReady {
                    program: format!("Redis Cluster ({what})"),
                    limit: SETTLE_TIMEOUT,
                    log: last,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A port for a node, not in `taken`, free along with its bus port, and
/// below the kernel's ephemeral range with its bus port too (so neither
/// collides with the outgoing connections of a busy machine).
fn node_port(taken: &[u16]) -> Result<u16, LaunchError> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let high = ephemeral_low
        .saturating_sub(BUS_OFFSET + 1)
        .clamp(MIN_NODE_PORT + 1_000, MAX_NODE_PORT);
    for _ in 0..1_000 {
        let port = fastrand::u16(MIN_NODE_PORT..=high);
        if taken.contains(&port) {
            continue;
        }
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + BUS_OFFSET) {
            return Ok(port);
        }
    }
    Err(LaunchError::Helper {
        command: "picking a cluster node port".into(),
        detail: format!("no free port pair in {MIN_NODE_PORT}..={high}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_takes_writes_on_every_primary_and_tears_down() {
        let mut cluster = RedisCluster::start().await;
        let ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
        assert_eq!(ports.len(), 6);
        assert!(ports.iter().all(|p| *p <= MAX_NODE_PORT), "{ports:?}");

        let info = cluster.nodes()[0].cli(&["CLUSTER", "INFO"]).await;
        assert!(info.contains("cluster_size:3"), "{info}");
        assert!(info.contains("cluster_known_nodes:6"), "{info}");
        let replicas = cluster.nodes()[0].cli(&["CLUSTER", "NODES"]).await;
        assert_eq!(replicas.matches("slave").count(), 3, "{replicas}");

        // Keys spread over the slots, so every primary takes some writes.
        for n in 0..30 {
            let key = format!("key-{n}");
            assert_eq!(cluster.cli(&["SET", &key, &n.to_string()]).await, "OK");
        }
        for n in 0..30 {
            assert_eq!(
                cluster.cli(&["GET", &format!("key-{n}")]).await,
                n.to_string()
            );
        }
        for primary in &cluster.nodes()[..PRIMARIES] {
            let keys: u32 = primary.cli(&["DBSIZE"]).await.parse().unwrap();
            assert!(keys > 0, "primary on port {} took no key", primary.port());
        }
        assert_eq!(cluster.urls().len(), 6);

        drop(cluster);
        for port in ports {
            assert!(
                !crate::redis::ping(port, None).await,
                "node on port {port} still answers"
            );
        }
    }
}
