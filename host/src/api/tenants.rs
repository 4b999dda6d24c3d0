//! `POST /v1/tenants`, `GET /v1/tenants`, `GET /v1/tenants/{id}` (admin).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::{ApiError, auth};
use crate::auth::{jwt, secrets};
use crate::state::AppState;
use crate::tenants::{MAX_TENANT_ID_LEN, Tenant, valid_tenant_id};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    id: String,
    /// Accept events whose type has no contract (default false).
    #[serde(default)]
    allow_unregistered_types: bool,
}

/// Returned once, at creation: the only time the secrets are shown.
#[derive(Serialize)]
pub struct CreatedTenant {
    id: String,
    api_key: String,
    signing_secret: String,
}

#[derive(Serialize)]
pub struct TenantInfo {
    id: String,
    created_at: u64,
    allow_unregistered_types: bool,
}

impl From<Tenant> for TenantInfo {
    fn from(t: Tenant) -> Self {
        TenantInfo {
            id: t.id,
            created_at: t.created_at,
            allow_unregistered_types: t.allow_unregistered_types,
        }
    }
}

#[derive(Serialize)]
pub struct TenantList {
    tenants: Vec<TenantInfo>,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateTenant>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    auth::admin(&state, &headers)?;
    let Json(body) = body?;
    if !valid_tenant_id(&body.id) {
        return Err(ApiError::bad_request(
            "invalid_tenant_id",
            format!(
                "a tenant id is 1-{MAX_TENANT_ID_LEN} characters of a-z 0-9 - starting with a letter or digit"
            ),
        ));
    }
    let api_key = secrets::new_api_key();
    let tenant = Tenant {
        id: body.id,
        api_key_hash: secrets::hash_api_key(&api_key),
        signing_secret: secrets::random_hex32(),
        created_at: jwt::now_s(),
        allow_unregistered_types: body.allow_unregistered_types,
    };
    state.tenants.create(&tenant).await?;
    tracing::info!(tenant = %tenant.id, "tenant created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenant {
            id: tenant.id,
            api_key,
            signing_secret: tenant.signing_secret,
        }),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<TenantList>, ApiError> {
    auth::admin(&state, &headers)?;
    let tenants = state
        .tenants
        .list()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(TenantList { tenants }))
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TenantInfo>, ApiError> {
    auth::admin(&state, &headers)?;
    let tenant = state
        .tenants
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such tenant"))?;
    Ok(Json(tenant.into()))
}
