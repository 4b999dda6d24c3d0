//! The one error type of the storage backends (event log, tenant, plugin,
//! contract and presence stores, rate limiter), whichever holds the data:
//! Redis, the embedded database or files.
//!
//! A [`BackendError`] says what the caller can do about a failure — retry
//! later ([`Unavailable`](BackendError::Unavailable)) or nothing
//! ([`Corrupt`](BackendError::Corrupt), [`Internal`](BackendError::Internal))
//! — and keeps the failure itself as its [`source()`](std::error::Error::source):
//! the `redis::RedisError`, `io::Error`, `redb` error or `serde_json::Error`.
//! At the HTTP edge an unavailable backend answers 503 with `Retry-After`,
//! the others 500 (see `api::error`).
//!
//! Outcomes with a meaning for the caller (a tenant that exists, a plugin
//! limit reached) stay in each store's own error enum, next to a
//! `Backend(BackendError)` variant.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The failure behind a [`BackendError`], typed by whoever raised it.
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// A backend failure, classified. `Display` includes the cause, so a log
/// line written with `%error` is complete; [`source()`](Error::source)
/// returns it for callers that inspect it.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot be reached now: down, connection refused or
    /// lost, no answer in time. Callers may retry later.
    #[error("unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The backend answered with data that cannot be read back (a record
    /// that does not parse, a reply of the wrong shape).
    #[error("corrupt data: {0}")]
    Corrupt(#[source] Cause),
    /// Any other failure of the backend (a command refused, a disk error,
    /// a bad configuration).
    #[error("internal failure: {0}")]
    Internal(#[source] Cause),
}

impl BackendError {
    /// A Redis error: [`Unavailable`](Self::Unavailable) when Redis cannot
    /// be reached now, else [`Internal`](Self::Internal).
    pub fn redis(e: redis::RedisError) -> Self {
        if crate::redis_conn::is_unavailable(&e) {
            BackendError::Unavailable(Box::new(e))
        } else {
            BackendError::Internal(Box::new(e))
        }
    }

    /// No answer within `after`.
    pub fn timed_out(after: Duration) -> Self {
        BackendError::Unavailable(Box::new(TimedOut(after)))
    }

    /// Cannot be reached now.
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        BackendError::Unavailable(cause.into())
    }

    /// Stored data that cannot be read back.
    pub fn corrupt(cause: impl Into<Cause>) -> Self {
        BackendError::Corrupt(cause.into())
    }

    /// Any other failure.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        BackendError::Internal(cause.into())
    }

    /// The same error, its cause wrapped with what was being done (and
    /// where), for the log line: `"{context}: {cause}"`.
    pub fn context(self, context: impl fmt::Display) -> Self {
        let wrap = |source| -> Cause {
            Box::new(Context {
                context: context.to_string(),
                source,
            })
        };
        match self {
            BackendError::Unavailable(c) => BackendError::Unavailable(wrap(c)),
            BackendError::Corrupt(c) => BackendError::Corrupt(wrap(c)),
            BackendError::Internal(c) => BackendError::Internal(wrap(c)),
        }
    }

    /// The same failure for each of several callers (the operations of one
    /// failed batch), with the same class and cause.
    pub fn shared(e: &Arc<Self>) -> Self {
        let cause: Cause = Box::new(Shared(Arc::clone(e)));
        match **e {
            BackendError::Unavailable(_) => BackendError::Unavailable(cause),
            BackendError::Corrupt(_) => BackendError::Corrupt(cause),
            BackendError::Internal(_) => BackendError::Internal(cause),
        }
    }

    /// The cause.
    fn inner(&self) -> &(dyn Error + Send + Sync + 'static) {
        match self {
            BackendError::Unavailable(c) | BackendError::Corrupt(c) | BackendError::Internal(c) => {
                c.as_ref()
            }
        }
    }

    /// Whether the caller may retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackendError::Unavailable(_))
    }
}

/// The embedded database's failures are internal: it is a local file.
impl From<redb::Error> for BackendError {
    fn from(e: redb::Error) -> Self {
        BackendError::Internal(Box::new(e))
    }
}

macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for BackendError {
            fn from(e: $error) -> Self {
                BackendError::from(redb::Error::from(e))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A stored record that does not parse.
impl From<serde_json::Error> for BackendError {
    fn from(e: serde_json::Error) -> Self {
        BackendError::Corrupt(Box::new(e))
    }
}

impl From<std::io::Error> for BackendError {
    fn from(e: std::io::Error) -> Self {
        BackendError::Internal(Box::new(e))
    }
}

/// A cause with what was being done when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct Context {
    context: String,
    #[source]
    source: Cause,
}

/// The cause of a [`BackendError`] shared by several callers.
#[derive(Debug)]
struct Shared(Arc<BackendError>);

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0.inner(), f)
    }
}

impl Error for Shared {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.inner().source()
    }
}

/// A backend call that got no answer in time.
#[derive(Debug)]
pub struct TimedOut(pub Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no answer within {} ms", self.0.as_millis())
    }
}

impl Error for TimedOut {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_the_source_and_redis_errors_are_classified() {
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let e = BackendError::redis(refused);
        assert!(e.is_unavailable(), "{e}");
        let source = e.source().expect("a source");
        assert!(source.downcast_ref::<redis::RedisError>().is_some());

        let e = BackendError::from(serde_json::from_str::<u8>("x").unwrap_err());
        assert!(matches!(e, BackendError::Corrupt(_)), "{e}");
        assert!(e.source().unwrap().is::<serde_json::Error>());

        let e = BackendError::timed_out(Duration::from_millis(1500));
        assert!(e.is_unavailable());
        assert_eq!(e.to_string(), "unavailable: no answer within 1500 ms");
    }
}
