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

use crate::event::{self, Refused};
use crate::log::{NewEvent, Position};
use crate::plugins::dead_letters::DeadLetter;
use crate::plugins::pipeline::{self, Verdict};
use crate::schema::Invalid;
use crate::state::AppState;
use crate::tenants::{Scope, Tenant};

/// Room the log adds to an envelope when framing it (the `id` field).
const ID_OVERHEAD: usize = 64;

/// `POST /v1/events`, step by step: who publishes, what they sent, whether
/// the rate allows it, which events pass their checks, what the plugins
/// make of them, what is stored, and the answer.
pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PublishQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenant = auth::tenant(&state, &headers, Scope::Publish).await?;
    let mut request = read_request(&state, &headers, query, body)?;
    let items = std::mem::take(&mut request.items);
    let count = items.len();
    super::limits::check_publish(&state, &tenant, count).await?;
    let checked = validate(&state, &tenant, &request, items);
    // A partial batch goes on with its acceptable events, if any.
    let some_go_on = request.partial_batch() && !checked.valid.is_empty();
    if checked.refuses_some() && !some_go_on {
        return Err(refusal(
            checked.errors,
            checked.violations,
            Vec::new(),
            Vec::new(),
        ));
    }
    let time = event::now_rfc3339();
    let refused_early = checked.refuses_some();
    let processed = run_plugins(&state, &tenant, &request, checked.valid, &time).await;
    let refused = refused_early || processed.refuses_some();
    let partial_answer = request.partial_batch() && refused;
    if refused && !(partial_answer && processed.goes_ahead()) {
        return Err(refusal(
            checked.errors,
            checked.violations,
            processed.rejected,
            processed.too_large,
        ));
    }
    let stored = store(
        &state,
        &tenant.id,
        count,
        processed.letters,
        processed.events,
    )
    .await?;
    if partial_answer {
        let mut problems = checked.errors;
        problems.extend(
            checked
                .violations
                .iter()
                .flat_map(|(invalid, at)| invalid.details(at)),
        );
        problems.extend(processed.rejected);
        problems.extend(processed.too_large);
        return Ok(partly(stored, problems, processed.skipped));
    }
    Ok(answer(request.single, stored, processed.skipped))
}

/// A publish request, read and parsed, not yet checked event by event.
struct Request {
    /// The events as sent, in request order (taken out for their checks).
    items: Vec<Value>,
    /// One event object rather than a batch: the answers differ in shape.
    single: bool,
    /// `?partial=true`: store a batch's acceptable events, report the others.
    partial: bool,
    /// The `Idempotency-Key` header.
    idempotency_key: Option<String>,
}

impl Request {
    /// A batch that may be stored in part (207).
    fn partial_batch(&self) -> bool {
        self.partial && !self.single
    }

    /// The JSON pointer of event `i` of the request.
    fn pointer(&self, i: usize) -> String {
        pointer_of(self.single, i)
    }

    /// The dedup key derived from the `Idempotency-Key` for event `i`.
    fn derived_key(&self, i: usize) -> Option<String> {
        self.idempotency_key.as_ref().map(|k| {
            if self.single {
                k.clone()
            } else {
                format!("{k}/{i}")
            }
        })
    }
}

/// Reads the query, headers and body: JSON, an event object or a
/// non-empty array of at most `max_batch` of them.
fn read_request(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<PublishQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Request, ApiError> {
    let Query(PublishQuery { partial }) =
        query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    require_json(headers)?;
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
    let idempotency_key = idempotency_key(headers)?;
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
    Ok(Request {
        items,
        single,
        partial,
        idempotency_key,
    })
}

/// The events that passed their checks, and the problems of the others.
struct Checked {
    /// With their request index.
    valid: Vec<(usize, PublishEvent)>,
    /// Malformed events (400).
    errors: Vec<FieldError>,
    /// Contract violations (422), with the event's pointer.
    violations: Vec<(Invalid, String)>,
}

impl Checked {
    fn refuses_some(&self) -> bool {
        !self.errors.is_empty() || !self.violations.is_empty()
    }
}

/// Checks each event on its own ([`event::check`]).
fn validate(state: &AppState, tenant: &Tenant, request: &Request, items: Vec<Value>) -> Checked {
    let mut checked = Checked {
        valid: Vec::with_capacity(items.len()),
        errors: Vec::new(),
        violations: Vec::new(),
    };
    for (i, item) in items.into_iter().enumerate() {
        let pointer = request.pointer(i);
        let started = std::time::Instant::now();
        let result = event::check(
            &state.schemas,
            tenant.allow_unregistered_types,
            item,
            &pointer,
        );
        crate::metrics::validated(started.elapsed());
        match result {
            Ok(event) => checked.valid.push((i, event)),
            Err(Refused::Malformed(problems)) => checked.errors.extend(problems),
            Err(Refused::Contract(invalid)) => checked.violations.push((invalid, pointer)),
        }
    }
    checked
}

/// What the tenant's plugins made of the checked events.
struct Processed {
    /// The events to store, ready for the log, with their request index.
    events: Vec<(usize, NewEvent)>,
    /// Refused by a plugin (422).
    rejected: Vec<FieldError>,
    /// Larger than `max_event_bytes` once framed (413).
    too_large: Vec<FieldError>,
    /// Dropped or dead-lettered by a plugin: accepted, not stored.
    skipped: Vec<Skipped>,
    /// The dead letters to write, with their dedup key.
    letters: Vec<(DeadLetter, Option<String>)>,
}

impl Processed {
    fn refuses_some(&self) -> bool {
        !self.rejected.is_empty() || !self.too_large.is_empty()
    }

    /// Whether anything is left to store or report as skipped.
    fn goes_ahead(&self) -> bool {
        !(self.events.is_empty() && self.skipped.is_empty())
    }
}

/// Runs the tenant's plugins on each checked event, then frames the
/// events to store. The whole request runs on one snapshot of the
/// tenant's plugins, so an activation meanwhile affects no event half-way.
async fn run_plugins(
    state: &AppState,
    tenant: &Tenant,
    request: &Request,
    valid: Vec<(usize, PublishEvent)>,
    time: &str,
) -> Processed {
    let pipeline = state.plugins.tenant(&tenant.id);
    let context = pipeline::Context {
        plugins: &state.plugins,
        schemas: &state.schemas,
        tenant: &tenant.id,
        allow_unregistered_types: tenant.allow_unregistered_types,
        time,
    };
    let mut out = Processed {
        events: Vec::with_capacity(valid.len()),
        rejected: Vec::new(),
        too_large: Vec::new(),
        skipped: Vec::new(),
        letters: Vec::new(),
    };
    for (i, parsed) in valid {
        let derived_key = request.derived_key(i);
        let parsed = match &pipeline {
            None => parsed,
            Some(pipeline) => {
                let dedup_key = parsed.key.clone().or_else(|| derived_key.clone());
                match pipeline::run(&context, pipeline, parsed).await {
                    Verdict::Store(event) => *event,
                    Verdict::Rejected { plugin, reason } => {
                        out.rejected.push(FieldError::new(
                            request.pointer(i),
                            format!("refused by plugin `{plugin}`: {reason}"),
                        ));
                        continue;
                    }
                    Verdict::Dropped { plugin, reason } => {
                        out.skipped.push(Skipped {
                            index: i,
                            outcome: SkipOutcome::Dropped,
                            plugin,
                            reason,
                        });
                        continue;
                    }
                    Verdict::DeadLettered(letter) => {
                        out.skipped.push(Skipped {
                            index: i,
                            outcome: SkipOutcome::DeadLettered,
                            plugin: letter.plugin.clone(),
                            reason: format!("{}: {}", letter.code, letter.reason),
                        });
                        out.letters.push((*letter, dedup_key));
                        continue;
                    }
                }
            }
        };
        let new = event::new_event(parsed, &tenant.id, time, derived_key);
        let framed = new.envelope.len() + ID_OVERHEAD;
        if framed > state.settings.max_event_bytes {
            out.too_large.push(FieldError::new(
                request.pointer(i),
                format!(
                    "the event is {framed} bytes; the limit is {}",
                    state.settings.max_event_bytes
                ),
            ));
            continue;
        }
        out.events.push((i, new));
    }
    out
}

/// The position of each event of the request (`None`: not stored), and
/// whether every stored one was a duplicate of an earlier request.
struct Stored {
    ids: Vec<Option<String>>,
    replayed: bool,
}

/// Writes the dead letters, then appends the events. Dead letters first:
/// a failure to keep them fails the request (503) before anything is stored.
async fn store(
    state: &AppState,
    tenant: &str,
    count: usize,
    letters: Vec<(DeadLetter, Option<String>)>,
    events: Vec<(usize, NewEvent)>,
) -> Result<Stored, ApiError> {
    for (letter, key) in letters {
        state
            .plugins
            .dead_letter(tenant, letter, key)
            .await
            .map_err(event_log)?;
    }
    let mut stored = Stored {
        ids: vec![None; count],
        replayed: false,
    };
    if events.is_empty() {
        return Ok(stored);
    }
    let (accepted, events): (Vec<usize>, Vec<NewEvent>) = events.into_iter().unzip();
    let batch = state.log.append(tenant, events).await.map_err(event_log)?;
    crate::metrics::stored(&batch);
    stored.replayed = batch.appended.iter().all(|a| a.duplicate);
    for (index, appended) in accepted.into_iter().zip(&batch.appended) {
        stored.ids[index] = Some(
            Position {
                epoch: batch.epoch.clone(),
                offset: appended.offset,
            }
            .to_string(),
        );
    }
    Ok(stored)
}

/// The answer to a partial batch (207): the ids of the stored events, the
/// problems of the refused ones, and the ones a plugin kept out.
fn partly(stored: Stored, errors: Vec<FieldError>, skipped: Vec<Skipped>) -> Response {
    let body = PartiallyPublished {
        ids: stored.ids,
        errors,
        skipped,
    };
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
}

/// The answer to a request that went ahead as a whole: 201 with the id
/// (or ids), or 200 `NotStored` for a single event a plugin kept out.
fn answer(single: bool, stored: Stored, mut skipped: Vec<Skipped>) -> Response {
    let mut response = match (single, stored.ids.as_slice(), skipped.pop()) {
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
            let body = PublishedBatch {
                ids: stored.ids,
                skipped,
            };
            (StatusCode::CREATED, Json(body)).into_response()
        }
    };
    if stored.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
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
