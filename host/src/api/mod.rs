//! HTTP API v1 (see `docs/api.md`). The request and answer bodies are the
//! wire types of [`beacon_protocol::api`], shared with the Rust client.
//!
//! - [`error`]: the JSON error body every endpoint uses.
//! - [`auth`]: extracting the admin token, API keys and subscriber tokens.
//! - [`cors`]: the node-wide CORS layer, and the stream's per-tenant CORS.
//! - [`publish`]: `POST /v1/events` (envelope checks, contract validation).
//! - [`schemas`]: `/v1/schemas/...` (contract registry, admin).
//! - [`stream`]: `GET /v1/stream` (SSE).
//! - [`presence`]: `GET /v1/presence` (online users, every node).
//! - [`plugins`]: `/v1/plugins/...` (a tenant's Wasm plugins: upload, activate, test, logs).
//! - [`dead_letters`]: `GET /v1/dead-letters` (events plugins failed on).
//! - [`limits`]: connection caps and rate limits at the edge (429 answers).
//! - [`tenants`]: `POST/GET /v1/tenants`.
//! - [`tokens`]: `POST /v1/tokens`.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`ops`]: `/metrics` (Prometheus), `/v1/stats` (node, or a tenant's plugins).
//! - [`openapi`]: `/openapi.json` and the JSON Schemas of the wire types.
//! - [`console`]: `/` and `/console/{file}`, the web console (`docs/console.md`).
//! - `testing`, `tests/` (test builds only): helpers for handler tests, and the
//!   handler tests through the router, one module per API area.

pub mod auth;
pub mod console;
pub mod cors;
pub mod dead_letters;
pub mod error;
pub mod health;
pub mod limits;
pub mod openapi;
pub mod ops;
pub mod plugins;
pub mod presence;
pub mod publish;
pub mod schemas;
pub mod stream;
pub mod tenants;
pub mod tokens;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};

use crate::state::AppState;
pub use error::ApiError;

/// The whole HTTP surface; tests drive it with `oneshot` without a socket.
pub fn app(state: AppState) -> Router {
    // The stream decides its CORS itself, per tenant (see `cors`): it is
    // merged in after the node-wide layer, which covers everything else.
    let stream_route = Router::new().route(
        "/v1/stream",
        get(stream::stream)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                cors::error_headers,
            ))
            .options(cors::preflight),
    );
    Router::new()
        .route(
            "/v1/events",
            post(publish::publish).layer(axum::middleware::from_fn(ops::measure_publish)),
        )
        .route("/v1/presence", get(presence::online))
        .route("/v1/plugins", get(plugins::list))
        .route(
            "/v1/plugins/{name}",
            get(plugins::get)
                .put(plugins::activate)
                .delete(plugins::remove),
        )
        .route(
            "/v1/plugins/{name}/versions",
            post(plugins::upload).layer(DefaultBodyLimit::max(state.settings.max_plugin_bytes)),
        )
        .route("/v1/plugins/{name}/logs", get(plugins::logs))
        .route("/v1/plugins/{name}/test", post(plugins::test))
        .route("/v1/dead-letters", get(dead_letters::list))
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route(
            "/v1/tenants/{id}",
            get(tenants::get)
                .patch(tenants::update)
                .delete(tenants::delete),
        )
        .route(
            "/v1/tenants/{id}/keys",
            post(tenants::create_key).get(tenants::list_keys),
        )
        .route(
            "/v1/tenants/{id}/keys/{key_id}",
            delete(tenants::delete_key),
        )
        .route("/v1/tenants/{id}/jwt-keys", put(tenants::set_jwt_keys))
        .route("/v1/tokens", post(tokens::mint))
        .route("/v1/schemas", get(schemas::list))
        .route("/v1/schemas/{type}", get(schemas::get))
        .route("/v1/schemas/{type}/versions", post(schemas::register))
        .route(
            "/v1/schemas/{type}/versions/{n}",
            get(schemas::get_version).delete(schemas::deprecate),
        )
        .route("/v1/schemas/{type}/compatibility", put(schemas::set_mode))
        .route("/v1/schemas/{type}/check", post(schemas::check))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(ops::prometheus))
        .route("/v1/stats", get(ops::stats))
        .route("/openapi.json", get(openapi::openapi))
        .route("/", get(console::index))
        .route("/console/{file}", get(console::asset))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(cors::layer(&state.settings.cors_origins))
        .merge(stream_route)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .with_state(state)
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
