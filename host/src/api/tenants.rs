//! Tenants and their API keys (admin): `POST/GET /v1/tenants`,
//! `GET/PATCH/DELETE /v1/tenants/{id}`, `POST/GET /v1/tenants/{id}/keys`,
//! `DELETE /v1/tenants/{id}/keys/{key_id}`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use beacon_protocol::api::keys::{
    CreateKey, CreatedKey, JwtKeyInfo, JwtKeys, KeyInfo, KeyList, SetJwtKeys,
};
use beacon_protocol::api::tenants::{
    CreateTenant, CreatedTenant, TenantInfo, TenantLimits, TenantList, UpdateTenant,
};

use super::{ApiError, auth};
use crate::auth::jwt::{KeyError, MAX_PUBLIC_KEYS, PublicKey};
use crate::auth::{jwt, secrets};
use crate::plugins::dead_letters;
use crate::state::AppState;
use crate::tenants::{
    ApiKey, MAX_CORS_ORIGINS, MAX_ORIGIN_LEN, MAX_TENANT_ID_LEN, Scope, Tenant, valid_tenant_id,
};

/// The tenant `id`, or 404.
async fn existing(state: &AppState, id: &str) -> Result<Tenant, ApiError> {
    state
        .tenants
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such tenant"))
}

/// Default overlap of a rotated key: an hour for every client to switch.
pub const DEFAULT_OVERLAP_S: u64 = 3600;
/// Longest overlap of a rotated key.
pub const MAX_OVERLAP_S: u64 = 30 * 24 * 3600;

/// A new key record and the key itself.
fn new_key(tenant: &str, scopes: Vec<Scope>) -> (ApiKey, String) {
    let api_key = secrets::new_api_key();
    let record = ApiKey {
        id: format!("k_{}", &secrets::random_hex32()[..16]),
        tenant: tenant.to_owned(),
        hash: secrets::hash_api_key(&api_key),
        scopes,
        created_at: jwt::now_s(),
        expires_at: None,
    };
    (record, api_key)
}

impl From<Tenant> for TenantInfo {
    fn from(t: Tenant) -> Self {
        TenantInfo {
            id: t.id,
            created_at: t.created_at,
            allow_unregistered_types: t.allow_unregistered_types,
            disabled: t.disabled,
            limits: t.limits,
            cors_origins: t.cors_origins,
            presence_events: t.presence_events,
        }
    }
}

/// Checks a tenant's `cors_origins` (each an origin as `--cors-origins`
/// takes it, and a bounded list); repeated origins are kept once.
fn checked_origins(origins: Vec<String>) -> Result<Vec<String>, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_origin", m);
    if origins.len() > MAX_CORS_ORIGINS {
        return Err(invalid(format!(
            "`cors_origins` holds at most {MAX_CORS_ORIGINS} origins, not {}",
            origins.len()
        )));
    }
    let mut checked: Vec<String> = Vec::with_capacity(origins.len());
    for origin in origins {
        if origin.len() > MAX_ORIGIN_LEN {
            return Err(invalid(format!(
                "an origin in `cors_origins` is at most {MAX_ORIGIN_LEN} characters, not {}",
                origin.len()
            )));
        }
        if !crate::config::valid_origin(&origin) {
            return Err(invalid(format!(
                "{origin:?} in `cors_origins` is not an origin such as https://app.example.com \
                 (scheme://host[:port], no wildcard)"
            )));
        }
        if !checked.contains(&origin) {
            checked.push(origin);
        }
    }
    Ok(checked)
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
    if let Some(limits) = &body.limits {
        limits
            .check()
            .map_err(|m| ApiError::bad_request("invalid_limits", m))?;
    }
    let cors_origins = checked_origins(body.cors_origins)?;
    let (key, api_key) = new_key(&body.id, Scope::ALL.to_vec());
    let tenant = Tenant {
        id: body.id,
        signing_secret: secrets::random_hex32(),
        created_at: jwt::now_s(),
        allow_unregistered_types: body.allow_unregistered_types,
        jwt_keys: Vec::new(),
        limits: body.limits,
        disabled: false,
        cors_origins,
        presence_events: body.presence_events,
    };
    state.tenants.create(&tenant, &key).await?;
    tracing::info!(tenant = %tenant.id, "tenant created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenant {
            id: tenant.id,
            api_key,
            key_id: key.id,
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
    let tenant = existing(&state, &id).await?;
    Ok(Json(tenant.into()))
}

/// `POST /v1/tenants/{id}/keys`.
pub async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<CreateKey>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    auth::admin(&state, &headers)?;
    let Json(body) = body?;
    existing(&state, &id).await?;
    let scopes = body.scopes.unwrap_or_else(|| Scope::ALL.to_vec());
    if scopes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "a key needs at least one scope",
        ));
    }
    let overlap = body.overlap_s.unwrap_or(DEFAULT_OVERLAP_S);
    if overlap > MAX_OVERLAP_S {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`overlap_s` is at most {MAX_OVERLAP_S}"),
        ));
    }
    let old = match &body.rotate {
        Some(old_id) => {
            let keys = state.tenants.keys(&id).await?;
            let old = keys.into_iter().find(|k| k.id == *old_id);
            Some(old.ok_or_else(|| ApiError::not_found("no such API key to rotate"))?)
        }
        None => None,
    };
    let (key, api_key) = new_key(&id, scopes);
    state.tenants.put_key(&key).await?;
    let rotated_key_expires_at = match old {
        Some(mut old) => {
            let at = jwt::now_s() + overlap;
            old.expires_at = Some(old.expires_at.map_or(at, |e| e.min(at)));
            state.tenants.put_key(&old).await?;
            old.expires_at
        }
        None => None,
    };
    tracing::info!(tenant = %id, key = %key.id, "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: key.id,
            api_key,
            scopes: key.scopes,
            rotated_key_expires_at,
        }),
    ))
}

/// `GET /v1/tenants/{id}/keys`: ids, scopes and expiry; never the keys.
pub async fn list_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<KeyList>, ApiError> {
    auth::admin(&state, &headers)?;
    existing(&state, &id).await?;
    let keys = state
        .tenants
        .keys(&id)
        .await?
        .into_iter()
        .map(|k| KeyInfo {
            id: k.id,
            scopes: k.scopes,
            created_at: k.created_at,
            expires_at: k.expires_at,
        })
        .collect();
    Ok(Json(KeyList { keys }))
}

/// `DELETE /v1/tenants/{id}/keys/{key_id}`: revokes a key at once.
pub async fn delete_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth::admin(&state, &headers)?;
    state.tenants.delete_key(&id, &key_id).await?;
    tracing::info!(tenant = %id, key = %key_id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn set_jwt_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<SetJwtKeys>, JsonRejection>,
) -> Result<Json<JwtKeys>, ApiError> {
    auth::admin(&state, &headers)?;
    let Json(body) = body?;
    let mut tenant = existing(&state, &id).await?;
    let invalid = |e: KeyError| ApiError::bad_request("invalid_key", e.to_string());
    let mut keys = Vec::new();
    for key in body.keys {
        if key.kid.is_empty() || key.kid.len() > 128 {
            return Err(ApiError::bad_request(
                "invalid_key",
                "a `kid` is 1-128 characters",
            ));
        }
        keys.push(PublicKey::from_pem(key.kid, key.alg, key.pem).map_err(invalid)?);
    }
    if let Some(jwks) = &body.jwks {
        keys.extend(PublicKey::from_jwks(jwks).map_err(invalid)?);
    }
    if keys.len() > MAX_PUBLIC_KEYS {
        return Err(ApiError::bad_request(
            "invalid_key",
            format!("at most {MAX_PUBLIC_KEYS} keys"),
        ));
    }
    let mut kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    kids.sort_unstable();
    if kids.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::bad_request(
            "invalid_key",
            "every key needs its own `kid`",
        ));
    }
    tenant.jwt_keys = keys;
    state.tenants.update(&tenant).await?;
    tracing::info!(tenant = %id, keys = tenant.jwt_keys.len(), "subscriber token keys set");
    let keys = tenant
        .jwt_keys
        .into_iter()
        .map(|k| JwtKeyInfo {
            kid: k.kid,
            alg: k.alg,
        })
        .collect();
    Ok(Json(JwtKeys { keys }))
}

pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<UpdateTenant>, JsonRejection>,
) -> Result<Json<TenantInfo>, ApiError> {
    auth::admin(&state, &headers)?;
    let Json(body) = body?;
    let mut tenant = existing(&state, &id).await?;
    if let Some(origins) = body.cors_origins {
        tenant.cors_origins = checked_origins(origins)?;
    }
    if let Some(disabled) = body.disabled {
        tenant.disabled = disabled;
    }
    if let Some(allow) = body.allow_unregistered_types {
        tenant.allow_unregistered_types = allow;
    }
    if let Some(on) = body.presence_events {
        tenant.presence_events = on;
    }
    let limits_changed = body.limits.is_some();
    if let Some(limits) = body.limits {
        limits
            .check()
            .map_err(|m| ApiError::bad_request("invalid_limits", m))?;
        tenant.limits = (limits != TenantLimits::default()).then_some(limits);
    }
    state.tenants.update(&tenant).await?;
    if limits_changed {
        // Plugins run with limits derived from the tenant's: reload them.
        if let Err(error) = state.plugins.sync(true).await {
            tracing::warn!(tenant = %id, %error, "plugin limits apply once the plugin store answers");
        }
    }
    tracing::info!(tenant = %id, disabled = tenant.disabled, "tenant updated");
    Ok(Json(tenant.into()))
}

/// `DELETE /v1/tenants/{id}`: deletes the tenant and everything it owns.
///
/// In this order, so that a failure part-way leaves a disabled tenant
/// whose deletion can simply be asked again: the tenant is disabled
/// (publishes and new streams are refused at once, on every node); its
/// open streams end (this node's at once, other nodes' at their next
/// presence refresh); its plugins are deleted and every node's pipeline
/// drops them; its event log and dead-letter log are deleted; then its
/// record with its signing secret, JWT keys and API keys; last, the logs
/// are swept again for what publishes already under way appended.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth::admin(&state, &headers)?;
    let mut tenant = existing(&state, &id).await?;
    if !tenant.disabled {
        tenant.disabled = true;
        state.tenants.update(&tenant).await?;
    }
    state.hub.close_tenant(&id);
    state.presence.remove_tenant(&id).await?;
    let store = &state.plugins.store;
    let plugins = store.plugins(&id).await?;
    for plugin in &plugins {
        store.delete(&id, &plugin.name).await?;
    }
    // Also when a first attempt deleted them but failed before this.
    if !plugins.is_empty() || state.plugins.tenant(&id).is_some() {
        state.plugins.sync(true).await?;
    }
    let counted = state
        .plugins
        .tenant_stats(&id)
        .into_iter()
        .map(|(name, _)| name);
    for name in plugins.iter().map(|p| p.name.clone()).chain(counted) {
        state.plugins.forget(&id, &name);
    }
    let streams = [id.clone(), dead_letters::stream(&id)];
    for stream in &streams {
        state.log.delete(stream).await?;
    }
    state.tenants.delete(&id).await?;
    // A publish that passed its checks before the tenant was disabled may
    // have appended since: sweep once more (the tenant is gone already, so
    // a failure here is only logged).
    for stream in &streams {
        if let Err(error) = state.log.delete(stream).await {
            tracing::warn!(tenant = %id, %stream, %error, "deleted tenant's stream not swept");
        }
    }
    tracing::info!(tenant = %id, plugins = plugins.len(), "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}
