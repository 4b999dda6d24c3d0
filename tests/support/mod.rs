pub mod api;
pub mod jwt;
pub mod plugins;
pub mod redis;
pub mod server;
pub mod sse;
