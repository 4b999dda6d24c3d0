//! `GET /openapi.json`: the API v1 as an OpenAPI 3.1 document.
//!
//! The schemas come from the Rust types ([`components`]); the paths are
//! written here, one function per resource, and the tests check them
//! against the routes the router registers. The stream's
//! `text/event-stream` answer describes one SSE event per item in the
//! OpenAPI 3.2 manner (`itemSchema`), carried as the extension
//! `x-itemSchema` so the document stays valid OpenAPI 3.1.

pub mod components;

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The `openapi` version the document declares.
pub const OPENAPI_VERSION: &str = "3.1.1";

/// `GET /openapi.json` (no authentication). Built once per process.
pub async fn openapi() -> Response {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    let body =
        DOCUMENT.get_or_init(|| Bytes::from(serde_json::to_vec(&document()).unwrap_or_default()));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.clone(),
    )
        .into_response()
}

/// The whole document.
pub fn document() -> Value {
    let mut schemas = components::components();
    schemas.insert("SseEvent".into(), sse_event());
    json!({
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Beacon API",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Multi-tenant real-time events: publish over HTTP, subscribe over Server-Sent Events.",
            "description": "Tenants publish JSON events, checked against their type's contract and \
                stored in a durable, replayable log; subscribers receive them over Server-Sent \
                Events and resume exactly with `Last-Event-ID`. Every error answers an \
                `ErrorBody`. The JSON Schemas of these types are also published as files under \
                `schemas/beacon/`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "events", "description": "Publishing and subscribing."},
            {"name": "tenants", "description": "Tenant administration (admin token)."},
            {"name": "tokens", "description": "Subscriber tokens (tenant API key)."},
            {"name": "schemas", "description": "Event contracts (admin token)."},
            {"name": "operations", "description": "Health, readiness, metrics, stats, this document."},
        ],
        "paths": paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": security_schemes(),
            "parameters": parameters(),
        },
    })
}

fn security_schemes() -> Value {
    json!({
        "adminToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "The platform admin token (`BEACON_ADMIN_TOKEN`, or generated on \
                first start and stored in `<data-dir>/admin-token`).",
        },
        "tenantApiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant API key (`bk_...`), returned once when the tenant is created.",
        },
        "subscriberToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A subscriber JWT (HS256, signed with the tenant's signing secret; \
                claims `sub`, `tenant`, `exp`, optional `types`).",
        },
        "subscriberTokenQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "access_token",
            "description": "The subscriber JWT as a query parameter, for `EventSource`, which \
                cannot set headers.",
        },
    })
}

fn parameters() -> Value {
    json!({
        "TenantId": {
            "name": "id", "in": "path", "required": true,
            "description": "The tenant id.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-z0-9][a-z0-9-]*$"},
        },
        "EventType": {
            "name": "type", "in": "path", "required": true,
            "description": "The event type, e.g. `order.created`.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
        },
        "KeyId": {
            "name": "key_id", "in": "path", "required": true,
            "description": "An API key's public id (`k_...`).",
            "schema": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        "Version": {
            "name": "n", "in": "path", "required": true,
            "description": "The contract version.",
            "schema": {"type": "integer", "minimum": 1, "maximum": u32::MAX},
        },
    })
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn param_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

/// A JSON request body.
fn body(description: &str, schema: Value) -> Value {
    json!({
        "required": true,
        "description": description,
        "content": {"application/json": {"schema": schema}},
    })
}

/// The body of `register` and `check`.
fn json_schema_body() -> Value {
    body(
        "A JSON Schema (draft 2020-12, local `$ref`s only) for the event's `data`.",
        json!({"type": "object", "description": "A JSON Schema, draft 2020-12."}),
    )
}

/// An answer with a JSON body.
fn answer(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": schema}},
    })
}

/// An operation: its answers are `ok` plus one error answer per
/// `(status, description)`.
fn operation(
    id: &str,
    tag: &str,
    summary: &str,
    security: Value,
    ok: (&str, Value),
    errors: &[(&str, &str)],
) -> Map<String, Value> {
    let mut responses = Map::new();
    responses.insert(ok.0.to_owned(), ok.1);
    for (status, description) in errors {
        responses.insert(
            (*status).to_owned(),
            answer(description, schema_ref("ErrorBody")),
        );
    }
    let mut op = Map::new();
    op.insert("operationId".into(), json!(id));
    op.insert("tags".into(), json!([tag]));
    op.insert("summary".into(), json!(summary));
    op.insert("security".into(), security);
    op.insert("responses".into(), Value::Object(responses));
    op
}

fn with(mut op: Map<String, Value>, key: &str, value: Value) -> Value {
    op.insert(key.into(), value);
    Value::Object(op)
}

fn admin() -> Value {
    json!([{"adminToken": []}])
}

fn tenant_key() -> Value {
    json!([{"tenantApiKey": []}])
}

const UNAUTHORIZED: (&str, &str) = ("401", "`unauthorized`: missing or invalid credentials.");
const UNSUPPORTED: (&str, &str) = ("415", "`unsupported_media_type`: the body is not JSON.");
const TOO_LARGE: (&str, &str) = ("413", "`body_too_large`.");
const UNAVAILABLE: (&str, &str) = (
    "503",
    "`unavailable` / `store_unavailable`: a backend cannot be reached; retry later.",
);
const INTERNAL: (&str, &str) = ("500", "`internal`: details are in the server log.");

fn paths() -> Value {
    json!({
        "/v1/events": {"post": publish()},
        "/v1/stream": {"get": stream()},
        "/v1/presence": {"get": presence()},
        "/v1/tenants": {"post": create_tenant(), "get": list_tenants()},
        "/v1/tenants/{id}": {
            "parameters": [param_ref("TenantId")],
            "get": get_tenant(),
            "patch": update_tenant(),
        },
        "/v1/tenants/{id}/keys": {
            "parameters": [param_ref("TenantId")],
            "post": create_key(),
            "get": list_keys(),
        },
        "/v1/tenants/{id}/jwt-keys": {
            "parameters": [param_ref("TenantId")],
            "put": set_jwt_keys(),
        },
        "/v1/tenants/{id}/keys/{key_id}": {
            "parameters": [param_ref("TenantId"), param_ref("KeyId")],
            "delete": delete_key(),
        },
        "/v1/tokens": {"post": mint_token()},
        "/v1/schemas": {"get": list_schemas()},
        "/v1/schemas/{type}": {"parameters": [param_ref("EventType")], "get": get_schema()},
        "/v1/schemas/{type}/versions": {
            "parameters": [param_ref("EventType")],
            "post": register_schema(),
        },
        "/v1/schemas/{type}/versions/{n}": {
            "parameters": [param_ref("EventType"), param_ref("Version")],
            "get": get_schema_version(),
            "delete": deprecate_schema_version(),
        },
        "/v1/schemas/{type}/compatibility": {
            "parameters": [param_ref("EventType")],
            "put": set_compatibility(),
        },
        "/v1/schemas/{type}/check": {"parameters": [param_ref("EventType")], "post": check_schema()},
        "/healthz": {"get": healthz()},
        "/readyz": {"get": readyz()},
        "/metrics": {"get": prometheus_metrics()},
        "/v1/stats": {"get": stats()},
        "/openapi.json": {"get": openapi_document()},
    })
}

fn publish() -> Value {
    let op = operation(
        "publish",
        "events",
        "Publish one event, or a batch (all-or-nothing unless `partial=true`).",
        tenant_key(),
        (
            "201",
            json!({
                "description": "Stored: `Published` for one event, `PublishedBatch` for an array.",
                "headers": {"Idempotent-Replayed": {
                    "description": "`true` when a retried request got the ids of its first attempt.",
                    "schema": {"type": "string", "const": "true"},
                }},
                "content": {"application/json": {"schema": {"oneOf": [
                    schema_ref("Published"),
                    schema_ref("PublishedBatch"),
                ]}}},
            }),
        ),
        &[
            (
                "400",
                "`invalid_json`, `invalid_event` (details point at each field, e.g. `/0/type`), \
                 `invalid_idempotency_key`, `invalid_query`.",
            ),
            UNAUTHORIZED,
            (
                "413",
                "`body_too_large`, `event_too_large` (the encoded envelope exceeds \
                 `--max-event-bytes`), `batch_too_large` (more than `--max-batch` events).",
            ),
            UNSUPPORTED,
            (
                "422",
                "The event does not match its contract: `invalid_event` (every violation as \
                 `/data/...`), `unknown_type`, `unknown_version`, `deprecated_version`.",
            ),
            (
                "429",
                "`rate_limited`: the tenant's publish rate (`--publish-rate`, burst \
                 `--publish-burst`, or the tenant's `limits`) is exceeded; `Retry-After` says \
                 when to retry, in seconds.",
            ),
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    let mut op = op;
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        responses.insert(
            "207".into(),
            answer(
                "With `partial=true`, some events of the batch were refused: the others were \
                 stored.",
                schema_ref("PartiallyPublished"),
            ),
        );
    }
    op.insert(
        "parameters".into(),
        json!([{
            "name": "partial", "in": "query", "required": false,
            "description": "Store the valid events of a batch even if others are refused \
                (answer 207).",
            "schema": {"type": "boolean", "default": false},
        }, {
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "De-duplicates the request within the idempotency window; batch item \
                `i` gets `<key>/<i>` unless it has its own `key`.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 192, "pattern": "^[!-~]+$"},
        }]),
    );
    with(
        op,
        "requestBody",
        body(
            "One event, or an array of 1 to `--max-batch` (default 100) events.",
            json!({"oneOf": [
                schema_ref("PublishEvent"),
                {"type": "array", "minItems": 1, "items": schema_ref("PublishEvent")},
            ]}),
        ),
    )
}

fn stream() -> Value {
    let mut op = operation(
        "stream",
        "events",
        "Subscribe: the tenant's events as Server-Sent Events, replay then live.",
        json!([{"subscriberToken": []}, {"subscriberTokenQuery": []}]),
        (
            "200",
            json!({
                "description": "An endless `text/event-stream`: a `: beacon` comment, a `retry:` \
                    hint, `beacon.connected`, then events (`id:` the event id, `event:` its type, \
                    `data:` its `Envelope`), heartbeat comments and `beacon.*` control events.",
                "headers": {
                    "Cache-Control": {"schema": {"type": "string", "const": "no-cache"}},
                    "X-Accel-Buffering": {"schema": {"type": "string", "const": "no"}},
                },
                "content": {"text/event-stream": {
                    "schema": {
                        "type": "string",
                        "description": "Server-Sent Events; each event is described by `SseEvent`.",
                    },
                    "x-itemSchema": schema_ref("SseEvent"),
                }},
            }),
        ),
        &[
            (
                "400",
                "`invalid_query`, `invalid_filter`, `invalid_last_event_id`.",
            ),
            UNAUTHORIZED,
            (
                "403",
                "`forbidden`: the token's `types` claim is not valid.",
            ),
            (
                "429",
                "`too_many_connections`: the user's or the tenant's connection cap is reached \
                 (the message names the cap and its value); `rate_limited` (with \
                 `Retry-After`): too many connection attempts from this address.",
            ),
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    op.insert(
        "parameters".into(),
        json!([
            {
                "name": "types", "in": "query", "required": false,
                "description": "Comma-separated event types: exact, `prefix.*` or `*`, and \
                    `type@N` for a version view (events of that type in the shape of version N \
                    of its contract). Default: all the token allows.",
                "schema": {"type": "string"},
                "example": "order.*,payment.succeeded,order.created@1",
            },
            {
                "name": "subjects", "in": "query", "required": false,
                "description": "Comma-separated subjects, exact or with a trailing `*`.",
                "schema": {"type": "string"},
                "example": "order/IE-1,user/*",
            },
            {
                "name": "lastEventId", "in": "query", "required": false,
                "description": "Resume after this event id (the `Last-Event-ID` header wins).",
                "schema": {"type": "string"},
            },
            {
                "name": "access_token", "in": "query", "required": false,
                "description": "The subscriber JWT, when it cannot be sent as a header.",
                "schema": {"type": "string"},
            },
            {
                "name": "Last-Event-ID", "in": "header", "required": false,
                "description": "Resume after this event id; sent by `EventSource` on reconnect.",
                "schema": {"type": "string"},
            },
        ]),
    );
    Value::Object(op)
}

/// One SSE event of the stream, in the OpenAPI 3.2 `itemSchema` form:
/// the fields `event`, `data`, `id`, `retry`, with `data` described by
/// `contentMediaType` / `contentSchema`. Comments (`: beacon`,
/// heartbeats) are not events.
fn sse_event() -> Value {
    fn control(name: &str, schema: &str, description: &str, id: bool) -> Value {
        let mut branch = json!({
            "title": name,
            "description": description,
            "properties": {
                "event": {"const": name},
                "data": {
                    "contentMediaType": "application/json",
                    "contentSchema": schema_ref(schema),
                },
            },
            "required": ["event", "data"],
        });
        if id {
            branch["required"] = json!(["id", "event", "data"]);
        } else {
            branch["not"] = json!({"required": ["id"]});
        }
        branch
    }
    json!({
        "type": "object",
        "description": "One Server-Sent Event of `GET /v1/stream`.",
        "properties": {
            "id": {"type": "string", "description": "The event id; the client sends the last one back as `Last-Event-ID`."},
            "event": {"type": "string", "description": "The event type, or a `beacon.*` control event."},
            "data": {"type": "string", "description": "A JSON document."},
            "retry": {"type": "integer", "minimum": 0, "description": "Reconnection delay in milliseconds."},
        },
        "oneOf": [
            {
                "title": "event",
                "description": "A published event: `event:` is its type, `id:` its id.",
                "properties": {
                    "event": {"not": {"pattern": "^beacon\\."}},
                    "data": {
                        "contentMediaType": "application/json",
                        "contentSchema": schema_ref("Envelope"),
                    },
                },
                "required": ["id", "event", "data"],
            },
            control(
                "beacon.connected",
                "Connected",
                "The first event; its `id:` is the position the stream starts from.",
                true,
            ),
            control(
                "beacon.gap",
                "Gap",
                "The requested position could not be resumed from.",
                false,
            ),
            control(
                "beacon.incompatible",
                "Incompatible",
                "Events of a type cannot be shown in the requested version view; they are skipped.",
                false,
            ),
            control(
                "beacon.overflow",
                "Overflow",
                "The subscriber fell behind; the stream ends.",
                false,
            ),
            control(
                "beacon.shutdown",
                "Shutdown",
                "The node shuts down; the stream ends.",
                false,
            ),
            control(
                "beacon.token_expired",
                "TokenExpired",
                "The subscriber's token expired; the stream ends.",
                false,
            ),
            control(
                "beacon.closed",
                "Closed",
                "The connection was replaced by a newer one of its user; the stream ends.",
                false,
            ),
            {
                "title": "retry",
                "description": "The reconnection hint sent at the start of the stream.",
                "required": ["retry"],
                "not": {"required": ["data"]},
            },
        ],
    })
}

fn create_tenant() -> Value {
    let op = operation(
        "createTenant",
        "tenants",
        "Create a tenant; its API key and signing secret are shown only here.",
        admin(),
        ("201", answer("Created.", schema_ref("CreatedTenant"))),
        &[
            (
                "400",
                "`invalid_tenant_id`, or `invalid_request` (not the expected JSON shape).",
            ),
            UNAUTHORIZED,
            ("409", "`tenant_exists`."),
            TOO_LARGE,
            UNSUPPORTED,
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "requestBody",
        body("The new tenant.", schema_ref("CreateTenant")),
    )
}

fn list_tenants() -> Value {
    Value::Object(operation(
        "listTenants",
        "tenants",
        "List tenants.",
        admin(),
        ("200", answer("Every tenant.", schema_ref("TenantList"))),
        &[UNAUTHORIZED, UNAVAILABLE, INTERNAL],
    ))
}

fn get_tenant() -> Value {
    Value::Object(operation(
        "getTenant",
        "tenants",
        "Inspect a tenant.",
        admin(),
        ("200", answer("The tenant.", schema_ref("TenantInfo"))),
        &[
            UNAUTHORIZED,
            ("404", "`not_found`: no such tenant."),
            UNAVAILABLE,
            INTERNAL,
        ],
    ))
}

fn update_tenant() -> Value {
    let op = operation(
        "updateTenant",
        "tenants",
        "Disable or re-enable a tenant, or change whether it may publish unregistered types.",
        admin(),
        ("200", answer("The tenant now.", schema_ref("TenantInfo"))),
        &[
            ("400", "`invalid_request`."),
            UNAUTHORIZED,
            ("404", "`not_found`: no such tenant."),
            TOO_LARGE,
            UNSUPPORTED,
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "requestBody",
        body("The changes.", schema_ref("UpdateTenant")),
    )
}

fn create_key() -> Value {
    let op = operation(
        "createKey",
        "tenants",
        "Create an API key with scopes; with `rotate`, the old key keeps working for `overlap_s` \
         seconds. The key is shown only here.",
        admin(),
        ("201", answer("Created.", schema_ref("CreatedKey"))),
        &[
            ("400", "`invalid_request`."),
            UNAUTHORIZED,
            (
                "404",
                "`not_found`: no such tenant, or no such key to rotate.",
            ),
            (
                "422",
                "`limit_reached`: the tenant holds the most keys allowed.",
            ),
            TOO_LARGE,
            UNSUPPORTED,
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "requestBody",
        body("Scopes and rotation.", schema_ref("CreateKey")),
    )
}

fn list_keys() -> Value {
    Value::Object(operation(
        "listKeys",
        "tenants",
        "List a tenant's API keys: ids, scopes, expiry; never the keys.",
        admin(),
        ("200", answer("The keys.", schema_ref("KeyList"))),
        &[
            UNAUTHORIZED,
            ("404", "`not_found`: no such tenant."),
            UNAVAILABLE,
            INTERNAL,
        ],
    ))
}

fn delete_key() -> Value {
    Value::Object(operation(
        "deleteKey",
        "tenants",
        "Revoke an API key at once.",
        admin(),
        ("204", json!({"description": "Revoked."})),
        &[
            UNAUTHORIZED,
            ("404", "`not_found`: no such API key."),
            UNAVAILABLE,
            INTERNAL,
        ],
    ))
}

fn set_jwt_keys() -> Value {
    let op = operation(
        "setJwtKeys",
        "tenants",
        "Register the public keys (EdDSA, RS256; PEM or JWKS) the tenant signs its own \
         subscriber tokens with, matched by `kid`. Replaces the registered set.",
        admin(),
        ("200", answer("The registered keys.", schema_ref("JwtKeys"))),
        &[
            ("400", "`invalid_key`, `invalid_request`."),
            UNAUTHORIZED,
            ("404", "`not_found`: no such tenant."),
            TOO_LARGE,
            UNSUPPORTED,
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "requestBody",
        body("Public keys.", schema_ref("SetJwtKeys")),
    )
}

fn mint_token() -> Value {
    let op = operation(
        "mintToken",
        "tokens",
        "Mint a subscriber token (development, the console, backends that do not sign their own).",
        tenant_key(),
        ("200", answer("The token.", schema_ref("Minted"))),
        &[
            (
                "400",
                "`invalid_request`: bad `sub`, `ttl_s` or `types`, or not the expected JSON shape.",
            ),
            UNAUTHORIZED,
            TOO_LARGE,
            UNSUPPORTED,
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "requestBody",
        body("The token's claims.", schema_ref("MintToken")),
    )
}

const UNKNOWN_TYPE: (&str, &str) = ("404", "`not_found`: unknown type or version.");

fn list_schemas() -> Value {
    Value::Object(operation(
        "listSchemas",
        "schemas",
        "The contract catalogue.",
        admin(),
        (
            "200",
            answer("One summary per type.", schema_ref("SchemaList")),
        ),
        &[UNAUTHORIZED],
    ))
}

fn get_schema() -> Value {
    Value::Object(operation(
        "getSchema",
        "schemas",
        "One type: its mode and every version's contract.",
        admin(),
        ("200", answer("The type.", schema_ref("TypeInfo"))),
        &[UNAUTHORIZED, UNKNOWN_TYPE],
    ))
}

fn register_schema() -> Value {
    let op = operation(
        "registerSchema",
        "schemas",
        "Register a new contract version (checked against the type's compatibility mode).",
        admin(),
        ("201", answer("Registered.", schema_ref("Registered"))),
        &[
            (
                "400",
                "`invalid_type`, `invalid_schema` (details point into the schema), `invalid_request`.",
            ),
            UNAUTHORIZED,
            (
                "409",
                "`incompatible_schema` (every reason, with a JSON pointer), `concurrent_registration`.",
            ),
            TOO_LARGE,
            UNSUPPORTED,
            ("422", "`limit_reached`: too many types or versions."),
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(op, "requestBody", json_schema_body())
}

fn get_schema_version() -> Value {
    Value::Object(operation(
        "getSchemaVersion",
        "schemas",
        "One version's contract.",
        admin(),
        ("200", answer("The contract.", schema_ref("Contract"))),
        &[UNAUTHORIZED, UNKNOWN_TYPE],
    ))
}

fn deprecate_schema_version() -> Value {
    Value::Object(operation(
        "deprecateSchemaVersion",
        "schemas",
        "Deprecate a version: new events can no longer use it; it is never removed.",
        admin(),
        ("200", answer("Deprecated.", schema_ref("Deprecated"))),
        &[UNAUTHORIZED, UNKNOWN_TYPE, UNAVAILABLE, INTERNAL],
    ))
}

fn set_compatibility() -> Value {
    let op = operation(
        "setCompatibility",
        "schemas",
        "Set a type's compatibility mode.",
        admin(),
        (
            "200",
            answer("The mode now in force.", schema_ref("ModeSet")),
        ),
        &[
            ("400", "`invalid_type`, `invalid_request`."),
            UNAUTHORIZED,
            TOO_LARGE,
            UNSUPPORTED,
            ("422", "`limit_reached`: too many types."),
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "requestBody",
        body("The new mode.", schema_ref("SetMode")),
    )
}

fn check_schema() -> Value {
    let op = operation(
        "checkSchema",
        "schemas",
        "Would this schema be accepted as the next version? Nothing is stored.",
        admin(),
        (
            "200",
            answer("The verdict and every reason.", schema_ref("CheckResult")),
        ),
        &[
            (
                "400",
                "`invalid_type`, `invalid_schema`, `invalid_request`.",
            ),
            UNAUTHORIZED,
            TOO_LARGE,
            UNSUPPORTED,
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(op, "requestBody", json_schema_body())
}

fn healthz() -> Value {
    Value::Object(operation(
        "healthz",
        "operations",
        "Liveness: the process is up.",
        json!([]),
        ("200", answer("Up.", schema_ref("Health"))),
        &[],
    ))
}

fn readyz() -> Value {
    let mut op = operation(
        "readyz",
        "operations",
        "Readiness: the event log and the tenant store answer.",
        json!([]),
        ("200", answer("Ready.", schema_ref("Readiness"))),
        &[],
    );
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        responses.insert(
            "503".into(),
            answer("A backend cannot be reached.", schema_ref("Readiness")),
        );
    }
    Value::Object(op)
}

fn prometheus_metrics() -> Value {
    Value::Object(operation(
        "metrics",
        "operations",
        "Prometheus metrics of this process: connections, events published, delivered and \
         replayed, gaps, slow-consumer disconnects, latency histograms, log backend health.",
        json!([]),
        (
            "200",
            json!({
                "description": "The Prometheus text exposition format, version 0.0.4.",
                "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
            }),
        ),
        &[],
    ))
}

fn stats() -> Value {
    Value::Object(operation(
        "stats",
        "operations",
        "A summary of this node: open connections, events published and delivered since \
         start, tenants with a live tail, log backend and readiness, uptime.",
        admin(),
        ("200", answer("The summary.", schema_ref("Stats"))),
        &[UNAUTHORIZED],
    ))
}

fn presence() -> Value {
    Value::Object(operation(
        "presence",
        "events",
        "The tenant's online users with their open stream counts, on every node (API key \
         with the `read` scope). A connection of a node that died stops counting after the \
         presence TTL.",
        tenant_key(),
        ("200", answer("Who is online.", schema_ref("Online"))),
        &[
            UNAUTHORIZED,
            ("403", "`forbidden`: the key lacks the `read` scope."),
            UNAVAILABLE,
        ],
    ))
}

fn openapi_document() -> Value {
    Value::Object(operation(
        "openapi",
        "operations",
        "This document.",
        json!([]),
        (
            "200",
            answer(
                "OpenAPI 3.1.",
                json!({"type": "object", "description": "An OpenAPI 3.1 document."}),
            ),
        ),
        &[],
    ))
}

#[cfg(test)]
mod tests;
