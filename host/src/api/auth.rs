//! Who is calling: admin, tenant (API key) or subscriber (JWT).

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::ApiError;
use crate::auth::jwt::{self, Claims};
use crate::auth::{AuthError, bearer, secrets};
use crate::state::AppState;
use crate::tenants::Tenant;

fn authorization(headers: &HeaderMap) -> Option<&str> {
    bearer(headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()))
}

/// Requires the platform admin token.
pub fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = authorization(headers).ok_or(AuthError::Missing)?;
    if secrets::constant_time_eq(token, &state.admin_token) {
        Ok(())
    } else {
        Err(AuthError::Invalid.into())
    }
}

/// Requires a tenant API key; returns its tenant.
pub async fn tenant(state: &AppState, headers: &HeaderMap) -> Result<Tenant, ApiError> {
    let key = authorization(headers).ok_or(AuthError::Missing)?;
    if !key.starts_with(secrets::API_KEY_PREFIX) {
        return Err(AuthError::Invalid.into());
    }
    state
        .tenants
        .by_key_hash(&secrets::hash_api_key(key))
        .await?
        .ok_or_else(|| AuthError::Invalid.into())
}

/// Requires a subscriber token, from the header or `access_token`.
pub async fn subscriber(
    state: &AppState,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<Claims, ApiError> {
    let token = authorization(headers)
        .or(query_token)
        .ok_or(AuthError::Missing)?;
    let tenant_id = jwt::unverified_tenant(token)?;
    let tenant = state
        .tenants
        .get(&tenant_id)
        .await?
        .ok_or(AuthError::UnknownTenant)?;
    let claims = jwt::verify(token, &tenant.signing_secret)?;
    if claims.tenant != tenant.id {
        return Err(AuthError::Invalid.into());
    }
    Ok(claims)
}
