//! A tenant's WebAssembly plugins (API key with the `plugins` scope):
//! `/v1/plugins/...`.
//!
//! | method and path                                      | answer                                        |
//! |------------------------------------------------------|-----------------------------------------------|
//! | `POST /v1/plugins/{name}/versions` (`application/wasm`) | 201 `{"name","version","digest","hooks",...}`; 400/413 with reasons |
//! | `PUT /v1/plugins/{name}` `{"version","types","order","on_error","limits"}` | 200 the plugin: activated (or rolled back) |
//! | `GET /v1/plugins`                                    | 200 `{"plugins":[...]}`                       |
//! | `GET /v1/plugins/{name}`                             | 200 the plugin: versions, activation, quarantine, stats |
//! | `DELETE /v1/plugins/{name}`                          | 204: every version and the activation removed |
//! | `GET /v1/plugins/{name}/logs?limit=`                 | 200 `{"lines":[...]}` (this node)             |
//! | `POST /v1/plugins/{name}/test?version=&hook=&to_version=` (an event) | 200 outcome, output, logs, time |
//!
//! Versions are immutable and named by their digest; uploading the same
//! bytes again returns the existing version. Activating a version (or an
//! older one: a rollback) swaps the tenant's pipeline atomically on this
//! node at once and on the others within a quarter second; it also lifts
//! a quarantine.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use beacon_protocol::api::plugins::{
    Activate, HooksRecord, InfoRecord, Logs, LogsQuery, MAX_LOG_LINES, MAX_NAME_LEN, PluginList,
    PluginView, TestQuery, TestResult, Uploaded, valid_name,
};
use serde_json::Value;

use super::{ApiError, auth};
use crate::event::Refused;
use crate::plugins::dry_run::{DryRun, DryRunError};
use crate::plugins::runtime::LogLevel;
use crate::plugins::store::{Activation, NewVersion, PluginRecord};
use crate::sse::filter::TypePatterns;
use crate::state::AppState;
use crate::tenants::Scope;
use beacon_protocol::envelope::FieldError;

fn check_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_name",
            format!(
                "a plugin name is 1-{MAX_NAME_LEN} characters of a-z 0-9 -, starting with a letter or digit"
            ),
        ))
    }
}

fn view(state: &AppState, tenant: &str, record: PluginRecord) -> PluginView {
    PluginView {
        stats: state.plugins.stats(tenant, &record.name).view(),
        name: record.name,
        versions: record.versions,
        activation: record.activation,
        quarantine: record.quarantine,
    }
}

async fn find(state: &AppState, tenant: &str, name: &str) -> Result<PluginRecord, ApiError> {
    check_name(name)?;
    state
        .plugins
        .store
        .plugin(tenant, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no plugin {name:?}")))
}

/// Applies a change on this node now (other nodes follow by polling).
async fn apply(state: &AppState) -> Result<(), ApiError> {
    state.plugins.sync(true).await?;
    Ok(())
}

/// `POST /v1/plugins/{name}/versions`: uploads a component.
pub async fn upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Plugins).await?;
    check_name(&name)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/wasm") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the component as `Content-Type: application/wasm`",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(state.settings.max_plugin_bytes)
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })?;
    let compiled = match state.plugins.load(&body).await {
        Ok(compiled) => compiled,
        Err(rejected) if rejected.too_large => {
            return Err(too_large(state.settings.max_plugin_bytes));
        }
        Err(rejected) => {
            let details = rejected
                .reasons
                .iter()
                .map(|r| FieldError::new("", r.clone()))
                .collect();
            return Err(ApiError::bad_request(
                "invalid_plugin",
                "the component cannot be a plugin; see details",
            )
            .with_details(details));
        }
    };
    let hooks = HooksRecord {
        publish: compiled.hooks.publish,
        convert: compiled.hooks.convert,
        deliver: compiled.hooks.deliver,
    };
    let info = InfoRecord {
        name: compiled.info.name.clone(),
        version: compiled.info.version.clone(),
        types: compiled.info.types.clone(),
    };
    let new = NewVersion {
        digest: compiled.digest.clone(),
        size: body.len() as u64,
        hooks,
        info,
        wasm: body,
    };
    let existing = state
        .plugins
        .store
        .plugin(&tenant.id, &name)
        .await?
        .is_some_and(|p| p.versions.iter().any(|v| v.digest == new.digest));
    let stored = state
        .plugins
        .store
        .put_version(&tenant.id, &name, new)
        .await?;
    tracing::info!(tenant = %tenant.id, plugin = %name, version = stored.version, digest = %stored.digest, "plugin version uploaded");
    let status = if existing {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Uploaded {
            name,
            version: stored.version,
            digest: stored.digest,
            hooks: stored.hooks.hooks(),
            info: stored.info,
            size: stored.size,
        }),
    )
        .into_response())
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "plugin_too_large",
        format!("a plugin component may be at most {limit} bytes"),
    )
}

/// `PUT /v1/plugins/{name}`: activates a version (or rolls back).
pub async fn activate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Activate>, JsonRejection>,
) -> Result<Json<PluginView>, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Plugins).await?;
    let Json(request) = body?;
    let record = find(&state, &tenant.id, &name).await?;
    let Some(version) = record
        .versions
        .iter()
        .find(|v| v.version == request.version)
    else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_version",
            format!(
                "plugin {name:?} has no version {}; upload it first",
                request.version
            ),
        ));
    };
    let types = request.types.unwrap_or_else(|| version.info.types.clone());
    TypePatterns::parse(&types).map_err(|e| ApiError::bad_request("invalid_types", e))?;
    let limits = request.limits;
    for (field, value) in [
        ("timeout_ms", limits.timeout_ms),
        ("fuel", limits.fuel),
        ("memory_bytes", limits.memory_bytes),
        ("output_bytes", limits.output_bytes),
    ] {
        if value == Some(0) {
            return Err(ApiError::bad_request(
                "invalid_limits",
                format!("limits.{field} must be at least 1"),
            ));
        }
    }
    let activation = Activation {
        version: request.version,
        types,
        order: request.order,
        on_error: request.on_error,
        limits,
        activated_ms: crate::log::now_ms(),
    };
    let store = &state.plugins.store;
    store.set_activation(&tenant.id, &name, activation).await?;
    store.set_quarantine(&tenant.id, &name, None).await?;
    apply(&state).await?;
    state.plugins.log(&tenant.id, &name).host(
        LogLevel::Info,
        format!("version {} activated", request.version),
    );
    tracing::info!(tenant = %tenant.id, plugin = %name, version = request.version, "plugin activated");
    let record = find(&state, &tenant.id, &name).await?;
    Ok(Json(view(&state, &tenant.id, record)))
}

/// `GET /v1/plugins`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PluginList>, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Plugins).await?;
    let records = state.plugins.store.plugins(&tenant.id).await?;
    let plugins = records
        .into_iter()
        .map(|r| view(&state, &tenant.id, r))
        .collect();
    Ok(Json(PluginList { plugins }))
}

/// `GET /v1/plugins/{name}`.
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<PluginView>, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Plugins).await?;
    let record = find(&state, &tenant.id, &name).await?;
    Ok(Json(view(&state, &tenant.id, record)))
}

/// `DELETE /v1/plugins/{name}`.
pub async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Plugins).await?;
    check_name(&name)?;
    let removed = state.plugins.store.delete(&tenant.id, &name).await?;
    if !removed {
        return Err(ApiError::not_found(format!("no plugin {name:?}")));
    }
    apply(&state).await?;
    state.plugins.forget(&tenant.id, &name);
    tracing::info!(tenant = %tenant.id, plugin = %name, "plugin deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/plugins/{name}/logs`.
pub async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<Logs>, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Plugins).await?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    find(&state, &tenant.id, &name).await?;
    let limit = query.limit.unwrap_or(100).min(MAX_LOG_LINES);
    Ok(Json(Logs {
        lines: state.plugins.log(&tenant.id, &name).recent(limit),
    }))
}

/// `POST /v1/plugins/{name}/test`: a dry run on a fresh instance (see
/// [`crate::plugins::dry_run`]).
pub async fn test(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<TestQuery>, QueryRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<TestResult>, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Plugins).await?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let Json(body) = body?;
    let record = find(&state, &tenant.id, &name).await?;
    let dry_run = DryRun {
        plugins: &state.plugins,
        schemas: &state.schemas,
        tenant: &tenant,
    };
    Ok(Json(dry_run.run(&record, &query, body).await?))
}

impl From<DryRunError> for ApiError {
    fn from(e: DryRunError) -> Self {
        let message = e.to_string();
        match e {
            DryRunError::NoSuchVersion(_) => ApiError::not_found(message),
            DryRunError::HookNotExported { .. } | DryRunError::NoHook => {
                ApiError::bad_request("invalid_hook", message)
            }
            DryRunError::InvalidRequest(_) => ApiError::bad_request("invalid_request", message),
            DryRunError::Refused(Refused::Malformed(problems)) => {
                ApiError::bad_request("invalid_event", "the event is not valid; see details")
                    .with_details(problems)
            }
            DryRunError::Refused(Refused::Contract(invalid)) => {
                super::schemas::invalid_event(&invalid, "")
            }
            DryRunError::NoTargetVersion => ApiError::bad_request("invalid_query", message),
            DryRunError::MissingComponent | DryRunError::NoLongerLoads(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
            DryRunError::Store(e) => e.into(),
        }
    }
}
