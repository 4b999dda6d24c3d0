//! The body of every error answer of the HTTP API.

use serde::{Deserialize, Serialize};

use crate::envelope::FieldError;

/// The body of every error answer (4xx and 5xx):
/// `{"error": "<code>", "message": "...", "details": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// A stable, machine-readable code, e.g. `unauthorized`,
    /// `invalid_event`, `tenant_exists`, `unavailable`.
    pub error: String,
    /// A human-readable explanation. Server-side failures (5xx) never
    /// carry internals here.
    pub message: String,
    /// Every problem found, each with a JSON pointer (schema violations,
    /// invalid fields, incompatibility reasons); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)?;
        for detail in &self.details {
            if detail.path.is_empty() {
                write!(f, "\n  {}", detail.message)?;
            } else {
                write!(f, "\n  {}: {}", detail.path, detail.message)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_left_out_when_empty_and_read_back_when_absent() {
        let body = ErrorBody {
            error: "not_found".into(),
            message: "no such endpoint".into(),
            details: vec![],
        };
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(
            json,
            r#"{"error":"not_found","message":"no such endpoint"}"#
        );
        assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), body);
        let with = ErrorBody {
            details: vec![FieldError::new("/data/total", "must be an integer")],
            ..body
        };
        assert_eq!(
            with.to_string(),
            "not_found: no such endpoint\n  /data/total: must be an integer"
        );
    }
}
