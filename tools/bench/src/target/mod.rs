//! The systems under test, each started fresh for every scenario:
//!
//! - [`beacon`]: `beacon serve`, embedded or on its own [`redis`]-server,
//!   set up through the [`api`];
//! - [`nchan`]: nginx with the nchan module.
//!
//! A [`Target`] hides which one it is from the scenarios: how to subscribe,
//! where to publish, which processes make up the server.

pub mod api;
pub mod beacon;
pub mod nchan;
pub mod redis;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::client::{Pool, Subscribe};
use crate::opts::{Opts, TargetKind};
use crate::procs::ProcStats;
use crate::stream::Ready;
use beacon::Beacon;
use nchan::{Install, Nchan};

/// Where and how publishers publish.
#[derive(Debug, Clone)]
pub struct Route {
    pub addr: SocketAddr,
    pub path: Arc<str>,
    pub bearer: Option<Arc<str>>,
    /// Whether one request may carry a JSON array of events (Beacon); Nchan
    /// publishes a request's body as one message.
    pub batches: bool,
}

enum System {
    Beacon(Beacon),
    Nchan(Nchan),
}

/// One running system under test.
pub struct Target {
    pub kind: TargetKind,
    system: System,
}

impl Target {
    pub async fn start(opts: &Opts, kind: TargetKind, nchan: Option<&Install>) -> Result<Self> {
        let system = match kind {
            TargetKind::BeaconEmbedded => System::Beacon(Beacon::start(opts, false).await?),
            TargetKind::BeaconRedis => System::Beacon(Beacon::start(opts, true).await?),
            TargetKind::Nchan => {
                let install = nchan.context("nchan is not installed")?;
                System::Nchan(Nchan::start(install, opts).await.context("start nginx")?)
            }
        };
        Ok(Self { kind, system })
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    pub fn addr(&self) -> SocketAddr {
        match &self.system {
            System::Beacon(b) => b.server.addr,
            System::Nchan(n) => n.addr,
        }
    }

    /// One stream path per subscriber (Beacon: a token each, minted through
    /// the API; Nchan: the channel).
    pub async fn stream_paths(&self, count: usize) -> Result<Vec<String>> {
        match &self.system {
            System::Beacon(b) => Ok(api::mint_tokens(b.server.addr, &b.api_key, count)
                .await?
                .iter()
                .map(|t| api::stream_path(t))
                .collect()),
            System::Nchan(_) => Ok(vec![format!("/sub?id={}", nchan::CHANNEL); count]),
        }
    }

    /// How subscribers open and read a stream.
    pub fn subscribe(&self, opts: &Opts) -> Subscribe {
        let (ready, control_prefix, overflow_event) = match &self.system {
            System::Beacon(_) => (
                Ready::Event {
                    name: "beacon.connected".into(),
                    control_prefix: "beacon.".into(),
                },
                Some("beacon.".into()),
                Some("beacon.overflow".into()),
            ),
            System::Nchan(_) => (Ready::Comment, None, None),
        };
        Subscribe {
            addr: self.addr(),
            ready,
            control_prefix,
            overflow_event,
            open_concurrency: opts.open_concurrency,
            open_timeout: opts.open_timeout(),
        }
    }

    pub fn route(&self) -> Route {
        match &self.system {
            System::Beacon(b) => Route {
                addr: b.server.addr,
                path: "/v1/events".into(),
                bearer: Some(b.api_key.as_str().into()),
                batches: true,
            },
            System::Nchan(n) => Route {
                addr: n.addr,
                path: format!("/pub?id={}", nchan::CHANNEL).into(),
                bearer: None,
                batches: false,
            },
        }
    }

    /// What the server's memory figure sums.
    pub fn server_label(&self) -> &'static str {
        match &self.system {
            System::Beacon(_) => "beacon",
            System::Nchan(_) => "nginx master + worker",
        }
    }

    fn server_pids(&self) -> Vec<u32> {
        match &self.system {
            System::Beacon(b) => vec![b.server.pid()],
            System::Nchan(n) => n.pids(),
        }
    }

    /// The tenant's API key (Beacon).
    pub fn api_key(&self) -> Option<&str> {
        match &self.system {
            System::Beacon(b) => Some(&b.api_key),
            System::Nchan(_) => None,
        }
    }

    /// Fails if a process of the target died.
    pub fn check_alive(&mut self) -> Result<()> {
        match &mut self.system {
            System::Beacon(b) => b.check_alive(),
            System::Nchan(n) => n.check_alive(),
        }
    }

    /// CPU and memory of the server, redis-server (if any) and the bench's
    /// own processes.
    pub fn sample(&self, clients: Option<&Pool>) -> Result<Sample> {
        let mut client = ProcStats::read_self()?;
        if let Some(pool) = clients {
            client.add(&pool.stats()?);
        }
        Ok(Sample {
            server: ProcStats::read_all(&self.server_pids())?,
            redis: match &self.system {
                System::Beacon(Beacon {
                    redis: Some(redis), ..
                }) => Some(ProcStats::read(redis.pid())?),
                _ => None,
            },
            client,
            at: Instant::now(),
        })
    }
}

/// Process figures at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub server: ProcStats,
    pub redis: Option<ProcStats>,
    /// The bench and its subscriber processes.
    pub client: ProcStats,
    pub at: Instant,
}

impl Sample {
    /// CPU used between two samples as a percentage of one core, per process group.
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
                "server {:.0}%, redis {:.0}%, bench clients {:.0}% (of one core)",
                self.server, redis, self.client
            ),
            None => format!(
                "server {:.0}%, bench clients {:.0}% (of one core)",
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
