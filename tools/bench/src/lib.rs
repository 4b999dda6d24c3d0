//! `beacon-bench`: load figures for a real `beacon serve`, and for Nchan
//! (the nginx pub/sub module) side by side, measured by the same clients in
//! the same run.
//!
//! The tool starts every system under test itself, on free loopback ports in
//! scratch directories: `beacon serve` on its embedded store, `beacon serve`
//! on a private `redis-server`, and nginx with the nchan module when it is
//! installed. Subscribers are plain HTTP/1.1 clients (hyper, one connection
//! each) whose streams are parsed by `beacon_protocol::sse::Parser`; they run
//! in child processes of the tool (its hidden `client` mode), so that tens of
//! thousands of streams fit under a per-process file limit, with source
//! addresses spread over `127.0.0.x`. Publishers are keep-alive hyper
//! connections in the main process. Every event carries its publish time on
//! `CLOCK_MONOTONIC`, which every process reads alike, so publish → deliver
//! latency is measured the same way for every server.
//!
//! # Layout
//! - [`opts`]: command-line options, scenarios and targets.
//! - [`clock`]: the shared monotonic clock of a run.
//! - [`http`]: a keep-alive request connection (set-up calls, publishers).
//! - [`stream`]: one subscriber's event stream: connect, GET, parse.
//! - [`client`]: subscriber processes — the child's side, the parent's pool,
//!   and the messages between them.
//! - [`target`]: the systems under test — Beacon (embedded or Redis) and
//!   Nchan — with their processes, set-up and memory/CPU sampling.
//! - [`procs`]: child processes, scratch directories, `/proc` figures.
//! - [`publisher`]: paced and flat-out publishers.
//! - [`scenario`]: `idle`, `fanout` and `saturate`.
//! - [`report`]: per-run tables, `RESULT {json}` lines, the comparison
//!   with Beacon/Nchan ratios.

pub mod client;
pub mod clock;
pub mod http;
pub mod opts;
pub mod procs;
pub mod publisher;
pub mod report;
pub mod scenario;
pub mod stream;
pub mod target;

pub use opts::Opts;
