//! Tenants and their API keys (admin): `POST/GET /v1/tenants`,
//! `GET/PATCH/DELETE /v1/tenants/{id}`, `POST/GET /v1/tenants/{id}/keys`,
//! `DELETE /v1/tenants/{id}/keys/{key_id}`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApiError, auth};
use crate::auth::jwt::{KeyAlg, KeyError, MAX_PUBLIC_KEYS, PublicKey};
use crate::auth::{jwt, secrets};
use crate::limits::TenantLimits;
use crate::plugins::dead_letters;
use crate::state::AppState;
use crate::tenants::{
    ApiKey, MAX_CORS_ORIGINS, MAX_ORIGIN_LEN, MAX_TENANT_ID_LEN, Scope, Tenant, valid_tenant_id,
};

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
    /// The tenant's own limits; absent ones take the server defaults.
    #[serde(default)]
    limits: Option<crate::limits::TenantLimits>,
    /// Browser origins (`scheme://host[:port]`, e.g.
    /// `https://app.example.com`) whose pages may read the tenant's stream
    /// with the `beacon_token` cookie, besides the server's own list. No
    /// wildcards; at most 50 (default none).
    #[serde(default)]
    #[schemars(length(max = MAX_CORS_ORIGINS), inner(length(min = 1, max = MAX_ORIGIN_LEN)))]
    cors_origins: Vec<String>,
    /// Append `presence.joined` / `presence.left` events to the tenant's
    /// stream, for subscribers that ask with `types=presence.*` (default
    /// false: each costs a log entry).
    #[serde(default)]
    presence_events: bool,
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
    /// The id of that first key (it has every scope).
    key_id: String,
    /// The HS256 secret subscriber tokens of this tenant are signed with.
    signing_secret: String,
}

/// `POST /v1/tenants/{id}/keys`: a new API key, optionally rotating an old one.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key may do (default: every scope).
    #[serde(default)]
    scopes: Option<Vec<Scope>>,
    /// The id of a key this one replaces: it keeps working for
    /// `overlap_s` seconds, then stops.
    #[serde(default)]
    rotate: Option<String>,
    /// With `rotate`: how long the old key still works (default 3600, at
    /// most 30 days; 0 revokes it at once).
    #[serde(default)]
    overlap_s: Option<u64>,
}

/// A new API key: the only time the key itself is shown.
#[derive(Serialize, JsonSchema)]
pub struct CreatedKey {
    /// The key's public id (`k_...`).
    id: String,
    /// The key (`bk_...`). Stored hashed: it cannot be shown again.
    api_key: String,
    scopes: Vec<Scope>,
    /// With `rotate`: when the replaced key stops working (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    rotated_key_expires_at: Option<u64>,
}

/// An API key without its secret.
#[derive(Serialize, JsonSchema)]
pub struct KeyInfo {
    id: String,
    scopes: Vec<Scope>,
    /// Unix seconds.
    created_at: u64,
    /// Unix seconds after which the key no longer works, if set.
    expires_at: Option<u64>,
}

/// `GET /v1/tenants/{id}/keys`.
#[derive(Serialize, JsonSchema)]
pub struct KeyList {
    keys: Vec<KeyInfo>,
}

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

/// A tenant, without its secrets.
#[derive(Serialize, JsonSchema)]
pub struct TenantInfo {
    /// The tenant id.
    id: String,
    /// When the tenant was created, in Unix seconds.
    created_at: u64,
    /// Whether events of types without a contract are accepted.
    allow_unregistered_types: bool,
    /// A disabled tenant can neither publish nor open streams.
    disabled: bool,
    /// The tenant's own limits; absent fields take the server's defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<TenantLimits>,
    /// Browser origins whose pages may read the tenant's stream with the
    /// `beacon_token` cookie, besides the server's own list.
    cors_origins: Vec<String>,
    /// Whether `presence.joined` / `presence.left` are appended to the
    /// tenant's stream.
    presence_events: bool,
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

/// `PUT /v1/tenants/{id}/jwt-keys`: the public keys the tenant signs its own
/// subscriber tokens with. Replaces the registered set.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetJwtKeys {
    /// Keys in PEM form (SPKI `-----BEGIN PUBLIC KEY-----`).
    #[serde(default)]
    keys: Vec<PemKey>,
    /// And/or a JWKS document (`{"keys": [...]}`), each key with `kid` and
    /// `alg` EdDSA or RS256.
    #[serde(default)]
    jwks: Option<serde_json::Value>,
}

/// One public key in PEM form.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PemKey {
    /// Matched against the `kid` header of the tenant's tokens.
    #[schemars(length(min = 1, max = 128))]
    kid: String,
    alg: KeyAlg,
    pem: String,
}

/// The registered keys (public halves: safe to show).
#[derive(Serialize, JsonSchema)]
pub struct JwtKeys {
    keys: Vec<JwtKeyInfo>,
}

#[derive(Serialize, JsonSchema)]
pub struct JwtKeyInfo {
    kid: String,
    alg: KeyAlg,
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

/// `PATCH /v1/tenants/{id}`: change a tenant's settings. Absent fields stay.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// Disable (`true`) or re-enable (`false`) the tenant. A disabled
    /// tenant's publishes and new streams are refused at once (403
    /// `tenant_disabled`); streams already open end when their token expires.
    #[serde(default)]
    disabled: Option<bool>,
    /// Accept events whose type has no contract.
    #[serde(default)]
    allow_unregistered_types: Option<bool>,
    /// Replaces the tenant's limits (`{}` returns every limit to the
    /// server's default). Caps and rates apply to the next connection or
    /// publish; plugin limits to the next plugin call.
    #[serde(default)]
    limits: Option<TenantLimits>,
    /// Replaces the browser origins whose pages may read the tenant's
    /// stream with the `beacon_token` cookie (`[]` removes them all). At
    /// once for new streams.
    #[serde(default)]
    #[schemars(length(max = MAX_CORS_ORIGINS), inner(length(min = 1, max = MAX_ORIGIN_LEN)))]
    cors_origins: Option<Vec<String>>,
    /// Turn `presence.joined` / `presence.left` events on or off, for
    /// changes from then on.
    #[serde(default)]
    presence_events: Option<bool>,
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
