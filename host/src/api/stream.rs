//! `GET /v1/stream`: a subscriber's Server-Sent Events stream.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde::Deserialize;

use super::{ApiError, auth, limits};
use crate::auth::AuthError;
use crate::limits::TenantLimits;
use crate::log::Position;
use crate::sse::connection::{self, Request, Timing};
use crate::sse::filter::Filter;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct StreamQuery {
    types: Option<String>,
    subjects: Option<String>,
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
    access_token: Option<String>,
}

pub async fn stream(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    if let Some(limited) = limits::check_connect(&state, peer.map(|Extension(c)| c.0)) {
        return Ok(limited);
    }
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let claims = auth::subscriber(&state, &headers, query.access_token.as_deref()).await?;
    let mut filter = Filter::parse(
        query.types.as_deref(),
        query.subjects.as_deref(),
        &claims.sub,
    )
    .map_err(|m| ApiError::bad_request("invalid_filter", m))?;
    if let Some(allowed) = &claims.types {
        filter = filter.restrict_types(&allowed.join(",")).map_err(|m| {
            ApiError::forbidden(format!("the token's `types` claim is not valid: {m}"))
        })?;
    }
    if let Some(allowed) = &claims.subjects {
        filter = filter.restrict_subjects(&allowed.join(",")).map_err(|m| {
            ApiError::forbidden(format!("the token's `subjects` claim is not valid: {m}"))
        })?;
    }
    // The header (sent by EventSource on reconnect) wins over the query value.
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
        .or(query.last_event_id)
        .filter(|id| !id.is_empty());
    let last_event_id = last_event_id
        .map(|id| id.parse::<Position>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_last_event_id", e.to_string()))?;
    let n = state.connections.fetch_add(1, Ordering::Relaxed);
    let connection_id = format!("c-{}-{n}", state.node);
    // The connection counts (caps, presence) from before its stream opens
    // until the stream is dropped.
    let tenant = state
        .tenants
        .get(&claims.tenant)
        .await?
        .ok_or(AuthError::UnknownTenant)?;
    let caps = TenantLimits::caps(tenant.limits.as_ref(), &state.settings);
    let lease = state
        .presence
        .admit(&claims.tenant, &claims.sub, &connection_id, caps)
        .await?
        .map_err(limits::refused)?;
    let request = Request {
        tenant: claims.tenant,
        filter,
        last_event_id,
        connection_id,
        token_expires_at: claims.exp,
    };
    let timing = Timing {
        heartbeat: state.settings.heartbeat,
        retry: state.settings.retry,
    };
    let body = connection::open(
        state.hub.clone(),
        state.log.clone(),
        state.schemas.clone(),
        request,
        timing,
        state.shutdown.clone(),
    )
    .await?;
    let mut response = Response::new(Body::from_stream(lease.hold(body)));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
