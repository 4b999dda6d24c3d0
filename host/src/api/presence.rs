//! `GET /v1/presence`: the tenant's online users, on every node.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use super::{ApiError, auth};
use crate::presence::Online;
use crate::state::AppState;
use crate::tenants::Scope;

/// Users with open streams and their connection counts (tenant API key
/// with the `read` scope). Counts include every node; a connection of a
/// node that died stops counting after the presence TTL.
pub async fn online(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Online>, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Read).await?;
    Ok(Json(state.presence.online(&tenant.id).await?))
}
