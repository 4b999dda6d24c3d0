//! Plain HTTP calls against the Beacon API.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::Beacon;
use crate::sse::{StreamRequest, Subscriber};

/// Upper bound for one plain HTTP request (not a stream).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A complete HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "body of the {} answer is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "expected HTTP {status}, got {} with body {:?}",
            self.status, self.text
        );
        self
    }

    /// Asserts an error answer: this status and a JSON body
    /// `{"error": <string>, "message": <non-empty string>, ...}`. Returns the body.
    pub fn assert_error_status(&self, status: u16) -> Value {
        self.assert_status(status);
        let body = self.json();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "error body without an \"error\" code: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error body without a \"message\": {body}"
        );
        if let Some(details) = body.get("details") {
            assert!(details.is_array(), "\"details\" is not an array: {body}");
        }
        body
    }

    /// Asserts an error answer with this status and error code. Returns the body.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        let body = self.assert_error_status(status);
        assert_eq!(body["error"], code, "unexpected error code in {body}");
        body
    }
}

/// Sends a request (bounded by [`REQUEST_TIMEOUT`]) and reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    send_within(request, REQUEST_TIMEOUT).await
}

/// Sends a request (bounded by `limit`) and reads the whole answer.
pub async fn send_within(request: reqwest::RequestBuilder, limit: Duration) -> Reply {
    let describe = format!("{request:?}");
    let response = request
        .timeout(limit)
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e:?}\nrequest: {describe}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading the answer failed: {e:?}\nrequest: {describe}"));
    Reply {
        status,
        headers,
        text,
    }
}

/// An HTTP client for talking to test nodes. Connections are not pooled, so
/// a node started again on the same port never sees a stale connection.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client")
}

/// Requests to a node, and its tenants.
impl Beacon {
    /// The HTTP client of this node's requests.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET <path>` without credentials.
    pub async fn get(&self, path: &str) -> Reply {
        send(self.http.get(self.url(path))).await
    }

    /// A request with the admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.admin_token())
    }

    /// Creates a tenant that may publish types without a contract
    /// (asserting 201) and returns its credentials.
    pub async fn create_tenant(&self, id: &str) -> Tenant {
        self.create_tenant_with(json!({ "id": id, "allow_unregistered_types": true }))
            .await
    }

    /// Creates a tenant from a full request body (asserting 201).
    pub async fn create_tenant_with(&self, request: Value) -> Tenant {
        let id = request["id"].as_str().unwrap_or_default().to_owned();
        let reply = send(
            self.admin(reqwest::Method::POST, "/v1/tenants")
                .json(&request),
        )
        .await;
        reply.assert_status(201);
        let body = reply.json();
        assert_eq!(body["id"], id.as_str(), "tenant creation answer: {body}");
        let api_key = body["api_key"]
            .as_str()
            .unwrap_or_else(|| panic!("no api_key in {body}"))
            .to_owned();
        assert!(api_key.starts_with("bk_"), "api key {api_key:?} lacks bk_");
        let signing_secret = body["signing_secret"]
            .as_str()
            .unwrap_or_else(|| panic!("no signing_secret in {body}"))
            .to_owned();
        Tenant {
            id,
            api_key,
            signing_secret,
            base_url: self.url(""),
            http: self.http.clone(),
        }
    }
}

/// `{"type": ty, "data": data}`.
pub fn ev(ty: &str, data: Value) -> Value {
    json!({ "type": ty, "data": data })
}

/// A tenant's credentials, bound to one server node.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub api_key: String,
    pub signing_secret: String,
    /// `http://<addr>` of the node this handle talks to.
    pub base_url: String,
    pub http: reqwest::Client,
}

impl Tenant {
    /// The same tenant, talking to another node (Redis-backed clusters).
    pub fn on(&self, node: &Beacon) -> Tenant {
        Tenant {
            base_url: node.url(""),
            http: node.http().clone(),
            ..self.clone()
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `POST /v1/events` with the API key and no body yet.
    pub fn events_request(&self) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/v1/events"))
            .bearer_auth(&self.api_key)
    }

    /// `POST /v1/events` with a JSON body.
    pub async fn post_events(&self, body: &Value) -> Reply {
        send(self.events_request().json(body)).await
    }

    /// Publishes one event; asserts 201 and returns its id.
    pub async fn publish(&self, event: Value) -> String {
        let reply = self.post_events(&event).await;
        reply.assert_status(201);
        let body = reply.json();
        body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"id\" in the publish answer {body}"))
            .to_owned()
    }

    /// Publishes an array of events; asserts 201 and returns their ids.
    pub async fn publish_batch(&self, events: &[Value]) -> Vec<String> {
        let reply = self.post_events(&Value::Array(events.to_vec())).await;
        reply.assert_status(201);
        ids_of(&reply.json(), events.len())
    }

    /// Mints a subscriber token for `sub`; asserts 200.
    pub async fn token(&self, sub: &str) -> String {
        let reply = self.token_request(&json!({ "sub": sub })).await;
        reply.assert_status(200);
        let body = reply.json();
        body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"token\" in {body}"))
            .to_owned()
    }

    /// `POST /v1/tokens` with the API key and this body.
    pub async fn token_request(&self, body: &Value) -> Reply {
        send(
            self.http
                .post(self.url("/v1/tokens"))
                .bearer_auth(&self.api_key)
                .json(body),
        )
        .await
    }

    /// A stream request authenticated with `token`.
    pub fn stream(&self, token: &str) -> StreamRequest {
        StreamRequest::new(self.http.clone(), &self.base_url).token(token)
    }

    /// Mints a token for `sub`, connects without filters and consumes
    /// `beacon.connected` (asserting `resume: "none"`).
    pub async fn subscribe(&self, sub: &str) -> Subscriber {
        let token = self.token(sub).await;
        let mut subscriber = self.stream(&token).connect().await;
        let connected = subscriber.expect_connected().await;
        assert_eq!(connected["resume"], "none", "connected: {connected}");
        subscriber
    }
}

/// The `ids` array of a batch answer (asserting its length).
pub fn ids_of(body: &Value, expected: usize) -> Vec<String> {
    let ids: Vec<String> = body["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no \"ids\" array in the publish answer {body}"))
        .iter()
        .map(|id| {
            id.as_str()
                .unwrap_or_else(|| panic!("non-string id in {body}"))
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), expected, "wrong number of ids in {body}");
    ids
}
