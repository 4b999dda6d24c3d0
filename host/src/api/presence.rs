//! `GET /v1/presence`: the tenant's online users, on every node.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use super::{ApiError, auth, stream};
use crate::auth::secrets::API_KEY_PREFIX;
use crate::log::EventMeta;
use crate::presence::Online;
use crate::presence::events::JOINED;
use crate::sse::filter::{Filter, TypePatterns};
use crate::state::AppState;
use crate::tenants::Scope;
use beacon_protocol::envelope::valid_subject;

#[derive(Deserialize)]
pub struct PresenceQuery {
    access_token: Option<String>,
}

/// Users with open streams and their connection counts. Counts include
/// every node; a connection of a node that died stops counting after the
/// presence TTL.
///
/// With a tenant API key (scope `read`): every user. With a subscriber
/// token (`Authorization` or `access_token`), when the tenant has presence
/// events on: the users the token may see presence events of — its
/// `types` claim must allow `presence.*`, and its `subjects` claim limits
/// the users to those whose `user/<sub>` it allows. That is the starting
/// list for a subscriber that follows `presence.*` events.
pub async fn online(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PresenceQuery>, QueryRejection>,
) -> Result<Json<Online>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let subscriber = match auth::authorization(&headers) {
        Some(credential) => !credential.starts_with(API_KEY_PREFIX),
        None => query.access_token.is_some(),
    };
    if !subscriber {
        let tenant = auth::tenant(&state, &headers, Scope::Read).await?;
        return Ok(Json(
            state
                .presence
                .online(&tenant.id)
                .await
                .map_err(unavailable)?,
        ));
    }
    let auth::Subscriber { claims, tenant, .. } =
        auth::subscriber(&state, &headers, query.access_token.as_deref()).await?;
    if !tenant.presence_events {
        return Err(ApiError::forbidden(
            "this tenant has no presence events: subscribers cannot list who is online",
        ));
    }
    // The `types` claim must allow presence events (an empty list allows nothing).
    let by_type = claims.types.as_ref().is_none_or(|types| {
        !types.is_empty() && TypePatterns::parse(types).is_ok_and(|p| p.matches(JOINED))
    });
    if !by_type {
        return Err(ApiError::forbidden(
            "the token's `types` claim does not allow `presence.*`",
        ));
    }
    // The `subjects` claim limits whom: the events' subject is `user/<sub>`.
    let asked = Filter::parse(Some("presence.*"), None, &claims.sub)
        .map_err(|m| ApiError::bad_request("invalid_filter", m))?;
    let filter = stream::allowed_by(asked, &claims)?;
    let mut online = state
        .presence
        .online(&tenant.id)
        .await
        .map_err(unavailable)?;
    online.retain(|user| {
        let subject = format!("user/{user}");
        filter.matches(&EventMeta {
            kind: JOINED.to_owned(),
            subject: valid_subject(&subject).then_some(subject),
            audience: Vec::new(),
        })
    });
    Ok(Json(online))
}

fn unavailable(e: crate::presence::PresenceError) -> ApiError {
    ApiError::backend("the presence store", "unavailable", &e)
}
