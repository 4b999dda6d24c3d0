//! End-to-end tests: the real `beacon` binary, real SSE clients, real redis-server.

mod cli;
mod contracts;
mod cors;
mod edge;
mod input;
mod limits;
mod ops;
mod plugins;
mod publish;
mod redis;
mod resume;
mod stream;
