//! A real Server-Sent Events client: reqwest's byte stream parsed by
//! `eventsource-stream`, collected by a background task.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::WAIT;
use crate::api::Reply;

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The last event id in effect (per the SSE rules an event without an `id:`
    /// line keeps the previous one).
    pub id: String,
    /// The `event:` name (`message` if absent).
    pub event: String,
    /// The `data:` payload, parsed as JSON.
    pub data: Value,
}

impl SseEvent {
    /// Control events are the `beacon.*` ones.
    pub fn is_control(&self) -> bool {
        self.event.starts_with("beacon.")
    }
}

#[derive(Debug)]
enum Item {
    Event(SseEvent),
    NotJson { event: String, data: String },
    End(Option<String>),
}

/// `GET /v1/stream`, being built.
#[derive(Debug, Clone)]
pub struct StreamRequest {
    http: reqwest::Client,
    base_url: String,
    token: Option<String>,
    token_in_query: bool,
    last_event_id: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl StreamRequest {
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        StreamRequest {
            http,
            base_url: base_url.to_owned(),
            token: None,
            token_in_query: false,
            last_event_id: None,
            query: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn no_token(mut self) -> Self {
        self.token = None;
        self
    }

    /// Sends the token as `?access_token=` instead of the Authorization header.
    pub fn token_in_query(mut self) -> Self {
        self.token_in_query = true;
        self
    }

    /// The `Last-Event-ID` header.
    pub fn last_event_id(mut self, id: &str) -> Self {
        self.last_event_id = Some(id.to_owned());
        self
    }

    /// Any query parameter (`types`, `subjects`, `lastEventId`, …).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Any request header (`Cookie`, `Origin`, …).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn types(self, types: &str) -> Self {
        self.query("types", types)
    }

    pub fn subjects(self, subjects: &str) -> Self {
        self.query("subjects", subjects)
    }

    fn url(&self) -> Url {
        let mut url = Url::parse(&format!("{}/v1/stream", self.base_url)).expect("stream url");
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &self.query {
                pairs.append_pair(name, value);
            }
            if self.token_in_query
                && let Some(token) = &self.token
            {
                pairs.append_pair("access_token", token);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    fn request(&self) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .get(self.url())
            .header("Accept", "text/event-stream");
        if let (Some(token), false) = (&self.token, self.token_in_query) {
            request = request.bearer_auth(token);
        }
        if let Some(id) = &self.last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request
    }

    /// Sends the request and returns the response head (bounded wait).
    pub async fn send(&self) -> reqwest::Response {
        let url = self.url();
        match tokio::time::timeout(WAIT, self.request().send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!("GET {url} failed: {e:?}"),
            Err(_) => panic!("GET {url}: no response head within {WAIT:?}"),
        }
    }

    /// Sends the request and reads the whole (non-stream) answer, for error cases.
    pub async fn send_expecting_error(&self) -> Reply {
        let response = self.send().await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        assert_ne!(
            status,
            200,
            "expected the stream to be refused, got 200 for {}",
            self.url()
        );
        let text = tokio::time::timeout(WAIT, response.text())
            .await
            .expect("error body within the time limit")
            .expect("error body");
        Reply {
            status,
            headers,
            text,
        }
    }

    /// Connects, asserts 200 and starts collecting events.
    pub async fn connect(&self) -> Subscriber {
        let response = self.send().await;
        let status = response.status().as_u16();
        if status != 200 {
            let text = tokio::time::timeout(WAIT, response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            panic!(
                "GET {} answered {status} instead of a stream: {text:?}",
                self.url()
            );
        }
        Subscriber::start(response)
    }
}

/// An open SSE connection whose events are collected in the background.
///
/// Dropping it closes the connection.
pub struct Subscriber {
    pub status: u16,
    pub headers: HeaderMap,
    rx: mpsc::UnboundedReceiver<Item>,
    raw: Arc<Mutex<String>>,
    paused: watch::Sender<bool>,
    task: JoinHandle<()>,
    history: Vec<SseEvent>,
    ended: Option<Option<String>>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    fn start(response: reqwest::Response) -> Subscriber {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let raw = Arc::new(Mutex::new(String::new()));
        let (paused, paused_rx) = watch::channel(false);
        let task = tokio::spawn(pump(response, tx, raw.clone(), paused_rx));
        Subscriber {
            status,
            headers,
            rx,
            raw,
            paused,
            task,
            history: Vec::new(),
            ended: None,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Stops reading from the socket (after at most one more chunk), so the
    /// server sees a slow consumer.
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    /// Reads from the socket again.
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Everything received so far, byte for byte (lossy UTF-8).
    pub fn raw(&self) -> String {
        self.raw.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every event received so far.
    pub fn history(&self) -> &[SseEvent] {
        &self.history
    }

    /// The id of the last non-control event received.
    pub fn last_id(&self) -> Option<String> {
        self.history
            .iter()
            .rev()
            .find(|e| !e.is_control())
            .map(|e| e.id.clone())
    }

    fn describe(&self) -> String {
        let mut s = String::from("events so far:\n");
        for e in &self.history {
            s.push_str(&format!(
                "  id={:?} event={:?} data={}\n",
                e.id, e.event, e.data
            ));
        }
        if let Some(end) = &self.ended {
            s.push_str(&format!("stream ended ({end:?})\n"));
        }
        s
    }

    /// The next event, or `None` when the stream ended first. Panics after `limit`.
    pub async fn next_or_end(&mut self, limit: Duration) -> Option<SseEvent> {
        if self.ended.is_some() {
            return None;
        }
        match tokio::time::timeout(limit, self.rx.recv()).await {
            Ok(Some(Item::Event(event))) => {
                self.history.push(event.clone());
                Some(event)
            }
            Ok(Some(Item::NotJson { event, data })) => panic!(
                "event {event:?} carries data that is not JSON: {data:?}\n{}",
                self.describe()
            ),
            Ok(Some(Item::End(error))) => {
                self.ended = Some(error);
                None
            }
            Ok(None) => {
                self.ended = Some(Some("reader task stopped".into()));
                None
            }
            Err(_) => panic!(
                "no event and no end of stream within {limit:?}\n{}",
                self.describe()
            ),
        }
    }

    /// The next event within `limit`; panics if the stream ends or nothing comes.
    pub async fn next_within(&mut self, limit: Duration) -> SseEvent {
        match self.next_or_end(limit).await {
            Some(event) => event,
            None => panic!(
                "the stream ended while an event was expected\n{}",
                self.describe()
            ),
        }
    }

    /// The next event (waiting up to [`WAIT`]).
    pub async fn next(&mut self) -> SseEvent {
        self.next_within(WAIT).await
    }

    /// The next `n` events, control events included.
    pub async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next().await);
        }
        events
    }

    /// Consumes `beacon.connected` (which must be the next event) and returns its data.
    pub async fn expect_connected(&mut self) -> Value {
        self.expect_control("beacon.connected").await
    }

    /// The next event must be the control event `name`; returns its data.
    pub async fn expect_control(&mut self, name: &str) -> Value {
        let event = self.next().await;
        assert_eq!(
            event.event,
            name,
            "expected {name}, got {event:?}\n{}",
            self.describe()
        );
        event.data
    }

    /// The next events must be exactly the events with these ids, in this
    /// order, with no control event in between. Returns them.
    pub async fn expect_ids(&mut self, ids: &[String]) -> Vec<SseEvent> {
        let mut events = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let event = self.next().await;
            assert!(
                !event.is_control() && event.id == *id,
                "event #{i} of {}: expected id {id:?}, got {event:?}\nexpected ids: {ids:?}\n{}",
                ids.len(),
                self.describe()
            );
            events.push(event);
        }
        events
    }

    /// No event arrives within `period` (and the stream stays open).
    pub async fn assert_quiet(&mut self, period: Duration) {
        if self.ended.is_some() {
            panic!("the stream has ended\n{}", self.describe());
        }
        if let Ok(item) = tokio::time::timeout(period, self.rx.recv()).await {
            panic!(
                "expected no event for {period:?}, got {item:?}\n{}",
                self.describe()
            );
        }
    }

    /// Waits for the end of the stream, returning the events received meanwhile.
    pub async fn expect_end(&mut self, limit: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                panic!(
                    "the stream did not end within {limit:?}\n{}",
                    self.describe()
                );
            }
            match self.next_or_end(left).await {
                Some(event) => events.push(event),
                None => return events,
            }
        }
    }

    /// Whether (and how) the stream ended: `Some(None)` for a clean end,
    /// `Some(Some(error))` for a transport error.
    pub fn ended(&self) -> Option<&Option<String>> {
        self.ended.as_ref()
    }
}

async fn pump(
    response: reqwest::Response,
    tx: mpsc::UnboundedSender<Item>,
    raw: Arc<Mutex<String>>,
    mut paused: watch::Receiver<bool>,
) {
    let recorder = raw.clone();
    let bytes = response.bytes_stream().map(move |chunk| {
        if let (Ok(bytes), Ok(mut raw)) = (&chunk, recorder.lock()) {
            raw.push_str(&String::from_utf8_lossy(bytes));
        }
        chunk
    });
    let mut events = Box::pin(bytes.eventsource());
    loop {
        if paused.wait_for(|p| !*p).await.is_err() {
            return;
        }
        let item = match events.next().await {
            Some(Ok(event)) => match serde_json::from_str(&event.data) {
                Ok(data) => Item::Event(SseEvent {
                    id: event.id,
                    event: event.event,
                    data,
                }),
                Err(_) => Item::NotJson {
                    event: event.event,
                    data: event.data,
                },
            },
            Some(Err(e)) => Item::End(Some(e.to_string())),
            None => Item::End(None),
        };
        let last = matches!(item, Item::End(_));
        if tx.send(item).is_err() || last {
            return;
        }
    }
}
