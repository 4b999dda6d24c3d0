//! Helpers for handler tests: a node on a temporary data directory, and
//! requests sent through the router without a socket.

use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tower::ServiceExt;

use crate::config::Settings;
use crate::state::AppState;

/// The admin token of every test node.
pub(crate) const ADMIN: &str = "admin-token-for-tests";

/// Largest answer body a test reads.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// Asserts an error answer: this status, this error code and a non-empty
/// message.
pub(crate) fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// A started node; its data directory lives as long as it does.
pub(crate) struct TestNode {
    pub state: AppState,
    _dir: tempfile::TempDir,
}

/// Starts a node with default settings, changed by `tweak`.
pub(crate) async fn node(tweak: impl FnOnce(&mut Settings)) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::defaults();
    settings.data_dir = dir.path().to_owned();
    settings.admin_token = Some(ADMIN.into());
    tweak(&mut settings);
    let state = crate::server::start(settings, Default::default())
        .await
        .unwrap();
    TestNode { state, _dir: dir }
}

/// A well-formed HS256 subscriber token naming `tenant`, signed with a
/// secret that is not the tenant's.
pub(crate) fn forged_token(tenant: &str) -> String {
    let claims = crate::auth::jwt::Claims {
        sub: "1".into(),
        tenant: tenant.into(),
        exp: crate::auth::jwt::now_s() + 60,
        nbf: None,
        types: None,
        subjects: None,
        extra: Default::default(),
    };
    crate::auth::jwt::sign(&claims, "not-the-secret").unwrap()
}

/// Sends one request through the router and returns the response unread
/// (a stream's body never ends: read only what the test needs).
pub(crate) async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Response {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        req = req.header("authorization", format!("Bearer {auth}"));
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    super::app(state.clone())
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap()
}

/// Reads a whole (finite) answer.
pub(crate) async fn read(response: Response) -> (StatusCode, HeaderMap, Bytes) {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .unwrap();
    (status, headers, bytes)
}

/// A JSON request (no body for `None`); the answer parsed as JSON (`Null`
/// when it is not JSON).
pub(crate) async fn send_json(
    state: &AppState,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let (headers, body): (&[(&str, &str)], Body) = match body {
        Some(v) => (
            &[("content-type", "application/json")],
            Body::from(v.to_string()),
        ),
        None => (&[], Body::empty()),
    };
    let (status, _, bytes) = read(send(state, method, uri, auth, headers, body).await).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

impl TestNode {
    /// Any request; the answer's status, headers and JSON body.
    pub(crate) async fn call(
        &self,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, HeaderMap, Value) {
        let (status, headers, bytes) =
            read(send(&self.state, method, uri, auth, headers, body).await).await;
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Creates a tenant that may publish unregistered types; its API key.
    pub(crate) async fn tenant(&self, id: &str) -> String {
        let body = serde_json::json!({"id": id, "allow_unregistered_types": true});
        let (status, body) = self.json("POST", "/v1/tenants", Some(ADMIN), body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["api_key"].as_str().unwrap().to_owned()
    }

    /// A JSON request (a `Null` body is sent as `null`).
    pub(crate) async fn json(
        &self,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        send_json(&self.state, method, uri, auth, Some(&body)).await
    }
}

/// A subscriber token (`sub` "1") minted with the API key `key`.
pub(crate) async fn token(n: &TestNode, key: &str) -> String {
    let (s, minted) = n
        .json(
            "POST",
            "/v1/tokens",
            Some(key),
            serde_json::json!({"sub": "1"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{minted}");
    minted["token"].as_str().unwrap().to_owned()
}
