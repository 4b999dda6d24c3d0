//! The one error type of the HTTP edge.
//!
//! Every error answers `{"error": "<code>", "message": "...", "details": [...]}`.
//! Server-side failures (5xx) never carry internals to the client: the
//! detail goes to the log.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use beacon_protocol::error::ErrorBody;

use crate::auth::AuthError;
use crate::backend::BackendError;
use crate::plugins::store::StoreError as PluginStoreError;
use crate::tenants::StoreError;
use beacon_protocol::envelope::FieldError;

/// How long a client should wait before retrying after a backend outage
/// (`Retry-After` on 503): about one reconnection attempt of the stores.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<FieldError>,
    /// Extra response headers (`Retry-After` on 429 and 503). A list, not
    /// a `HeaderMap`: most errors carry none, and `Result<_, ApiError>`
    /// stays small.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.details = details;
        self
    }

    /// Adds `Retry-After: <secs>` (whole seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.headers
            .push((header::RETRY_AFTER, HeaderValue::from(secs)));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The answer to a failed backend call: 503 `code` with `Retry-After`
    /// when `store` (named for the client, e.g. "the event log") cannot be
    /// reached now, else 500 `internal`. The detail goes to the log only.
    pub fn backend(store: &str, code: &'static str, e: &BackendError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "{store} unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                format!("{store} is unavailable; retry later"),
            )
            .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
        } else {
            tracing::error!(error = %e, "{store} failure");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
            details: self.details,
        };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

/// A JSON body axum could not take: too large (413), not JSON (415), or
/// not the expected shape (400, with serde's explanation).
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                e.body_text(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send `Content-Type: application/json`",
            ),
            _ => ApiError::bad_request("invalid_request", e.body_text()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
    }
}

/// A backend error of a store without domain errors (event log, presence
/// store). Handlers that know which store failed name it with
/// [`ApiError::backend`].
impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        ApiError::backend("a storage backend", "unavailable", &e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Exists(id) => ApiError::new(
                StatusCode::CONFLICT,
                "tenant_exists",
                format!("tenant {id:?} already exists"),
            ),
            StoreError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            StoreError::Limit(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit_reached", message)
            }
            StoreError::Backend(e) => ApiError::backend("the tenant store", "unavailable", &e),
        }
    }
}

impl From<PluginStoreError> for ApiError {
    fn from(e: PluginStoreError) -> Self {
        match e {
            PluginStoreError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            PluginStoreError::Limit(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit_reached", message)
            }
            PluginStoreError::Conflict(message) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{message}; retry the request"),
            ),
            PluginStoreError::Backend(e) => {
                ApiError::backend("the plugin store", "unavailable", &e)
            }
        }
    }
}
