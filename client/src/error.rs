//! What can go wrong: one [`ClientError`] for every call, and the node's
//! own refusals as [`HttpError`] (status, Beacon's error body,
//! `Retry-After`).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use beacon_protocol::ErrorBody;
use beacon_protocol::envelope::FieldError;
use beacon_protocol::sse::LineTooLong;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest piece of an error answer that is not Beacon's (a proxy's page)
/// kept, in characters.
pub const MAX_SHOWN_TEXT: usize = 500;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error status.
    #[error("{0}")]
    Http(Box<HttpError>),
    /// The node could not be reached, or the connection failed before an
    /// answer came.
    #[error("cannot reach {url}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// No answer within the time limit (`source` is absent when the limit
    /// was the client's own, not the HTTP stack's).
    #[error("no answer from {url} within {after:?}")]
    Timeout {
        url: String,
        after: Duration,
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The answer broke off while it was read.
    #[error("reading the answer to {request}")]
    Read {
        request: String,
        #[source]
        source: reqwest::Error,
    },
    /// The answer is larger than the client reads (see
    /// [`ClientBuilder::max_answer_bytes`](crate::ClientBuilder::max_answer_bytes)).
    #[error("the answer to {request} exceeds {limit} bytes")]
    TooLarge { request: String, limit: usize },
    /// The answer is not the JSON the call expects.
    #[error("{request} answered {status} with an unexpected body")]
    Decode {
        request: String,
        status: StatusCode,
        #[source]
        source: serde_json::Error,
    },
    /// A request body cannot be written as JSON (a map with keys that are
    /// not strings, for one).
    #[error("the request body cannot be written as JSON")]
    Encode(#[source] serde_json::Error),
    /// The base URL is not one this client can use.
    #[error("{url}: {reason}")]
    Url { url: String, reason: String },
    /// A value meant for a request header is not a valid header value.
    #[error("{name} {value:?} is not a valid header value")]
    Header { name: &'static str, value: String },
    /// The HTTP client could not be built.
    #[error("building the HTTP client")]
    Build(#[source] reqwest::Error),
    /// The event stream is not one: a line longer than the parser reads.
    #[error("the event stream is malformed")]
    Stream(#[from] LineTooLong),
    /// The node ended the stream because the subscriber token expired,
    /// and the stream has no [`TokenSource`](crate::TokenSource) to get
    /// another. Reconnect with a fresh token from `last_event_id`.
    #[error("the subscriber token expired")]
    TokenExpired { last_event_id: Option<String> },
    /// The stream's [`TokenSource`](crate::TokenSource) failed.
    #[error("fetching a fresh subscriber token failed")]
    TokenSource(#[source] Box<ClientError>),
}

impl ClientError {
    /// The node's refusal, when that is what this is.
    pub fn http(&self) -> Option<&HttpError> {
        match self {
            ClientError::Http(e) => Some(e),
            _ => None,
        }
    }

    /// The status of the node's refusal, when that is what this is.
    pub fn status(&self) -> Option<StatusCode> {
        self.http().map(|e| e.status)
    }

    /// A failed request: a timeout, or an unreachable node.
    pub(crate) fn transport(url: &str, error: reqwest::Error, after: Duration) -> ClientError {
        if error.is_timeout() {
            ClientError::Timeout {
                url: url.to_owned(),
                after,
                source: Some(error),
            }
        } else {
            ClientError::Connect {
                url: url.to_owned(),
                source: error,
            }
        }
    }

    /// A failure while an answer's body was read.
    pub(crate) fn reading(request: String, error: reqwest::Error, after: Duration) -> ClientError {
        if error.is_timeout() {
            ClientError::Timeout {
                url: request,
                after,
                source: Some(error),
            }
        } else {
            ClientError::Read {
                request,
                source: error,
            }
        }
    }
}

impl From<HttpError> for ClientError {
    fn from(e: HttpError) -> Self {
        ClientError::Http(Box::new(e))
    }
}

/// A non-2xx answer: its status, Beacon's error body when it is one, and
/// `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: StatusCode,
    /// `{"error", "message", "details"}`; `None` when the answer is not
    /// Beacon's (a proxy's error page, an empty body).
    pub body: Option<ErrorBody>,
    /// The start of an answer that is not Beacon's, trimmed, at most
    /// [`MAX_SHOWN_TEXT`] characters; empty otherwise.
    pub text: String,
    /// The answer's `Retry-After` (delta-seconds), for a 429 or 503.
    pub retry_after: Option<Duration>,
}

impl HttpError {
    /// Reads an error answer.
    pub(crate) fn from_answer(status: StatusCode, headers: &HeaderMap, bytes: &[u8]) -> HttpError {
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(body) => HttpError {
                status,
                body: Some(body),
                text: String::new(),
                retry_after,
            },
            Err(_) => HttpError {
                status,
                body: None,
                text: String::from_utf8_lossy(bytes)
                    .trim()
                    .chars()
                    .take(MAX_SHOWN_TEXT)
                    .collect(),
                retry_after,
            },
        }
    }

    /// Beacon's error code (`invalid_event`, `not_found`, ...); empty
    /// when the answer is not Beacon's.
    pub fn code(&self) -> &str {
        self.body.as_ref().map_or("", |b| b.error.as_str())
    }

    /// The node's explanation; for an answer that is not Beacon's, its
    /// status and the start of its text.
    pub fn message(&self) -> Cow<'_, str> {
        match &self.body {
            Some(body) => Cow::Borrowed(&body.message),
            None if self.text.is_empty() => {
                Cow::Owned(format!("the node answered {}", self.status))
            }
            None => Cow::Owned(format!("the node answered {}: {}", self.status, self.text)),
        }
    }

    /// Every problem the node named, each with its JSON pointer.
    pub fn details(&self) -> &[FieldError] {
        self.body.as_ref().map_or(&[], |b| b.details.as_slice())
    }
}

/// `message (status code)`, then one line per detail.
impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())?;
        if !self.code().is_empty() {
            write!(f, " ({} {})", self.status.as_u16(), self.code())?;
        }
        for detail in self.details() {
            if detail.path.is_empty() {
                write!(f, "\n  {}", detail.message)?;
            } else {
                write!(f, "\n  {}: {}", detail.path, detail.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn beacon_error_answers_and_others_are_read() {
        let body = br#"{"error":"incompatible_schema","message":"not compatible","details":[{"path":"/properties/a","message":"now required"}]}"#;
        let e = HttpError::from_answer(StatusCode::CONFLICT, &HeaderMap::new(), body);
        assert_eq!(e.code(), "incompatible_schema");
        assert_eq!(
            e.to_string(),
            "not compatible (409 incompatible_schema)\n  /properties/a: now required"
        );

        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let page = format!("  upstream down{}", "!".repeat(2 * MAX_SHOWN_TEXT));
        let e = HttpError::from_answer(StatusCode::BAD_GATEWAY, &headers, page.as_bytes());
        assert_eq!(
            (e.code(), e.retry_after),
            ("", Some(Duration::from_secs(7)))
        );
        assert!(
            e.message()
                .starts_with("the node answered 502 Bad Gateway: upstream down!")
        );
        assert_eq!(e.text.chars().count(), MAX_SHOWN_TEXT);
        let empty = HttpError::from_answer(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"");
        assert_eq!(empty.to_string(), "the node answered 502 Bad Gateway");
    }
}
