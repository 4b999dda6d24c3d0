//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use beacon_protocol::api::health::{Health, Readiness};

use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
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
                    status: "ready".to_owned(),
                    log: backend.to_owned(),
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
            status: "unavailable".to_owned(),
            log: backend.to_owned(),
            message: Some(problem),
        }),
    )
}
