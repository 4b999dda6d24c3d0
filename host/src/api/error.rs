//! The one error type of the HTTP edge.
//!
//! Every error answers `{"error": "<code>", "message": "...", "details": [...]}`.
//! Server-side failures (5xx) never carry internals to the client: the
//! detail goes to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use beacon_protocol::error::ErrorBody;

use crate::auth::AuthError;
use crate::log::LogError;
use crate::plugins::store::StoreError as PluginStoreError;
use crate::tenants::StoreError;
use beacon_protocol::envelope::FieldError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.details = details;
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
            details: self.details,
        };
        (self.status, Json(body)).into_response()
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

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Unavailable(detail) => {
                tracing::warn!(%detail, "event log unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the event log is unavailable; retry later",
                )
            }
            LogError::Backend(detail) => {
                tracing::error!(%detail, "event log failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
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
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "tenant store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the tenant store is unavailable; retry later",
                )
            }
            StoreError::Backend(detail) => {
                tracing::error!(%detail, "tenant store failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
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
            PluginStoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "plugin store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the plugin store is unavailable; retry later",
                )
            }
            other => {
                tracing::error!(error = %other, "plugin store failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}
