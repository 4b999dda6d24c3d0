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

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use beacon_protocol::api::plugins::{
    Activate, DeliverTest, Hook, HooksRecord, InfoRecord, Logs, LogsQuery, MAX_LOG_LINES,
    MAX_NAME_LEN, PluginList, PluginView, TestOutcome, TestQuery, TestResult, Uploaded, valid_name,
};
use serde_json::Value;

use super::{ApiError, auth};
use crate::plugins::logs::PluginLog;
use crate::plugins::pipeline;
use crate::plugins::runtime::{Failure, LogLevel, PluginEvent, PublishOutcome, Subscriber};
use crate::plugins::store::{Activation, NewVersion, PluginRecord};
use crate::schema::Invalid;
use crate::sse::filter::TypePatterns;
use crate::state::AppState;
use crate::tenants::Scope;
use beacon_protocol::envelope::{FieldError, PublishEvent};

/// Most subscriber groups in one deliver test.
const MAX_TEST_SUBSCRIBERS: usize = 100;

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

/// `POST /v1/plugins/{name}/test`: a dry run on a fresh instance.
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
    let wanted = query
        .version
        .or(record.activation.as_ref().map(|a| a.version))
        .or(record.versions.last().map(|v| v.version));
    let Some(version) = wanted.and_then(|n| record.versions.iter().find(|v| v.version == n)) else {
        return Err(ApiError::not_found(format!(
            "plugin {name:?} has no such version"
        )));
    };
    let hook = match query.hook.as_deref() {
        // The first hook the version exports.
        None => version.hooks.hooks().first().copied(),
        Some(name) => Hook::parse(name).filter(|hook| version.hooks.exports(*hook)),
    };
    let Some(hook) = hook else {
        return Err(match &query.hook {
            Some(other) => ApiError::bad_request(
                "invalid_hook",
                format!(
                    "version {} does not export the hook {other:?}",
                    version.version
                ),
            ),
            None => ApiError::bad_request("invalid_hook", "no hook to test"),
        });
    };
    let (event_json, subscribers) = if hook == Hook::Deliver {
        let request: DeliverTest = serde_json::from_value(body)
            .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
        if request.subscribers.len() > MAX_TEST_SUBSCRIBERS {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("at most {MAX_TEST_SUBSCRIBERS} subscriber groups"),
            ));
        }
        (request.event, request.subscribers)
    } else {
        (body, Vec::new())
    };
    let mut event: PublishEvent = serde_json::from_value(event_json)
        .map_err(|e| ApiError::bad_request("invalid_event", e.to_string()))?;
    let problems = event.check("");
    if !problems.is_empty() {
        return Err(
            ApiError::bad_request("invalid_event", "the event is not valid; see details")
                .with_details(problems),
        );
    }
    // Checked like a publish, so the plugin sees what it would see then.
    match state
        .schemas
        .validate_at(&event.kind, event.version, &event.data, "")
    {
        Ok(resolved) => event.version = Some(resolved),
        Err(Invalid::UnknownType { .. }) if tenant.allow_unregistered_types => {}
        Err(invalid) => return Err(super::schemas::invalid_event(&invalid, "")),
    }
    let compiled = match state
        .plugins
        .load(&wasm(&state, &version.digest).await?)
        .await
    {
        Ok(compiled) => compiled,
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!(
                    "the stored version no longer loads: {}",
                    e.reasons.join("; ")
                ),
            ));
        }
    };
    let limits = state.plugins.limits(
        tenant.limits.as_ref(),
        &record
            .activation
            .as_ref()
            .map(|a| a.limits)
            .unwrap_or_default(),
    );
    let log = Arc::new(PluginLog::default());
    let plugin = state.plugins.runtime.plugin(compiled, limits, log.clone());
    let time = crate::event::now_rfc3339();
    let input = pipeline::plugin_event(&event, &tenant.id, &time);
    let mut result = TestResult {
        version: version.version,
        hook,
        outcome: TestOutcome::Failed,
        output: None,
        deliver: None,
        reason: None,
        failure: None,
        logs: Vec::new(),
        duration_us: 0,
    };
    let elapsed: Duration = match hook {
        Hook::Publish => {
            let call = plugin.on_publish(&input).await;
            match call.result {
                Ok(PublishOutcome::Keep) => result.outcome = TestOutcome::Keep,
                Ok(PublishOutcome::Modify(out)) => {
                    let context = pipeline::Context {
                        plugins: &state.plugins,
                        schemas: &state.schemas,
                        tenant: &tenant.id,
                        allow_unregistered_types: tenant.allow_unregistered_types,
                        time: &time,
                    };
                    result.output = Some(event_value(&out));
                    match pipeline::checked(&context, &event, out) {
                        Ok(_) => result.outcome = TestOutcome::Modify,
                        Err(reason) => {
                            result.outcome = TestOutcome::Failed;
                            result.failure = Some("bad_output".to_owned());
                            result.reason = Some(reason);
                        }
                    }
                }
                Ok(PublishOutcome::Drop(reason)) => {
                    result.outcome = TestOutcome::Drop;
                    result.reason = Some(reason);
                }
                Ok(PublishOutcome::Reject(reason)) => {
                    result.outcome = TestOutcome::Reject;
                    result.reason = Some(reason);
                }
                Err(failure) => return_failure(&mut result, failure),
            }
            call.elapsed
        }
        Hook::Convert => {
            let Some(to) = query.to_version else {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "a convert test needs `to_version`",
                ));
            };
            let call = plugin.convert(&input, to).await;
            match call.result {
                Ok(Ok(out)) => {
                    result.outcome = TestOutcome::Converted;
                    result.output = Some(event_value(&out));
                }
                Ok(Err(reason)) => {
                    result.outcome = TestOutcome::Refused;
                    result.reason = Some(reason);
                }
                Err(failure) => return_failure(&mut result, failure),
            }
            call.elapsed
        }
        Hook::Deliver => {
            let groups: Vec<Subscriber> = subscribers
                .into_iter()
                .map(|s| Subscriber {
                    user_id: s.user_id,
                    claims: if s.claims.is_null() {
                        "{}".to_owned()
                    } else {
                        s.claims.to_string()
                    },
                    types: s.types,
                    subjects: s.subjects,
                })
                .collect();
            let call = plugin.deliver(&input, &groups).await;
            match call.result {
                Ok(answers) => {
                    result.outcome = TestOutcome::Decided;
                    result.deliver = Some(answers);
                }
                Err(failure) => return_failure(&mut result, failure),
            }
            call.elapsed
        }
    };
    result.duration_us = elapsed.as_micros() as u64;
    result.logs = log.recent(MAX_LOG_LINES);
    Ok(Json(result))
}

fn return_failure(result: &mut TestResult, failure: Failure) {
    result.outcome = TestOutcome::Failed;
    result.failure = Some(failure.code().to_owned());
    result.reason = Some(failure.to_string());
}

async fn wasm(state: &AppState, digest: &str) -> Result<Bytes, ApiError> {
    state.plugins.store.wasm(digest).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the stored component is missing",
        )
    })
}

/// A plugin's event as JSON (its data parsed when it is JSON).
fn event_value(event: &PluginEvent) -> Value {
    let data = serde_json::from_str::<Value>(&event.data)
        .unwrap_or_else(|_| Value::String(event.data.clone()));
    serde_json::json!({
        "type": event.kind,
        "version": event.version,
        "subject": event.subject,
        "source": event.source,
        "audience": event.audience,
        "data": data,
    })
}
