//! `POST /v1/tenants`, `GET /v1/tenants`, `GET /v1/tenants/{id}` (admin).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApiError, auth};
use crate::auth::{jwt, secrets};
use crate::state::AppState;
use crate::tenants::{MAX_TENANT_ID_LEN, Tenant, valid_tenant_id};

/// `POST /v1/tenants`: a new tenant.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The tenant id: 1-63 characters of `a-z 0-9 -`, starting with a
    /// letter or digit.
    #[schemars(length(min = 1, max = MAX_TENANT_ID_LEN), pattern(r"^[a-z0-9][a-z0-9-]*$"))]
    id: String,
    /// Accept events whose type has no contract; they are stored
    /// unchecked (default false).
    #[serde(default)]
    allow_unregistered_types: bool,
}

/// Returned once, at creation: the only time the secrets are shown.
#[derive(Serialize, JsonSchema)]
pub struct CreatedTenant {
    /// The tenant id.
    id: String,
    /// The tenant's API key (`bk_...`), sent as `Authorization: Bearer`
    /// to publish and mint subscriber tokens. Stored hashed: it cannot be
    /// shown again.
    api_key: String,
    /// The HS256 secret subscriber tokens of this tenant are signed with.
    signing_secret: String,
}

/// A tenant, without its secrets.
#[derive(Serialize, JsonSchema)]
pub struct TenantInfo {
    /// The tenant id.
    id: String,
    /// When the tenant was created, in Unix seconds.
    created_at: u64,
    /// Whether events of types without a contract are accepted.
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

/// `GET /v1/tenants`: every tenant.
#[derive(Serialize, JsonSchema)]
pub struct TenantList {
    /// The tenants, without their secrets.
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
