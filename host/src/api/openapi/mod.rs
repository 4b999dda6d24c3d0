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
            "description": "Tenants publish JSON events, checked against their type's contract, \
                optionally shaped by the tenant's WebAssembly plugins, and stored in a durable, \
                replayable log; subscribers receive them over Server-Sent \
                Events and resume exactly with `Last-Event-ID`. Every error answers an \
                `ErrorBody`. The JSON Schemas of these types are also published as files under \
                `schemas/beacon/`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "events", "description": "Publishing and subscribing."},
            {"name": "tenants", "description": "Tenant administration (admin token)."},
            {"name": "tokens", "description": "Subscriber tokens (tenant API key)."},
            {"name": "plugins", "description": "The tenant's WebAssembly plugins (tenant API key, \
                `plugins` scope) and their dead letters (`read` scope)."},
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
            "description": "A tenant API key (`bk_...`), shown once when it is created. Each key \
                has scopes: `publish` (publish, mint tokens), `plugins` (manage plugins), `read` \
                (presence, dead letters, stats).",
        },
        "subscriberToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A subscriber JWT (HS256, signed with the tenant's signing secret; \
                claims `sub`, `tenant`, `exp`, optional `types`, `subjects` and the tenant's own \
                claims for its deliver plugins).",
        },
        "subscriberTokenQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "access_token",
            "description": "The subscriber JWT as a query parameter, for `EventSource`, which \
                cannot set headers.",
        },
        "subscriberTokenCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": "beacon_token",
            "description": "The subscriber JWT as a cookie, sent by \
                `EventSource(url, {withCredentials: true})`. From a page of another origin, only \
                if that origin is in the tenant's `cors_origins` or the server's \
                `--cors-origins` (otherwise 403 `origin_not_allowed`).",
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
        "PluginName": {
            "name": "name", "in": "path", "required": true,
            "description": "The plugin's name.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-z0-9][a-z0-9-]*$"},
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
    "`unavailable` / `store_unavailable`: a backend cannot be reached; retry after \
     `Retry-After` seconds.",
);
const INTERNAL: (&str, &str) = ("500", "`internal`: details are in the server log.");

fn paths() -> Value {
    json!({
        "/v1/events": {"post": publish()},
        "/v1/stream": {"get": stream(), "options": stream_preflight()},
        "/v1/presence": {"get": presence()},
        "/v1/plugins": {"get": list_plugins()},
        "/v1/plugins/{name}": {
            "parameters": [param_ref("PluginName")],
            "get": get_plugin(),
            "put": activate_plugin(),
            "delete": delete_plugin(),
        },
        "/v1/plugins/{name}/versions": {
            "parameters": [param_ref("PluginName")],
            "post": upload_plugin_version(),
        },
        "/v1/plugins/{name}/logs": {"parameters": [param_ref("PluginName")], "get": plugin_logs()},
        "/v1/plugins/{name}/test": {"parameters": [param_ref("PluginName")], "post": test_plugin()},
        "/v1/dead-letters": {"get": dead_letters()},
        "/v1/tenants": {"post": create_tenant(), "get": list_tenants()},
        "/v1/tenants/{id}": {
            "parameters": [param_ref("TenantId")],
            "get": get_tenant(),
            "patch": update_tenant(),
            "delete": delete_tenant(),
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
        "/": {"get": console_page()},
        "/console/{file}": {
            "parameters": [{
                "name": "file", "in": "path", "required": true,
                "description": "A file of the console, e.g. `app.js`.",
                "schema": {"type": "string", "minLength": 1},
            }],
            "get": console_file(),
        },
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
                "description": "Stored: `Published` for one event, `PublishedBatch` for an array \
                    (with a `null` id for each event the tenant's plugins dropped or sent to dead \
                    letters, listed in `skipped`).",
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
                 `/data/...`), `unknown_type`, `unknown_version`, `deprecated_version`; or \
                 `rejected_by_plugin`: a plugin of the tenant refused it (details name the \
                 plugin and its reason, per event). Nothing is stored.",
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
            "200".into(),
            answer(
                "One event that a plugin dropped or sent to dead letters (`outcome`): nothing \
                 was stored.",
                schema_ref("NotStored"),
            ),
        );
        responses.insert(
            "207".into(),
            answer(
                "With `partial=true`, some events of the batch were refused: the others were \
                 stored, or kept out by plugins (`skipped`).",
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
        json!([
            {"subscriberToken": []},
            {"subscriberTokenQuery": []},
            {"subscriberTokenCookie": []},
        ]),
        (
            "200",
            json!({
                "description": "An endless `text/event-stream`: a `: beacon` comment, a `retry:` \
                    hint, `beacon.connected`, then events (`id:` the event id, `event:` its type, \
                    `data:` its `Envelope`), heartbeat comments and `beacon.*` control events.",
                "headers": {
                    "Cache-Control": {"schema": {"type": "string", "const": "no-cache"}},
                    "X-Accel-Buffering": {"schema": {"type": "string", "const": "no"}},
                    "Access-Control-Allow-Origin": {
                        "description": "The request's `Origin` when it is in the tenant's \
                            `cors_origins` or the server's `--cors-origins` (then with \
                            `Access-Control-Allow-Credentials: true` and `Vary: Origin`); `*` when \
                            neither lists any origin; absent otherwise, and without `Origin`.",
                        "schema": {"type": "string"},
                    },
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
                "`forbidden`: the token's `types` or `subjects` claim is not valid; \
                 `tenant_disabled`; `origin_not_allowed`: the token came from the `beacon_token` \
                 cookie and the request's `Origin` is in neither the tenant's `cors_origins` nor \
                 the server's `--cors-origins` (nothing was opened; send the token in the \
                 `Authorization` header or as `access_token`, or list the origin).",
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
            {
                "name": "Origin", "in": "header", "required": false,
                "description": "Sent by browsers for pages of another origin; decides the CORS \
                    headers, and with the `beacon_token` cookie must be a listed origin.",
                "schema": {"type": "string"},
            },
        ]),
    );
    Value::Object(op)
}

fn stream_preflight() -> Value {
    json!({
        "operationId": "streamPreflight",
        "tags": ["events"],
        "summary": "CORS preflight of the stream, granted to every origin: whether a page may \
            read the stream is decided by the `GET` answer, per tenant.",
        "security": [],
        "responses": {
            "204": {
                "description": "The request's `Origin` is echoed in \
                    `Access-Control-Allow-Origin` with `Access-Control-Allow-Credentials: true`, \
                    `Access-Control-Allow-Methods: GET`, `Access-Control-Allow-Headers: \
                    authorization, last-event-id`, `Access-Control-Max-Age: 600` and \
                    `Vary: Origin`.",
            },
        },
    })
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
                "The connection was replaced by a newer one of its user, or its tenant was \
                 deleted; the stream ends.",
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
                "`invalid_tenant_id`, `invalid_limits` (a limit of 0), `invalid_origin` (an \
                 entry of `cors_origins` is not an origin such as `https://app.example.com`, or \
                 is longer than 253 characters, or there are more than 50), or \
                 `invalid_request` (not the expected JSON shape).",
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
        "Disable or re-enable a tenant, change whether it may publish unregistered types, its \
         limits, the browser origins that may read its stream with credentials, or whether its \
         stream gets presence events.",
        admin(),
        ("200", answer("The tenant now.", schema_ref("TenantInfo"))),
        &[
            (
                "400",
                "`invalid_limits` (a limit of 0), `invalid_origin` (an entry of `cors_origins` \
                 is not an origin such as `https://app.example.com`, or is longer than 253 \
                 characters, or there are more than 50), or `invalid_request` (not the expected \
                 JSON shape).",
            ),
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

fn delete_tenant() -> Value {
    Value::Object(operation(
        "deleteTenant",
        "tenants",
        "Delete a tenant and everything it owns: its events, dead letters, plugins, API keys, \
         signing secret and JWT keys. It is disabled first, so its publishes and new streams \
         are refused at once; its open streams end with `beacon.closed` (reason \
         `tenant_deleted`). The id may then be taken again by a new, empty tenant. A failed \
         deletion leaves the tenant disabled: ask again.",
        admin(),
        ("204", json!({"description": "Deleted."})),
        &[
            UNAUTHORIZED,
            ("404", "`not_found`: no such tenant."),
            UNAVAILABLE,
            INTERNAL,
        ],
    ))
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
                "`invalid_request`: bad `sub`, `ttl_s`, `types` or `subjects`, `claims` that set \
                 a reserved claim or exceed 2048 bytes, or not the expected JSON shape.",
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
        "With the admin token, a summary of this node: open connections, events published and \
         delivered since start, tenants with a live tail, log backend and readiness, uptime. \
         With a tenant API key (`read` scope), the counters of the tenant's plugins on this node.",
        json!([{"adminToken": []}, {"tenantApiKey": []}]),
        (
            "200",
            answer(
                "`Stats` for the admin token, `TenantStats` for an API key.",
                json!({"oneOf": [schema_ref("Stats"), schema_ref("TenantStats")]}),
            ),
        ),
        &[
            UNAUTHORIZED,
            (
                "403",
                "`forbidden`: the key lacks the `read` scope; `tenant_disabled`.",
            ),
            UNAVAILABLE,
            INTERNAL,
        ],
    ))
}

fn presence() -> Value {
    let mut op = operation(
        "presence",
        "events",
        "The tenant's online users with their open stream counts, on every node, and the `seq` \
         of the last presence change. With an API key (`read` scope): every user. With a \
         subscriber token, when the tenant has `presence_events` on: the users whose \
         `presence.*` events the token may receive (its `types` claim must allow them; its \
         `subjects` claim limits the users to those whose `user/<sub>` it allows). A \
         connection of a node that died stops counting after the presence TTL.",
        json!([
            {"tenantApiKey": []},
            {"subscriberToken": []},
            {"subscriberTokenQuery": []},
        ]),
        ("200", answer("Who is online.", schema_ref("Online"))),
        &[
            ("400", "`invalid_query`."),
            UNAUTHORIZED,
            (
                "403",
                "`forbidden`: the key lacks the `read` scope; the tenant has no presence \
                 events, or the token's `types` claim does not allow `presence.*`; \
                 `tenant_disabled`.",
            ),
            UNAVAILABLE,
        ],
    );
    op.insert(
        "parameters".into(),
        json!([{
            "name": "access_token", "in": "query", "required": false,
            "description": "A subscriber token, instead of `Authorization`.",
            "schema": {"type": "string"},
        }]),
    );
    Value::Object(op)
}

const PLUGINS_SCOPE: (&str, &str) = (
    "403",
    "`forbidden`: the key lacks the `plugins` scope; `tenant_disabled`.",
);
const INVALID_NAME: (&str, &str) = (
    "400",
    "`invalid_name`: not 1-63 characters of `a-z 0-9 -` starting with a letter or digit.",
);
const UNKNOWN_PLUGIN: (&str, &str) = ("404", "`not_found`: no such plugin.");

fn list_plugins() -> Value {
    Value::Object(operation(
        "listPlugins",
        "plugins",
        "The tenant's plugins: versions, activation, quarantine, and counters on the node that \
         answers.",
        tenant_key(),
        (
            "200",
            answer("Every plugin, by name.", schema_ref("PluginList")),
        ),
        &[UNAUTHORIZED, PLUGINS_SCOPE, UNAVAILABLE, INTERNAL],
    ))
}

fn get_plugin() -> Value {
    Value::Object(operation(
        "getPlugin",
        "plugins",
        "One plugin: its versions, activation, quarantine, and counters on the node that answers.",
        tenant_key(),
        ("200", answer("The plugin.", schema_ref("PluginView"))),
        &[
            INVALID_NAME,
            UNAUTHORIZED,
            PLUGINS_SCOPE,
            UNKNOWN_PLUGIN,
            UNAVAILABLE,
            INTERNAL,
        ],
    ))
}

fn activate_plugin() -> Value {
    let op = operation(
        "activatePlugin",
        "plugins",
        "Activate a version (an older one rolls back): which types it runs on, in which order, \
         what happens when it fails. Takes effect on this node at once and on the others within \
         a quarter second; lifts a quarantine.",
        tenant_key(),
        (
            "200",
            answer(
                "The plugin, with its new activation.",
                schema_ref("PluginView"),
            ),
        ),
        &[
            (
                "400",
                "`invalid_request` (not the expected JSON shape), `invalid_name`, \
                 `invalid_types` (a bad type pattern), `invalid_limits` (a limit of 0).",
            ),
            UNAUTHORIZED,
            PLUGINS_SCOPE,
            UNKNOWN_PLUGIN,
            TOO_LARGE,
            UNSUPPORTED,
            (
                "422",
                "`unknown_version`: the plugin has no such version; upload it first.",
            ),
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "requestBody",
        body("The version and how it runs.", schema_ref("Activate")),
    )
}

fn delete_plugin() -> Value {
    Value::Object(operation(
        "deletePlugin",
        "plugins",
        "Remove a plugin: every version, its activation and quarantine. It stops running at \
         once on this node, within a quarter second on the others.",
        tenant_key(),
        ("204", json!({"description": "Removed."})),
        &[
            INVALID_NAME,
            UNAUTHORIZED,
            PLUGINS_SCOPE,
            UNKNOWN_PLUGIN,
            UNAVAILABLE,
            INTERNAL,
        ],
    ))
}

fn upload_plugin_version() -> Value {
    let mut op = operation(
        "uploadPluginVersion",
        "plugins",
        "Upload a WebAssembly component as the plugin's next version (creating the plugin if \
         needed). It is validated and compiled first; versions are immutable and named by \
         their digest. Uploading the same bytes again returns the existing version.",
        tenant_key(),
        ("201", answer("A new version.", schema_ref("Uploaded"))),
        &[
            (
                "400",
                "`invalid_plugin`: the component cannot be a plugin (details give every \
                 reason); `invalid_name`, `invalid_body`.",
            ),
            UNAUTHORIZED,
            PLUGINS_SCOPE,
            (
                "413",
                "`plugin_too_large`: the component exceeds `--max-plugin-bytes` (default 24 MiB).",
            ),
            (
                "415",
                "`unsupported_media_type`: the body is not `application/wasm`.",
            ),
            (
                "422",
                "`limit_reached`: the tenant holds 32 plugins, or the plugin 100 versions \
                 (delete it to start over).",
            ),
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        responses.insert(
            "200".into(),
            answer(
                "These bytes were already a version of the plugin: that version; nothing changed.",
                schema_ref("Uploaded"),
            ),
        );
    }
    with(
        op,
        "requestBody",
        json!({
            "required": true,
            "description": "The component's bytes: a WebAssembly component implementing a \
                world of the `beacon:plugin` package (`wit/plugin.wit`), at most \
                `--max-plugin-bytes`.",
            "content": {"application/wasm": {
                "schema": {"type": "string", "contentMediaType": "application/wasm"},
            }},
        }),
    )
}

fn plugin_logs() -> Value {
    let op = operation(
        "pluginLogs",
        "plugins",
        "The plugin's recent log on the node that answers: its `log` lines, its stdout and \
         stderr, and Beacon's notes about it (failures, quarantine, activation).",
        tenant_key(),
        (
            "200",
            answer("The newest lines, oldest first.", schema_ref("Logs")),
        ),
        &[
            ("400", "`invalid_name`, `invalid_query`."),
            UNAUTHORIZED,
            PLUGINS_SCOPE,
            UNKNOWN_PLUGIN,
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "parameters",
        json!([{
            "name": "limit", "in": "query", "required": false,
            "description": "How many of the newest lines; at most 500 are kept (a larger \
                value returns them all).",
            "schema": {"type": "integer", "minimum": 0, "default": 100},
        }]),
    )
}

fn test_plugin() -> Value {
    let mut op = operation(
        "testPlugin",
        "plugins",
        "Dry-run one hook of a version on a fresh instance, with the limits the plugin runs \
         with: nothing is stored, no counter moves, the plugin's log is left alone.",
        tenant_key(),
        (
            "200",
            answer(
                "The outcome, the plugin's output and log lines, and the call's time (a failure \
                 of the plugin is `outcome: failed`).",
                schema_ref("TestResult"),
            ),
        ),
        &[
            (
                "400",
                "`invalid_query` (also: a `convert` test without `to_version`), `invalid_hook` \
                 (the version does not export it), `invalid_event` (details point at each \
                 field), `invalid_request` (not JSON, not a `DeliverTest`, more than 100 \
                 subscriber groups), `invalid_name`.",
            ),
            UNAUTHORIZED,
            PLUGINS_SCOPE,
            ("404", "`not_found`: no such plugin or version."),
            TOO_LARGE,
            UNSUPPORTED,
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    op.insert(
        "parameters".into(),
        json!([{
            "name": "version", "in": "query", "required": false,
            "description": "The version to test (default: the active one, else the newest).",
            "schema": {"type": "integer", "minimum": 1, "maximum": u32::MAX},
        }, {
            "name": "hook", "in": "query", "required": false,
            "description": "The hook to call (default: the first the version exports, in this \
                order).",
            "schema": {"type": "string", "enum": ["publish", "convert", "deliver"]},
        }, {
            "name": "to_version", "in": "query", "required": false,
            "description": "For `convert`: the contract version to convert to (required then).",
            "schema": {"type": "integer", "minimum": 1, "maximum": u32::MAX},
        }]),
    );
    with(
        op,
        "requestBody",
        body(
            "An event, as `POST /v1/events` takes it; for the `deliver` hook, a `DeliverTest` \
             (the event and the subscriber groups).",
            json!({"oneOf": [schema_ref("PublishEvent"), schema_ref("DeliverTest")]}),
        ),
    )
}

fn dead_letters() -> Value {
    let op = operation(
        "deadLetters",
        "plugins",
        "The events the tenant's `fail_closed` plugins failed on (or held back while \
         quarantined), oldest first, with the plugin, its version and the reason (API key with \
         the `read` scope). Kept with the event log's retention.",
        tenant_key(),
        ("200", answer("One page.", schema_ref("DeadLetterPage"))),
        &[
            (
                "400",
                "`invalid_query` (also: `limit` outside 1-100), `invalid_cursor`.",
            ),
            UNAUTHORIZED,
            (
                "403",
                "`forbidden`: the key lacks the `read` scope; `tenant_disabled`.",
            ),
            UNAVAILABLE,
            INTERNAL,
        ],
    );
    with(
        op,
        "parameters",
        json!([{
            "name": "after", "in": "query", "required": false,
            "description": "The `next` cursor of the previous page, or a letter's `id` (default: \
                from the oldest letter).",
            "schema": {"type": "string"},
        }, {
            "name": "limit", "in": "query", "required": false,
            "description": "Letters per page.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
        }]),
    )
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

fn console_page() -> Value {
    Value::Object(operation(
        "consolePage",
        "operations",
        "The web console (`docs/console.md`): sign in with a tenant API key or the admin token. \
         Served with a `Content-Security-Policy` that allows this origin only.",
        json!([]),
        (
            "200",
            json!({
                "description": "The console's HTML page.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }),
        ),
        &[],
    ))
}

fn console_file() -> Value {
    Value::Object(operation(
        "consoleFile",
        "operations",
        "A script (`text/javascript`), style sheet (`text/css`) or icon (`image/svg+xml`) of \
         the web console; `Cache-Control: no-cache` with an `ETag` (304 while unchanged).",
        json!([]),
        (
            "200",
            json!({
                "description": "The file.",
                "content": {
                    "text/javascript": {"schema": {"type": "string"}},
                    "text/css": {"schema": {"type": "string"}},
                    "image/svg+xml": {"schema": {"type": "string"}},
                },
            }),
        ),
        &[("404", "`not_found`: the console has no such file.")],
    ))
}

#[cfg(test)]
mod tests;
