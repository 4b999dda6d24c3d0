//! Handler behaviour through the router, without a socket.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::Settings;
use crate::state::AppState;

const ADMIN: &str = "admin-token-for-tests";

struct Node {
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn node(tweak: impl FnOnce(&mut Settings)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::defaults();
    settings.data_dir = dir.path().to_owned();
    settings.admin_token = Some(ADMIN.into());
    tweak(&mut settings);
    let state = crate::server::start(settings, Default::default())
        .await
        .unwrap();
    Node { state, _dir: dir }
}

impl Node {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(auth) = auth {
            req = req.header("authorization", format!("Bearer {auth}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = super::app(self.state.clone())
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn json(
        &self,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call(
                method,
                uri,
                auth,
                &[("content-type", "application/json")],
                body.to_string(),
            )
            .await;
        (s, v)
    }

    async fn tenant(&self, id: &str) -> String {
        let (status, body) = self
            .json("POST", "/v1/tenants", Some(ADMIN), json!({"id": id}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["api_key"].as_str().unwrap().to_owned()
    }
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn tenants_need_the_admin_token_and_valid_unique_ids() {
    let n = node(|_| {}).await;
    let (s, b) = n
        .json("POST", "/v1/tenants", None, json!({"id": "acme"}))
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json(
            "POST",
            "/v1/tenants",
            Some("wrong-token-wrong-token"),
            json!({"id": "acme"}),
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json("POST", "/v1/tenants", Some(ADMIN), json!({"id": "Bad Id"}))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_tenant_id");
    let key = n.tenant("acme").await;
    assert!(key.starts_with("bk_"));
    let (s, b) = n
        .json("POST", "/v1/tenants", Some(ADMIN), json!({"id": "acme"}))
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "tenant_exists");
    let (s, b) = n.json("GET", "/v1/tenants", Some(ADMIN), Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["tenants"][0]["id"], "acme");
    assert!(
        b.to_string().find("bk_").is_none() && b["tenants"][0].get("signing_secret").is_none(),
        "secrets are never listed"
    );
    // An API key is not an admin token.
    let (s, _) = n.json("GET", "/v1/tenants", Some(&key), Value::Null).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn publish_rejects_bad_input_with_clear_errors_and_stores_nothing() {
    let n = node(|s| s.max_batch = 3).await;
    let key = n.tenant("acme").await;
    let publish = |body: &'static str, ct: &'static str| {
        let (n, key) = (&n, key.clone());
        async move {
            n.call(
                "POST",
                "/v1/events",
                Some(&key),
                &[("content-type", ct)],
                body,
            )
            .await
        }
    };
    let (s, _, b) = publish("{not json", "application/json").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_json");
    let (s, _, b) = publish(r#"{"type":"a","data":1}"#, "text/plain").await;
    assert_error(
        s,
        &b,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (s, _, b) = publish("42", "application/json").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_event");
    let (s, _, b) = publish("[]", "application/json").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_event");
    let (s, _, b) = publish(r#"[{"type":"a","data":1},{"type":"a","data":1},{"type":"a","data":1},{"type":"a","data":1}]"#, "application/json").await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large");
    let (s, _, b) = publish(
        r#"[{"type":"ok","data":1},{"type":"a\r\nid: 9","data":1},{"data":1}]"#,
        "application/json",
    )
    .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_event");
    let paths: Vec<_> = b["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["/1/type", "/2"]);
    let big = format!(r#"{{"type":"a","data":"{}"}}"#, "x".repeat(70 * 1024));
    let (s, _, b) = n
        .call(
            "POST",
            "/v1/events",
            Some(&key),
            &[("content-type", "application/json")],
            big,
        )
        .await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "event_too_large");
    let huge = format!(r#"{{"type":"a","data":"{}"}}"#, "x".repeat(2 << 20));
    let (s, _, b) = n
        .call(
            "POST",
            "/v1/events",
            Some(&key),
            &[("content-type", "application/json")],
            huge,
        )
        .await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    let (s, _, b) = n
        .call(
            "POST",
            "/v1/events",
            Some("bk_nope"),
            &[("content-type", "application/json")],
            r#"{"type":"a","data":1}"#,
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    // Nothing above was stored: the stream is empty.
    let read = n
        .state
        .log
        .read("acme", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    assert!(read.events.is_empty());
    // And the node still works.
    let (s, _, b) = publish(
        r#"{"type":"a","data":1}"#,
        "application/json; charset=utf-8",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(b["id"].as_str().is_some());
}

#[tokio::test]
async fn idempotency_keys_make_retries_safe() {
    let n = node(|_| {}).await;
    let key = n.tenant("acme").await;
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "order-1"),
    ];
    let body = r#"[{"type":"a","data":1},{"type":"a","data":2}]"#;
    let (s1, h1, b1) = n
        .call("POST", "/v1/events", Some(&key), &headers, body)
        .await;
    let (s2, h2, b2) = n
        .call("POST", "/v1/events", Some(&key), &headers, body)
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(b1, b2);
    assert!(h1.get("idempotent-replayed").is_none());
    assert_eq!(h2.get("idempotent-replayed").unwrap(), "true");
    let read = n
        .state
        .log
        .read("acme", crate::log::Offset::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(read.events.len(), 2);
    let (s, _, b) = n
        .call(
            "POST",
            "/v1/events",
            Some(&key),
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "has space"),
            ],
            body,
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
}

#[tokio::test]
async fn streams_need_a_valid_token_of_their_tenant() {
    let n = node(|_| {}).await;
    let key = n.tenant("acme").await;
    let (s, b) = n.json("GET", "/v1/stream", None, Value::Null).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = n
        .json(
            "GET",
            "/v1/stream?access_token=abc.def.ghi",
            None,
            Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (_, minted) = n
        .json("POST", "/v1/tokens", Some(&key), json!({"sub": "42"}))
        .await;
    let token = minted["token"].as_str().unwrap();
    let (s, b) = n
        .json(
            "GET",
            &format!("/v1/stream?access_token={token}&types=a%20b"),
            None,
            Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_filter");
    let (s, b) = n
        .json(
            "GET",
            &format!("/v1/stream?access_token={token}&lastEventId=nope"),
            None,
            Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_last_event_id");
    // A token signed with another tenant's secret but naming this tenant.
    let forged = crate::auth::jwt::sign(
        &crate::auth::jwt::Claims {
            sub: "1".into(),
            tenant: "acme".into(),
            exp: crate::auth::jwt::now_s() + 60,
            nbf: None,
            types: None,
        },
        "not-the-secret",
    )
    .unwrap();
    let (s, _) = n
        .json(
            "GET",
            &format!("/v1/stream?access_token={forged}"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = n
        .json(
            "POST",
            "/v1/tokens",
            Some(&key),
            json!({"sub": "", "ttl_s": 0}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let n = node(|_| {}).await;
    let (s, b) = n.json("GET", "/healthz", None, Value::Null).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = n.json("GET", "/readyz", None, Value::Null).await;
    assert_eq!((s, b["log"].as_str()), (StatusCode::OK, Some("embedded")));
    let (s, b) = n.json("GET", "/v1/nope", None, Value::Null).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
}
