//! A fresh system under test for one scenario: redis-server (Redis backend),
//! `beacon serve`, and the bench tenant.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::api;
use crate::procs::{ProcStats, Redis, Server};
use crate::{Backend, Opts};

pub struct Target {
    // Field order: the server stops before its Redis.
    pub server: Server,
    pub redis: Option<Redis>,
    pub api_key: String,
}

impl Target {
    pub async fn start(opts: &Opts, backend: Backend) -> Result<Self> {
        let redis = match backend {
            Backend::Redis => Some(Redis::start(&opts.redis_server).context("start redis-server")?),
            Backend::Embedded => None,
        };
        let server = Server::start(
            &opts.server_path()?,
            redis.as_ref().map(|r| r.url.as_str()),
            &opts.server_log,
        )
        .context("start beacon serve")?;
        let target = Self {
            server,
            redis,
            api_key: String::new(),
        };
        api::wait_ready(target.addr(), Duration::from_secs(30)).await?;
        if opts.contract {
            api::register_contract(target.addr(), &target.server.admin_token).await?;
        }
        let api_key =
            api::create_tenant(target.addr(), &target.server.admin_token, opts.contract).await?;
        if let Some(path) = &opts.plugin {
            let wasm = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            api::activate_plugin(target.addr(), &api_key, wasm).await?;
        }
        Ok(Self { api_key, ..target })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Fails if the server or redis-server died.
    pub fn check_alive(&mut self) -> Result<()> {
        self.server.check_alive()?;
        if let Some(redis) = &mut self.redis {
            redis.check_alive()?;
        }
        Ok(())
    }

    /// CPU and memory of the server, redis-server (if any) and this process.
    pub fn sample(&self) -> Result<Sample> {
        Ok(Sample {
            server: self.server.stats()?,
            redis: match &self.redis {
                Some(r) => Some(ProcStats::read(r.pid)?),
                None => None,
            },
            client: ProcStats::read_self()?,
            at: std::time::Instant::now(),
        })
    }
}

/// Process figures at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub server: ProcStats,
    pub redis: Option<ProcStats>,
    pub client: ProcStats,
    pub at: std::time::Instant,
}

impl Sample {
    /// CPU used between two samples as a percentage of one core, per process.
    pub fn cpu_between(&self, later: &Sample) -> CpuUse {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let pct = |a: f64, b: f64| (b - a) / wall * 100.0;
        CpuUse {
            server: pct(self.server.cpu_s, later.server.cpu_s),
            redis: match (self.redis, later.redis) {
                (Some(a), Some(b)) => Some(pct(a.cpu_s, b.cpu_s)),
                _ => None,
            },
            client: pct(self.client.cpu_s, later.client.cpu_s),
        }
    }
}

/// Percent of one core.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub server: f64,
    pub redis: Option<f64>,
    pub client: f64,
}

impl CpuUse {
    pub fn cell(&self) -> String {
        match self.redis {
            Some(redis) => format!(
                "server {:.0}%, redis {:.0}%, bench client {:.0}% (of one core)",
                self.server, redis, self.client
            ),
            None => format!(
                "server {:.0}%, bench client {:.0}% (of one core)",
                self.server, self.client
            ),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "server_pct": (self.server * 10.0).round() / 10.0,
            "redis_pct": self.redis.map(|r| (r * 10.0).round() / 10.0),
            "client_pct": (self.client * 10.0).round() / 10.0,
        })
    }
}
