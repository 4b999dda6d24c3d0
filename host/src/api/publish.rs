//! `POST /v1/events`: one event or a batch.
//!
//! The body is parsed in two steps — JSON first, then each event on its
//! own — so every problem can be reported with a pointer to the event and
//! field concerned. A batch is all-or-nothing: if any event is invalid,
//! none is stored.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{ApiError, auth, schemas};
use beacon_protocol::api::publish::{
    IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, NotStored, PartiallyPublished, PublishQuery, Published,
    PublishedBatch, SkipOutcome, Skipped,
};
use beacon_protocol::envelope::{FieldError, MAX_KEY_LEN, PublishEvent};

use crate::event;
use crate::log::{NewEvent, Position};
use crate::plugins::pipeline::{self, Verdict};
use crate::schema::Invalid;
use crate::state::AppState;
use crate::tenants::Scope;

/// Room the log adds to an envelope when framing it (the `id` field).
const ID_OVERHEAD: usize = 64;

pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PublishQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Publish).await?;
    let Query(PublishQuery { partial }) =
        query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    require_json(&headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the request body is larger than {} bytes",
                    state.settings.max_body_bytes
                ),
            )
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })?;
    let idempotency_key = idempotency_key(&headers)?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })?;
    let (items, single) = match value {
        Value::Array(items) => (items, false),
        item @ Value::Object(_) => (vec![item], true),
        _ => {
            let problem =
                FieldError::new("", "expected an event object or an array of event objects");
            return Err(ApiError::bad_request(
                "invalid_event",
                "the body must be an event object or an array of them",
            )
            .with_details(vec![problem]));
        }
    };
    if items.is_empty() {
        let problem = FieldError::new("", "a batch needs at least one event");
        return Err(ApiError::bad_request("invalid_event", "the batch is empty")
            .with_details(vec![problem]));
    }
    if items.len() > state.settings.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("at most {} events per request", state.settings.max_batch),
        ));
    }
    super::limits::check_publish(&state, &tenant, items.len()).await?;
    let time = event::now_rfc3339();
    let count = items.len();
    // Events that passed their checks, with their request index.
    let mut valid: Vec<(usize, PublishEvent)> = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    // Contract problems (422), kept apart from malformed envelopes (400).
    let mut violations: Vec<(Invalid, String)> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let pointer = pointer_of(single, i);
        let mut parsed: PublishEvent = match serde_json::from_value(item) {
            Ok(p) => p,
            Err(e) => {
                errors.push(FieldError::new(pointer, e.to_string()));
                continue;
            }
        };
        let problems = parsed.check(&pointer);
        if !problems.is_empty() {
            errors.extend(problems);
            continue;
        }
        let validation = std::time::Instant::now();
        let checked =
            state
                .schemas
                .validate_at(&parsed.kind, parsed.version, &parsed.data, &pointer);
        crate::metrics::validated(validation.elapsed());
        match checked {
            // The envelope records the contract version the event was checked against.
            Ok(version) => parsed.version = Some(version),
            Err(Invalid::UnknownType { .. }) if tenant.allow_unregistered_types => {}
            Err(invalid) => {
                violations.push((invalid, pointer));
                continue;
            }
        }
        valid.push((i, parsed));
    }
    let refused_early = !errors.is_empty() || !violations.is_empty();
    if refused_early && !(partial && !single && !valid.is_empty()) {
        return Err(refusal(errors, violations, Vec::new(), Vec::new()));
    }

    // The tenant's plugins, as of now: the whole request runs on this
    // snapshot, so an activation meanwhile affects no event half-way.
    let pipeline = state.plugins.tenant(&tenant.id);
    let context = pipeline::Context {
        plugins: &state.plugins,
        schemas: &state.schemas,
        tenant: &tenant.id,
        allow_unregistered_types: tenant.allow_unregistered_types,
        time: &time,
    };
    let mut events: Vec<NewEvent> = Vec::with_capacity(valid.len());
    // Request index of each event in `events`.
    let mut accepted: Vec<usize> = Vec::with_capacity(valid.len());
    let mut too_large = Vec::new();
    let mut rejected = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut letters = Vec::new();
    for (i, parsed) in valid {
        let pointer = pointer_of(single, i);
        let derived_key = idempotency_key.as_ref().map(|k| {
            if single {
                k.clone()
            } else {
                format!("{k}/{i}")
            }
        });
        let dedup_key = parsed.key.clone().or_else(|| derived_key.clone());
        let parsed = match &pipeline {
            None => parsed,
            Some(pipeline) => match pipeline::run(&context, pipeline, parsed).await {
                Verdict::Store(event) => *event,
                Verdict::Rejected { plugin, reason } => {
                    rejected.push(FieldError::new(
                        pointer,
                        format!("refused by plugin `{plugin}`: {reason}"),
                    ));
                    continue;
                }
                Verdict::Dropped { plugin, reason } => {
                    skipped.push(Skipped {
                        index: i,
                        outcome: SkipOutcome::Dropped,
                        plugin,
                        reason,
                    });
                    continue;
                }
                Verdict::DeadLettered(letter) => {
                    skipped.push(Skipped {
                        index: i,
                        outcome: SkipOutcome::DeadLettered,
                        plugin: letter.plugin.clone(),
                        reason: format!("{}: {}", letter.code, letter.reason),
                    });
                    letters.push((letter, dedup_key));
                    continue;
                }
            },
        };
        let new = event::new_event(parsed, &tenant.id, &time, derived_key);
        if new.envelope.len() + ID_OVERHEAD > state.settings.max_event_bytes {
            too_large.push(FieldError::new(
                pointer,
                format!(
                    "the event is {} bytes; the limit is {}",
                    new.envelope.len() + ID_OVERHEAD,
                    state.settings.max_event_bytes
                ),
            ));
            continue;
        }
        events.push(new);
        accepted.push(i);
    }
    let refused = refused_early || !rejected.is_empty() || !too_large.is_empty();
    let partial_answer = partial && !single && refused;
    if refused && !(partial_answer && !(events.is_empty() && skipped.is_empty())) {
        return Err(refusal(errors, violations, rejected, too_large));
    }
    // The request goes ahead: dead letters first, so that a failure to
    // keep them fails the request (503) before anything is stored.
    for (letter, key) in letters {
        state
            .plugins
            .dead_letter(&tenant.id, *letter, key)
            .await
            .map_err(event_log)?;
    }
    let mut ids = vec![None; count];
    let mut replayed = false;
    if !events.is_empty() {
        let batch = state
            .log
            .append(&tenant.id, events)
            .await
            .map_err(event_log)?;
        crate::metrics::stored(&batch);
        replayed = batch.appended.iter().all(|a| a.duplicate);
        for (index, appended) in accepted.into_iter().zip(&batch.appended) {
            ids[index] = Some(
                Position {
                    epoch: batch.epoch.clone(),
                    offset: appended.offset,
                }
                .to_string(),
            );
        }
    }
    if partial_answer {
        let mut problems = errors;
        problems.extend(
            violations
                .iter()
                .flat_map(|(invalid, at)| invalid.details(at)),
        );
        problems.extend(rejected);
        problems.extend(too_large);
        let body = PartiallyPublished {
            ids,
            errors: problems,
            skipped,
        };
        return Ok((StatusCode::MULTI_STATUS, Json(body)).into_response());
    }
    let mut response = match (single, ids.as_slice(), skipped.pop()) {
        (true, [Some(id)], _) => {
            (StatusCode::CREATED, Json(Published { id: id.clone() })).into_response()
        }
        (true, _, Some(skip)) => (
            StatusCode::OK,
            Json(NotStored {
                id: None,
                outcome: skip.outcome,
                plugin: skip.plugin,
                reason: skip.reason,
            }),
        )
            .into_response(),
        (_, _, last) => {
            skipped.extend(last);
            (StatusCode::CREATED, Json(PublishedBatch { ids, skipped })).into_response()
        }
    };
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A failure of the event log: 503 with `Retry-After` while it cannot be
/// reached, else 500.
fn event_log(e: crate::log::LogError) -> ApiError {
    ApiError::backend("the event log", "unavailable", &e)
}

/// The JSON pointer of event `i` of the request.
fn pointer_of(single: bool, i: usize) -> String {
    if single {
        String::new()
    } else {
        format!("/{i}")
    }
}

/// The answer to a request refused as a whole: malformed events (400)
/// first, then contract violations and plugin refusals (422), then sizes (413).
fn refusal(
    errors: Vec<FieldError>,
    violations: Vec<(Invalid, String)>,
    rejected: Vec<FieldError>,
    too_large: Vec<FieldError>,
) -> ApiError {
    if !errors.is_empty() {
        return ApiError::bad_request("invalid_event", "the event is not valid; see details")
            .with_details(errors);
    }
    if let ([(invalid, at)], []) = (violations.as_slice(), rejected.as_slice()) {
        return schemas::invalid_event(invalid, at);
    }
    if !violations.is_empty() {
        let mut details: Vec<FieldError> = violations
            .iter()
            .flat_map(|(invalid, at)| invalid.details(at))
            .collect();
        details.extend(rejected);
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event",
            format!(
                "{} events do not match their contracts; none was stored",
                violations.len()
            ),
        )
        .with_details(details);
    }
    if !rejected.is_empty() {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected_by_plugin",
            "a plugin refused the event; none was stored",
        )
        .with_details(rejected);
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "event_too_large",
        "an event is larger than the limit",
    )
    .with_details(too_large)
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send events as `Content-Type: application/json`",
        ))
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().ok().filter(|k| {
        !k.is_empty() && k.len() <= MAX_KEY_LEN - 8 && k.bytes().all(|b| b.is_ascii_graphic())
    });
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_idempotency_key",
            format!(
                "Idempotency-Key is 1-{} printable ASCII characters without spaces",
                MAX_KEY_LEN - 8
            ),
        )
    })
}
