//! `GET /v1/dead-letters`: the events a tenant's plugins failed on under
//! `fail_closed` (API key with the `read` scope), oldest first, with the
//! plugin, its version and the reason. Kept in the tenant's own
//! dead-letter log, with the event log's retention.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use beacon_protocol::api::dead_letters::{DEFAULT_PAGE, PageQuery};

use super::{ApiError, auth};
use crate::plugins::dead_letters::{DeadLetterError, DeadLetterPage, MAX_PAGE};
use crate::state::AppState;
use crate::tenants::Scope;

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<DeadLetterPage>, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Read).await?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`limit` is 1-{MAX_PAGE}"),
        ));
    }
    let page = state
        .plugins
        .dead_letters
        .list(&tenant.id, query.after.as_deref(), limit)
        .await
        .map_err(|e| match e {
            DeadLetterError::BadCursor(message) => ApiError::bad_request("invalid_cursor", message),
            DeadLetterError::Log(e) => e.into(),
        })?;
    Ok(Json(page))
}
