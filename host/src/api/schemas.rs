//! Event contracts (admin): `/v1/schemas/...`.
//!
//! | method and path                                  | answer                                   |
//! |--------------------------------------------------|------------------------------------------|
//! | `POST /v1/schemas/{type}/versions` (a schema)    | 201 `{"type","version"}`; 409 + reasons  |
//! | `GET /v1/schemas`                                | 200 `{"schemas":[summary...]}`           |
//! | `GET /v1/schemas/{type}`                         | 200 `{"type","mode","versions":[...]}`   |
//! | `GET /v1/schemas/{type}/versions/{n}`            | 200 the contract                         |
//! | `PUT /v1/schemas/{type}/compatibility` `{"mode"}`| 200 `{"type","mode"}`                    |
//! | `POST /v1/schemas/{type}/check` (a schema)       | 200 `{"compatible","messages"}`          |
//! | `DELETE /v1/schemas/{type}/versions/{n}`         | 200: the version is **deprecated**       |
//!
//! Versions are immutable and never removed: `DELETE` deprecates (new
//! events can no longer use the version; subscribers still get its view).
//! Errors: 400 invalid type name or schema (details point into the
//! schema), 404 unknown type or version, 409 incompatible (every reason,
//! each with a JSON pointer), 422 a limit reached, 503 store unavailable.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use beacon_protocol::api::schemas::{Deprecated, ModeSet, Registered, SchemaList, SetMode};
use serde_json::Value;

use super::{ApiError, auth};
use crate::schema::{CheckResult, Contract, Invalid, SchemaError, TypeInfo};
use crate::state::AppState;

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v)
        .map_err(|e| ApiError::new(e.status(), "invalid_request", e.body_text()))
}

/// `POST /v1/schemas/{type}/versions`
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    auth::admin(&state, &headers)?;
    let schema = json_body(body)?;
    let version = state.schemas.register(&kind, schema).await?;
    Ok((StatusCode::CREATED, Json(Registered { kind, version })))
}

/// `GET /v1/schemas`
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SchemaList>, ApiError> {
    auth::admin(&state, &headers)?;
    Ok(Json(SchemaList {
        schemas: state.schemas.list(),
    }))
}

/// `GET /v1/schemas/{type}`
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
) -> Result<Json<TypeInfo>, ApiError> {
    auth::admin(&state, &headers)?;
    state
        .schemas
        .get(&kind)
        .map(Json)
        .ok_or_else(|| SchemaError::UnknownType(kind).into())
}

/// `GET /v1/schemas/{type}/versions/{n}`
pub async fn get_version(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, version)): Path<(String, u32)>,
) -> Result<Json<Contract>, ApiError> {
    auth::admin(&state, &headers)?;
    state
        .schemas
        .get_version(&kind, version)
        .map(Json)
        .ok_or_else(|| SchemaError::UnknownVersion { kind, version }.into())
}

/// `PUT /v1/schemas/{type}/compatibility`
pub async fn set_mode(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: Result<Json<SetMode>, JsonRejection>,
) -> Result<Json<ModeSet>, ApiError> {
    auth::admin(&state, &headers)?;
    let SetMode { mode } = json_body(body)?;
    state.schemas.set_mode(&kind, mode).await?;
    Ok(Json(ModeSet { kind, mode }))
}

/// `POST /v1/schemas/{type}/check`
pub async fn check(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<CheckResult>, ApiError> {
    auth::admin(&state, &headers)?;
    let schema = json_body(body)?;
    Ok(Json(state.schemas.check(&kind, &schema).await?))
}

/// `DELETE /v1/schemas/{type}/versions/{n}`: deprecates the version.
pub async fn deprecate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, version)): Path<(String, u32)>,
) -> Result<Json<Deprecated>, ApiError> {
    auth::admin(&state, &headers)?;
    state.schemas.deprecate(&kind, version).await?;
    Ok(Json(Deprecated {
        kind,
        version,
        deprecated: true,
    }))
}

/// The answer to an event that fails its contract, for the publish path:
/// 422 with every violation (`/data/total: ...`); unknown type, unknown or
/// deprecated version are 422 too, with the field at fault as detail.
/// `at` is the event's pointer in the request (`""`, or `/3` in a batch).
pub fn invalid_event(invalid: &Invalid, at: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        invalid.code(),
        invalid.message(),
    )
    .with_details(invalid.details(at))
}

impl From<SchemaError> for ApiError {
    fn from(e: SchemaError) -> Self {
        let message = e.to_string();
        match e {
            SchemaError::InvalidType(_) => ApiError::bad_request(
                "invalid_type",
                "an event type is 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
            ),
            SchemaError::ReservedType(_) => ApiError::bad_request(
                "reserved_type",
                "`presence.*` and `beacon.*` types are Beacon's own and take no contract",
            ),
            SchemaError::InvalidSchema(details) => ApiError::bad_request(
                "invalid_schema",
                "the body is not an acceptable JSON Schema (draft 2020-12, local $refs only)",
            )
            .with_details(details),
            SchemaError::Incompatible { mode, reasons } => ApiError::new(
                StatusCode::CONFLICT,
                "incompatible_schema",
                format!(
                    "the schema is not compatible with the existing versions under mode {mode} \
                     ({} reason{}); POST .../check explains without storing, \
                     PUT .../compatibility changes the mode",
                    reasons.len(),
                    if reasons.len() == 1 { "" } else { "s" }
                ),
            )
            .with_details(reasons),
            SchemaError::Limit(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit_reached", message)
            }
            SchemaError::UnknownType(_) | SchemaError::UnknownVersion { .. } => {
                ApiError::not_found(message)
            }
            SchemaError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "concurrent_registration", message)
            }
            SchemaError::Backend(e) => {
                ApiError::backend("the contract store", "store_unavailable", &e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Settings;

    const ADMIN: &str = "admin-token-for-schema-tests";

    async fn call(
        state: &AppState,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        crate::api::testing::send_json(state, method, uri, auth, body.as_ref()).await
    }

    fn order(extra_required: &[&str]) -> Value {
        let mut required = vec!["orderId"];
        required.extend_from_slice(extra_required);
        json!({"type": "object", "properties": {
            "orderId": {"type": "string"}, "channel": {"type": "string"}}, "required": required})
    }

    #[tokio::test]
    async fn the_schema_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::defaults();
        settings.data_dir = dir.path().to_owned();
        settings.admin_token = Some(ADMIN.into());
        settings.builtin_catalog = false;
        let state = crate::server::start(settings, Default::default())
            .await
            .unwrap();
        let s = &state;
        let admin = Some(ADMIN);
        let base = "/v1/schemas/order.created";

        let (st, _) = call(s, "GET", "/v1/schemas", None, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, b) = call(
            s,
            "POST",
            &format!("{base}/versions"),
            admin,
            Some(order(&[])),
        )
        .await;
        assert_eq!(
            (st, &b),
            (
                StatusCode::CREATED,
                &json!({"type": "order.created", "version": 1})
            )
        );
        let (st, b) = call(
            s,
            "POST",
            &format!("{base}/check"),
            admin,
            Some(order(&["channel"])),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(b["compatible"], false);
        assert_eq!(b["messages"][0]["path"], "/properties/channel");
        let (st, b) = call(
            s,
            "POST",
            &format!("{base}/versions"),
            admin,
            Some(order(&["channel"])),
        )
        .await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["error"], "incompatible_schema");
        assert_eq!(b["details"][0]["path"], "/properties/channel");
        let (st, b) = call(
            s,
            "POST",
            &format!("{base}/versions"),
            admin,
            Some(json!({"type": 1})),
        )
        .await;
        assert_eq!(
            (st, &b["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_schema"))
        );
        assert_eq!(b["details"][0]["path"], "/type");
        let (st, b) = call(
            s,
            "PUT",
            &format!("{base}/compatibility"),
            admin,
            Some(json!({"mode": "NONE"})),
        )
        .await;
        assert_eq!((st, &b["mode"]), (StatusCode::OK, &json!("NONE")));
        let (st, _) = call(
            s,
            "PUT",
            &format!("{base}/compatibility"),
            admin,
            Some(json!({"mode": "nope"})),
        )
        .await;
        assert!(st.is_client_error());
        let (st, b) = call(
            s,
            "POST",
            &format!("{base}/versions"),
            admin,
            Some(order(&["channel"])),
        )
        .await;
        assert_eq!((st, &b["version"]), (StatusCode::CREATED, &json!(2)));
        let (st, b) = call(s, "DELETE", &format!("{base}/versions/1"), admin, None).await;
        assert_eq!((st, &b["deprecated"]), (StatusCode::OK, &json!(true)));
        let (st, b) = call(s, "GET", "/v1/schemas", admin, None).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(b["schemas"][0]["versions"], json!([1, 2]));
        assert_eq!(b["schemas"][0]["deprecated"], json!([1]));
        let (st, b) = call(s, "GET", base, admin, None).await;
        assert_eq!((st, &b["mode"]), (StatusCode::OK, &json!("NONE")));
        let (st, b) = call(s, "GET", &format!("{base}/versions/2"), admin, None).await;
        assert_eq!((st, &b["schema"]), (StatusCode::OK, &order(&["channel"])));
        let (st, _) = call(s, "GET", &format!("{base}/versions/9"), admin, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = call(s, "GET", "/v1/schemas/nope.x", admin, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, b) = call(
            s,
            "POST",
            "/v1/schemas/bad%20type/versions",
            admin,
            Some(order(&[])),
        )
        .await;
        assert_eq!(
            (st, &b["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_type"))
        );

        let e = invalid_event(
            &crate::schema::Invalid::UnknownType { kind: "x.y".into() },
            "/2",
        );
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.details[0].path, "/2/type");
        state.shutdown.cancel();
    }
}
