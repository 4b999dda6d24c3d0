//! `POST /v1/tokens`: a tenant mints a subscriber token (for development,
//! the console, and backends that do not sign their own).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;

use super::{ApiError, auth};
use crate::auth::jwt::{self, Claims};
use crate::sse::filter::Filter;
use crate::state::AppState;
use crate::tenants::Scope;
use beacon_protocol::api::tokens::{
    DEFAULT_TTL_S, MAX_EXTRA_CLAIMS_BYTES, MAX_TTL_S, MintToken, Minted,
};
use beacon_protocol::envelope::MAX_USER_ID_LEN;

/// Claims Beacon sets itself, or that token validation gives a meaning
/// (`aud`, `iss`) a minted token must not carry.
const RESERVED_CLAIMS: [&str; 10] = [
    "sub", "tenant", "exp", "nbf", "iat", "types", "subjects", "aud", "iss", "jti",
];

pub async fn mint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<MintToken>, JsonRejection>,
) -> Result<Json<Minted>, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Publish).await?;
    let Json(body) = body?;
    if body.sub.is_empty()
        || body.sub.len() > MAX_USER_ID_LEN
        || !body.sub.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`sub` is 1-{MAX_USER_ID_LEN} printable ASCII characters without spaces"),
        ));
    }
    let ttl = body.ttl_s.unwrap_or(DEFAULT_TTL_S);
    if ttl == 0 || ttl > MAX_TTL_S {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`ttl_s` is 1-{MAX_TTL_S}"),
        ));
    }
    if let Some(types) = &body.types {
        Filter::parse(Some(&types.join(",")), None, &body.sub)
            .map_err(|m| ApiError::bad_request("invalid_request", m))?;
    }
    if let Some(subjects) = &body.subjects {
        Filter::parse(None, Some(&subjects.join(",")), &body.sub)
            .map_err(|m| ApiError::bad_request("invalid_request", m))?;
    }
    let extra = body.claims.unwrap_or_default();
    if let Some(reserved) = extra.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`claims` may not set the reserved claim `{reserved}`"),
        ));
    }
    if serde_json::Value::Object(extra.clone()).to_string().len() > MAX_EXTRA_CLAIMS_BYTES {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`claims` is at most {MAX_EXTRA_CLAIMS_BYTES} bytes of JSON"),
        ));
    }
    let expires_at = jwt::now_s() + ttl;
    let claims = Claims {
        sub: body.sub,
        tenant: tenant.id,
        exp: expires_at,
        nbf: None,
        types: body.types,
        subjects: body.subjects,
        extra,
    };
    let token = jwt::sign(&claims, &tenant.signing_secret)?;
    Ok(Json(Minted { token, expires_at }))
}
