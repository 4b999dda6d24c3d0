//! `GET /v1/stream` as a [`futures::Stream`] that behaves like a browser's
//! `EventSource`, and then some: after a dropped connection, a silent one,
//! `beacon.overflow`, `beacon.shutdown` or `beacon.token_expired` it
//! reconnects on its own and resumes with `Last-Event-ID`, so no event is
//! missed or seen twice; it stops for good on `beacon.closed`.
//!
//! - [`backoff`]: the delays between attempts (the server's `retry:` is a
//!   floor).
//! - `retry`: when to reconnect, refresh the token or give up.
//! - [`token`]: where fresh subscriber tokens come from.
//! - `driver`: the connections, read with the protocol's one SSE parser.
//!
//! Each item says what happened, reconnections included, so a caller can
//! show them; none needs acting on.

pub mod backoff;
mod driver;
mod retry;
pub mod token;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use beacon_protocol::{Control, Envelope};
use futures::stream::{BoxStream, Stream, StreamExt};

pub use backoff::Backoff;
pub use retry::MAX_REFRESHES;
pub use token::{MintTokens, TokenSource};

use crate::error::HttpError;
use crate::{Client, ClientError};

/// Silence after which a connection that has not said `beacon.connected`
/// yet counts as dead.
pub const CONNECT_SILENCE: Duration = Duration::from_secs(30);
/// The heartbeat assumed when `beacon.connected` does not say (seconds).
pub const DEFAULT_HEARTBEAT_S: u64 = 15;

/// What to stream, and how.
#[derive(Clone, Default)]
pub struct StreamOptions {
    types: Vec<String>,
    subjects: Vec<String>,
    params: Vec<(String, String)>,
    last_event_id: Option<String>,
    token: Option<String>,
    token_source: Option<Arc<dyn TokenSource>>,
    heartbeats: bool,
    backoff: Backoff,
    keep_trying: bool,
}

impl StreamOptions {
    pub fn new() -> Self {
        StreamOptions::default()
    }

    /// Only these event types: exact types, `prefix.*`, `*`, or `type@N`
    /// for version N's view of a type (`types=`).
    pub fn types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Only these subjects: exact, or with a trailing `*` (`subjects=`).
    pub fn subjects<I, S>(mut self, subjects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subjects = subjects.into_iter().map(Into::into).collect();
        self
    }

    /// Another query parameter of `GET /v1/stream` (e.g. `snapshot=latest`).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Start after this event id (sent as `Last-Event-ID`), rather than
    /// with new events only.
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }

    /// The subscriber token (default: the client's credential).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Where to get a fresh token when the node ends the stream for an
    /// expired one, or refuses the one the stream has. Without one, an
    /// expired token ends the stream with [`ClientError::TokenExpired`].
    pub fn token_source(mut self, source: impl TokenSource) -> Self {
        self.token_source = Some(Arc::new(source));
        self
    }

    /// Yield [`StreamItem::Heartbeat`] for the node's heartbeats (default:
    /// they only keep the connection counted as alive).
    pub fn heartbeats(mut self, yes: bool) -> Self {
        self.heartbeats = yes;
        self
    }

    /// The delays between reconnection attempts (default
    /// [`Backoff::default`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Retry an unreachable node even before the first connection worked
    /// (default: that first failure ends the stream with the error, since
    /// a wrong address is likelier than a node away).
    pub fn keep_trying(mut self, yes: bool) -> Self {
        self.keep_trying = yes;
        self
    }

    /// The query of `GET /v1/stream`.
    fn query(&self) -> Vec<(String, String)> {
        let mut query = Vec::new();
        if !self.types.is_empty() {
            query.push(("types".to_owned(), self.types.join(",")));
        }
        if !self.subjects.is_empty() {
            query.push(("subjects".to_owned(), self.subjects.join(",")));
        }
        query.extend(self.params.iter().cloned());
        query
    }
}

impl fmt::Debug for StreamOptions {
    /// Without the token, which is a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOptions")
            .field("types", &self.types)
            .field("subjects", &self.subjects)
            .field("params", &self.params)
            .field("last_event_id", &self.last_event_id)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("token_source", &self.token_source.is_some())
            .field("heartbeats", &self.heartbeats)
            .field("backoff", &self.backoff)
            .field("keep_trying", &self.keep_trying)
            .finish()
    }
}

/// What a stream yields, in order.
#[derive(Debug)]
pub enum StreamItem {
    /// One of the tenant's events.
    Event(Event),
    /// A `beacon.*` control event. The stream acts on it by itself
    /// (reconnects after `beacon.overflow`, `beacon.shutdown` and
    /// `beacon.token_expired`; ends after `beacon.closed`).
    Control {
        control: Control,
        /// The stream's last event id as of this event: for
        /// `beacon.connected`, the position the stream starts from.
        last_event_id: Option<String>,
    },
    /// A `beacon.*` event this client does not know (from a newer node),
    /// or whose payload it cannot read.
    Unrecognised { event: String, data: String },
    /// A comment line: Beacon's heartbeat (and the one that opens each
    /// stream). Only with [`StreamOptions::heartbeats`].
    Heartbeat,
    /// The connection ended, or could not be made; the stream tries again
    /// after `delay`.
    Reconnecting(Reconnect),
}

/// One of the tenant's events.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's id (the SSE `id:`, which the stream resumes after).
    pub id: Option<String>,
    /// The event type (the SSE `event:`).
    pub kind: String,
    /// The `data:` text: the CloudEvents envelope, as JSON.
    pub data: String,
    /// The envelope read from `data`; `None` when `data` is not one
    /// (never from a Beacon node of this version).
    pub envelope: Option<Envelope>,
}

/// A reconnection about to happen.
#[derive(Debug)]
pub struct Reconnect {
    /// Why.
    pub cause: Disconnect,
    /// How long the stream waits first.
    pub delay: Duration,
    /// Where it resumes: sent as `Last-Event-ID`.
    pub last_event_id: Option<String>,
}

/// Why a stream reconnects.
#[derive(Debug)]
pub enum Disconnect {
    /// The connection ended without a word.
    Ended,
    /// Nothing came, not even a heartbeat, for this long.
    Silent(Duration),
    /// The connection broke while it was read.
    Broken(ClientError),
    /// `beacon.overflow`: the stream fell too far behind (reconnects at once).
    Overflow,
    /// `beacon.shutdown`: the node is stopping.
    Shutdown,
    /// `beacon.token_expired`, and a fresh token was fetched (reconnects
    /// at once).
    TokenRefreshed,
    /// The node refused the connection with a status worth retrying (408,
    /// 429, 5xx).
    Refused(HttpError),
    /// The node could not be reached.
    Unreachable(ClientError),
}

/// The stream [`Client::stream`] returns: items until `beacon.closed` or a
/// final error (after which it ends).
pub struct EventStream {
    inner: BoxStream<'static, Result<StreamItem, ClientError>>,
}

impl Stream for EventStream {
    type Item = Result<StreamItem, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventStream")
    }
}

impl Client {
    /// Follows `GET /v1/stream` with a subscriber token (the options' or
    /// this client's), reconnecting and resuming on its own. Nothing is
    /// sent until the stream is first polled.
    pub fn stream(&self, options: StreamOptions) -> EventStream {
        let driver = driver::Driver::new(self, options);
        let inner = futures::stream::unfold(driver, |mut driver| async move {
            driver.next().await.map(|item| (item, driver))
        })
        .boxed();
        EventStream { inner }
    }
}

#[cfg(test)]
mod tests;
