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

use super::{ApiError, auth, cors, limits};
use crate::auth::AuthError;
use crate::auth::jwt::Claims;
use crate::limits::{LimitsInForce, TenantLimits};
use crate::log::Position;
use crate::plugins::gate::Context;
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

/// Narrows `filter` to what the token's `types` and `subjects` claims
/// allow: a query can narrow them, never widen them.
pub(super) fn allowed_by(mut filter: Filter, claims: &Claims) -> Result<Filter, ApiError> {
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
    Ok(filter)
}

pub async fn stream(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    limits::check_connect(&state, peer.map(|Extension(c)| c.0), &headers)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let auth::Subscriber {
        claims,
        source,
        tenant,
    } = auth::subscriber(&state, &headers, query.access_token.as_deref()).await?;
    let filter = Filter::parse(
        query.types.as_deref(),
        query.subjects.as_deref(),
        &claims.sub,
    )
    .map_err(|m| ApiError::bad_request("invalid_filter", m))?;
    let filter = allowed_by(filter, &claims)?;
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
    // Before the connection counts: a cookie sent from another site's page is refused here.
    let grant = cors::decide(
        headers.get(header::ORIGIN),
        source,
        &tenant.cors_origins,
        &state.settings.cors_origins,
    )?;
    let caps = TenantLimits::caps(tenant.limits.as_ref(), &state.settings);
    // The stream ends at one token: presence closing the lease, or the
    // tenant's deletion on this node (the lease's token is the guard's child).
    let guard = state.hub.guard(&claims.tenant);
    let lease = state
        .presence
        .admit_within(
            guard.closed(),
            &claims.tenant,
            &claims.sub,
            &connection_id,
            caps,
            tenant.presence_events,
        )
        .await?
        .map_err(limits::refused)?;
    // Once more, now that the connection is registered: a tenant deleted
    // meanwhile is either seen here (it is disabled, gone or another one of
    // the same id), or its deletion removed this registration, which ends
    // the stream at its next presence refresh. So no stream outlives its
    // tenant for longer than that.
    let current = state
        .tenants
        .get(&claims.tenant)
        .await?
        .ok_or(AuthError::UnknownTenant)?;
    if current.created_at != tenant.created_at || current.signing_secret != tenant.signing_secret {
        return Err(AuthError::UnknownTenant.into());
    }
    auth::refuse_disabled(&current)?;
    let list = |v: Option<&str>| -> Vec<String> {
        v.filter(|v| !v.is_empty())
            .map(|v| v.split(',').map(|p| p.trim().to_owned()).collect())
            .unwrap_or_default()
    };
    let context = Context::new(
        &claims.sub,
        &serde_json::to_value(&claims).unwrap_or_default(),
        list(query.types.as_deref()),
        list(query.subjects.as_deref()),
    );
    let request = Request {
        tenant: claims.tenant,
        filter,
        last_event_id,
        connection_id,
        token_expires_at: claims.exp,
        context: Some(context),
        guard: Some(guard),
        lease: Some(lease),
    };
    let timing = Timing {
        heartbeat: state.settings.heartbeat,
        retry: state.settings.retry,
    };
    let body = connection::open(
        state.hub.clone(),
        state.log.clone(),
        state.schemas.clone(),
        Some(state.plugins.clone()),
        request,
        timing,
        state.shutdown.clone(),
    )
    .await?;
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    grant.apply(h);
    Ok(response)
}
