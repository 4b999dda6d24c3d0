//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;

use crate::state::AppState;

/// `GET /healthz`: the process is up.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /readyz`: whether the node can serve.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// `ready` (200) or `unavailable` (503).
    pub status: &'static str,
    /// The event log backend: `embedded` or `redis`.
    pub log: &'static str,
    /// What cannot be reached, when unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The process is up.
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The node can serve: its log and tenant store answer.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let backend = state.log.backend();
    let (log, tenants) = tokio::join!(state.log.health(), state.tenants.health());
    crate::metrics::log_backend_up(backend, log.is_ok());
    let problem = match (log, tenants) {
        (Ok(()), Ok(())) => {
            return (
                StatusCode::OK,
                Json(Readiness {
                    status: "ready",
                    log: backend,
                    message: None,
                }),
            );
        }
        (Err(e), _) => e.to_string(),
        (_, Err(e)) => e.to_string(),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Readiness {
            status: "unavailable",
            log: backend,
            message: Some(problem),
        }),
    )
}
