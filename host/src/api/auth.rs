//! Who is calling: admin, tenant (API key) or subscriber (JWT).

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};

use super::ApiError;
use crate::auth::jwt::{self, Claims};
use crate::auth::{AuthError, bearer, secrets};
use crate::state::AppState;
use crate::tenants::{Scope, Tenant};

/// The `Authorization: Bearer` credential, if any.
pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    bearer(headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()))
}

/// The cookie subscribers' browsers send with `EventSource(url, {withCredentials: true})`.
pub const TOKEN_COOKIE: &str = "beacon_token";

/// The value of the `beacon_token` cookie, if the request carries one.
fn token_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == TOKEN_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
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

/// Requires a tenant API key that allows `scope`; returns its tenant.
/// An unknown or expired key is 401; a valid key without the scope is 403.
pub async fn tenant(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Tenant, ApiError> {
    let key = authorization(headers).ok_or(AuthError::Missing)?;
    if !key.starts_with(secrets::API_KEY_PREFIX) {
        return Err(AuthError::Invalid.into());
    }
    let record = state
        .tenants
        .key_by_hash(&secrets::hash_api_key(key))
        .await?
        .ok_or(AuthError::Invalid)?;
    if record.expired(jwt::now_s()) {
        return Err(AuthError::KeyExpired.into());
    }
    if !record.allows(scope) {
        return Err(ApiError::forbidden(format!(
            "this API key lacks the `{}` scope",
            scope.as_str()
        )));
    }
    let tenant = state
        .tenants
        .get(&record.tenant)
        .await?
        .ok_or(AuthError::Invalid)?;
    refuse_disabled(&tenant)?;
    Ok(tenant)
}

/// A disabled tenant may not publish or open streams.
pub(super) fn refuse_disabled(tenant: &Tenant) -> Result<(), ApiError> {
    if tenant.disabled {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "tenant_disabled",
            "this tenant is disabled; a platform admin can re-enable it",
        ));
    }
    Ok(())
}

/// Where a subscriber token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`: the caller holds the token.
    Header,
    /// `?access_token=`: the caller holds the token.
    Query,
    /// The `beacon_token` cookie: the browser sends it on its own, also
    /// for pages of other origins.
    Cookie,
}

/// A verified subscriber token.
pub struct Subscriber {
    pub claims: Claims,
    /// Where the token came from.
    pub source: TokenSource,
    /// The token's tenant, as read to verify it (enabled).
    pub tenant: Tenant,
}

/// Requires a subscriber token, from the `Authorization` header, the
/// `access_token` query parameter or the `beacon_token` cookie.
pub async fn subscriber(
    state: &AppState,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<Subscriber, ApiError> {
    // Header first, then the query (EventSource cannot set headers), then the cookie.
    let cookie = token_cookie(headers);
    let (token, source) = authorization(headers)
        .map(|t| (t, TokenSource::Header))
        .or(query_token.map(|t| (t, TokenSource::Query)))
        .or(cookie.as_deref().map(|t| (t, TokenSource::Cookie)))
        .ok_or(AuthError::Missing)?;
    let tenant_id = jwt::unverified_tenant(token)?;
    let tenant = state
        .tenants
        .get(&tenant_id)
        .await?
        .ok_or(AuthError::UnknownTenant)?;
    let claims = jwt::verify_for_tenant(token, &tenant.signing_secret, &tenant.jwt_keys)?;
    // Checked after the token is verified: an unauthenticated caller learns nothing.
    refuse_disabled(&tenant)?;
    if claims.tenant != tenant.id {
        return Err(AuthError::Invalid.into());
    }
    Ok(Subscriber {
        claims,
        source,
        tenant,
    })
}
