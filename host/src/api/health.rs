//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The node can serve: its log and tenant store answer.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = state.log.backend();
    let (log, tenants) = tokio::join!(state.log.health(), state.tenants.health());
    let problem = match (log, tenants) {
        (Ok(()), Ok(())) => {
            return (
                StatusCode::OK,
                Json(json!({"status": "ready", "log": backend})),
            );
        }
        (Err(e), _) => e.to_string(),
        (_, Err(e)) => e.to_string(),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "log": backend, "message": problem})),
    )
}
