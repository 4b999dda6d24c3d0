//! One stream's connections: opening each (with `Last-Event-ID`), reading
//! it with the protocol's SSE parser under an idle timeout, acting on
//! control events, and deciding with [`Retry`] what comes next.

use std::collections::VecDeque;
use std::time::Duration;

use beacon_protocol::control::{self, Control};
use beacon_protocol::sse::{Item, Message, Parser};
use rand::RngExt;
use reqwest::header::{ACCEPT, CACHE_CONTROL};

use super::retry::{Retry, Then};
use super::{
    CONNECT_SILENCE, DEFAULT_HEARTBEAT_S, Disconnect, Event, Reconnect, StreamItem, StreamOptions,
};
use crate::client::MAX_ERROR_BYTES;
use crate::error::HttpError;
use crate::{Client, ClientError};

/// The names of Beacon's control events start with this (`presence.*`
/// events, Beacon's too, are the tenant's events for a subscriber).
const CONTROL_PREFIX: &str = "beacon.";

/// One open connection.
struct Connection {
    response: reqwest::Response,
    parser: Parser,
    /// Silence after which the connection counts as dead: a few heartbeats
    /// once `beacon.connected` said how often they come.
    idle: Duration,
}

/// What to do when no connection is open.
enum Next {
    /// Connect after this long.
    Connect(Duration),
    /// Fetch a fresh token, then connect; `announce` with a
    /// [`Disconnect::TokenRefreshed`] item.
    Refresh { announce: bool },
    /// Nothing: the stream is over.
    Stop,
}

/// Why the connection being read ends, as a control event said.
enum End {
    Overflow,
    Shutdown,
    TokenExpired,
    Closed,
}

pub(super) struct Driver {
    /// The node, holding the current subscriber token.
    client: Client,
    options: StreamOptions,
    retry: Retry,
    /// Where the next connection resumes (`Last-Event-ID`).
    last_event_id: Option<String>,
    connection: Option<Connection>,
    next: Next,
    /// Items to yield before doing anything else; an error is always last.
    pending: VecDeque<Result<StreamItem, ClientError>>,
}

impl Driver {
    pub(super) fn new(client: &Client, options: StreamOptions) -> Driver {
        let client = match &options.token {
            Some(token) => client.with_token(token.clone()),
            None => client.clone(),
        };
        Driver {
            client,
            retry: Retry::new(options.backoff, options.keep_trying),
            last_event_id: options.last_event_id.clone(),
            options,
            connection: None,
            next: Next::Connect(Duration::ZERO),
            pending: VecDeque::new(),
        }
    }

    /// The next item; `None` once the stream is over.
    pub(super) async fn next(&mut self) -> Option<Result<StreamItem, ClientError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if let Some(connection) = &mut self.connection {
                let idle = connection.idle;
                match tokio::time::timeout(idle, connection.response.chunk()).await {
                    Err(_) => self.lost(Disconnect::Silent(idle)),
                    Ok(Err(error)) => {
                        let request = format!("GET {}", connection.response.url());
                        self.lost(Disconnect::Broken(ClientError::Read {
                            request,
                            source: error,
                        }));
                    }
                    Ok(Ok(None)) => self.lost(Disconnect::Ended),
                    Ok(Ok(Some(chunk))) => self.read(&chunk),
                }
                continue;
            }
            match std::mem::replace(&mut self.next, Next::Stop) {
                Next::Stop => return None,
                Next::Connect(delay) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    self.open().await;
                }
                Next::Refresh { announce } => self.refresh(announce).await,
            }
        }
    }

    /// Parses one chunk of the open connection and acts on what it held.
    fn read(&mut self, chunk: &[u8]) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        let mut items = Vec::new();
        if let Err(error) = connection.parser.push(chunk, &mut items) {
            self.fail(error.into());
            return;
        }
        for item in items {
            match item {
                Item::Retry(delay) => self.retry.hint(delay),
                Item::Comment(_) => {
                    if self.options.heartbeats {
                        self.pending.push_back(Ok(StreamItem::Heartbeat));
                    }
                }
                Item::Id(id) => self.last_event_id = Some(id),
                Item::Message(message) => {
                    self.last_event_id.clone_from(&message.last_event_id);
                    if let Some(end) = self.message(message, &mut connection) {
                        // What follows a control event that ends the
                        // stream is not read: the connection is done.
                        self.ended(end);
                        return;
                    }
                }
            }
        }
        self.connection = Some(connection);
    }

    /// One event of the stream; `Some` when it ends the connection.
    fn message(&mut self, message: Message, connection: &mut Connection) -> Option<End> {
        if !message.event.starts_with(CONTROL_PREFIX) {
            let envelope = serde_json::from_str(&message.data).ok();
            self.pending.push_back(Ok(StreamItem::Event(Event {
                id: message.last_event_id,
                kind: message.event,
                data: message.data,
                envelope,
            })));
            return None;
        }
        let parsed = Control::parse(&message.event, &message.data).and_then(Result::ok);
        let end = match message.event.as_str() {
            control::CONNECTED => {
                let heartbeat_s = match &parsed {
                    Some(Control::Connected(c)) => c.heartbeat_s,
                    _ => DEFAULT_HEARTBEAT_S,
                };
                connection.idle = Duration::from_secs(heartbeat_s.max(1) * 3 + 2);
                self.retry.connected();
                None
            }
            control::OVERFLOW => Some(End::Overflow),
            control::SHUTDOWN => Some(End::Shutdown),
            control::TOKEN_EXPIRED => Some(End::TokenExpired),
            control::CLOSED => Some(End::Closed),
            _ => None,
        };
        let item = match parsed {
            Some(control) => StreamItem::Control {
                control,
                last_event_id: message.last_event_id,
            },
            None => StreamItem::Unrecognised {
                event: message.event,
                data: message.data,
            },
        };
        self.pending.push_back(Ok(item));
        end
    }

    /// The connection was ended by a control event.
    fn ended(&mut self, end: End) {
        match end {
            End::Overflow => self.reconnect(Disconnect::Overflow, Duration::ZERO),
            End::Shutdown => self.lost(Disconnect::Shutdown),
            End::TokenExpired if self.options.token_source.is_some() => {
                self.next = Next::Refresh { announce: true };
            }
            End::TokenExpired => self.fail(ClientError::TokenExpired {
                last_event_id: self.last_event_id.clone(),
            }),
            End::Closed => self.next = Next::Stop,
        }
    }

    /// The connection ended (or was ended by the node, which will serve
    /// again): reconnect after a backoff.
    fn lost(&mut self, cause: Disconnect) {
        self.connection = None;
        let delay = self.retry.after_end(random());
        self.reconnect(cause, delay);
    }

    fn reconnect(&mut self, cause: Disconnect, delay: Duration) {
        self.connection = None;
        self.next = Next::Connect(delay);
        self.pending
            .push_back(Ok(StreamItem::Reconnecting(Reconnect {
                cause,
                delay,
                last_event_id: self.last_event_id.clone(),
            })));
    }

    /// The stream is over with `error`.
    fn fail(&mut self, error: ClientError) {
        self.connection = None;
        self.next = Next::Stop;
        self.pending.push_back(Err(error));
    }

    /// Opens a connection, resuming after the last event id.
    async fn open(&mut self) {
        let query = self.options.query();
        let url = self.client.url(&["v1", "stream"], &query);
        let mut request = self
            .client
            .http()
            .get(url)
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache");
        if let Some(token) = self.client.token() {
            request = request.bearer_auth(token);
        }
        if let Some(id) = &self.last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        // Only the head has a time limit: the stream is watched for silence.
        let limit = self.client.limits().request_timeout;
        let base = self.client.base_url().to_string();
        let response = match tokio::time::timeout(limit, request.send()).await {
            Err(_) => {
                return self.unreachable(ClientError::Timeout {
                    url: base,
                    after: limit,
                    source: None,
                });
            }
            Ok(Err(error)) => return self.unreachable(ClientError::transport(&base, error, limit)),
            Ok(Ok(response)) => response,
        };
        if response.status().is_success() {
            self.connection = Some(Connection {
                response,
                parser: Parser::resuming(self.last_event_id.clone()),
                idle: CONNECT_SILENCE,
            });
            return;
        }
        let refusal = refusal(response, limit).await;
        let can_refresh = self.options.token_source.is_some();
        match self
            .retry
            .after_refusal(refusal.status, refusal.retry_after, can_refresh, random())
        {
            Then::RetryAfter(delay) => self.reconnect(Disconnect::Refused(refusal), delay),
            Then::Refresh => self.next = Next::Refresh { announce: false },
            Then::GiveUp => self.fail(refusal.into()),
        }
    }

    fn unreachable(&mut self, error: ClientError) {
        match self.retry.after_unreachable(random()) {
            Then::RetryAfter(delay) => self.reconnect(Disconnect::Unreachable(error), delay),
            Then::Refresh | Then::GiveUp => self.fail(error),
        }
    }

    /// A fresh token from the source, then a connection at once.
    async fn refresh(&mut self, announce: bool) {
        let Some(source) = self.options.token_source.clone() else {
            return self.fail(ClientError::TokenExpired {
                last_event_id: self.last_event_id.clone(),
            });
        };
        match source.token().await {
            Ok(token) => {
                self.client = self.client.with_token(token);
                if announce {
                    self.reconnect(Disconnect::TokenRefreshed, Duration::ZERO);
                } else {
                    self.next = Next::Connect(Duration::ZERO);
                }
            }
            Err(error) => self.fail(ClientError::TokenSource(Box::new(error))),
        }
    }
}

/// The node's answer refusing a stream: its status, and its body as far
/// as it comes promptly (best effort, at most [`MAX_ERROR_BYTES`]).
async fn refusal(mut response: reqwest::Response, limit: Duration) -> HttpError {
    let status = response.status();
    let headers = response.headers().clone();
    let mut bytes = Vec::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(limit, response.chunk()).await {
        let room = MAX_ERROR_BYTES - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= MAX_ERROR_BYTES {
            break;
        }
    }
    HttpError::from_answer(status, &headers, &bytes)
}

/// The jitter of a backoff, in [0, 1).
fn random() -> f64 {
    rand::rng().random()
}
