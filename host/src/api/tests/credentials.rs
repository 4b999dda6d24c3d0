//! Credentials: scoped API keys (rotation, revocation) and subscriber tokens
//! signed with a tenant's own key.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::testing::{ADMIN, assert_error, node};

#[tokio::test]
async fn api_keys_have_scopes_rotate_with_an_overlap_and_can_be_revoked() {
    let n = node(|_| {}).await;
    let (_, created) = n
        .json(
            "POST",
            "/v1/tenants",
            Some(ADMIN),
            json!({"id": "acme", "allow_unregistered_types": true}),
        )
        .await;
    let first = created["api_key"].as_str().unwrap().to_owned();
    let first_id = created["key_id"].as_str().unwrap().to_owned();
    let event = json!({"type": "a.b", "data": 1});
    // A read-only key cannot publish or mint tokens.
    let (s, b) = n
        .json(
            "POST",
            "/v1/tenants/acme/keys",
            Some(ADMIN),
            json!({"scopes": ["read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let reader = b["api_key"].as_str().unwrap().to_owned();
    let (s, b) = n
        .json("POST", "/v1/events", Some(&reader), event.clone())
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    assert!(b["message"].as_str().unwrap().contains("publish"), "{b}");
    let (s, _) = n
        .json("POST", "/v1/tokens", Some(&reader), json!({"sub": "1"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Rotation: the new key works at once, the old one until the overlap ends.
    let (s, b) = n
        .json(
            "POST",
            "/v1/tenants/acme/keys",
            Some(ADMIN),
            json!({"rotate": first_id, "overlap_s": 3600}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let second = b["api_key"].as_str().unwrap().to_owned();
    assert!(b["rotated_key_expires_at"].as_u64().unwrap() > crate::auth::jwt::now_s());
    for key in [&first, &second] {
        let (s, b) = n.json("POST", "/v1/events", Some(key), event.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let second_id = b["id"].as_str().unwrap().to_owned();
    let (s, _) = n
        .json(
            "POST",
            "/v1/tenants/acme/keys",
            Some(ADMIN),
            json!({"rotate": second_id, "overlap_s": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = n
        .json("POST", "/v1/events", Some(&second), event.clone())
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(b["message"].as_str().unwrap().contains("expired"), "{b}");
    // Listing shows ids, scopes and expiry, never a key or its hash.
    let (s, b) = n
        .json("GET", "/v1/tenants/acme/keys", Some(ADMIN), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["keys"].as_array().unwrap().len(), 4);
    let text = b.to_string();
    assert!(!text.contains("bk_") && !text.contains("hash"), "{text}");
    // Revocation is immediate.
    let (s, _) = n
        .json(
            "DELETE",
            &format!("/v1/tenants/acme/keys/{first_id}"),
            Some(ADMIN),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = n
        .json("POST", "/v1/events", Some(&first), event.clone())
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = n
        .json(
            "DELETE",
            &format!("/v1/tenants/acme/keys/{first_id}"),
            Some(ADMIN),
            Value::Null,
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    // Keys are managed by the admin only, and only for existing tenants.
    let (s, _) = n
        .json("GET", "/v1/tenants/acme/keys", Some(&reader), Value::Null)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = n
        .json("POST", "/v1/tenants/nope/keys", Some(ADMIN), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = n
        .json(
            "POST",
            "/v1/tenants/acme/keys",
            Some(ADMIN),
            json!({"scopes": []}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_tenant_may_sign_subscriber_tokens_with_its_own_registered_key() {
    use crate::auth::jwt::{Claims, now_s, test_keys};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let n = node(|_| {}).await;
    n.tenant("acme").await;
    let claims = Claims {
        sub: "42".into(),
        tenant: "acme".into(),
        exp: now_s() + 60,
        nbf: None,
        types: None,
        subjects: None,
        extra: Default::default(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("backend-1".into());
    let private = EncodingKey::from_ed_pem(test_keys::ED_PRIVATE.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &private).unwrap();
    // Only the status: an accepted stream's body never ends.
    let stream = |token: String| {
        let state = n.state.clone();
        async move {
            let request = Request::builder()
                .uri(format!("/v1/stream?access_token={token}"))
                .body(Body::empty())
                .unwrap();
            crate::api::app(state)
                .oneshot(request)
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        stream(token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "no key registered yet"
    );
    let (s, b) = n
        .json(
            "PUT",
            "/v1/tenants/acme/jwt-keys",
            Some(ADMIN),
            json!({"keys": [{"kid": "backend-1", "alg": "EdDSA", "pem": test_keys::ED_PUBLIC}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["keys"][0]["kid"], "backend-1");
    assert_eq!(stream(token).await, StatusCode::OK);
    let (s, b) = n
        .json(
            "PUT",
            "/v1/tenants/acme/jwt-keys",
            Some(ADMIN),
            json!({"keys": [{"kid": "x", "alg": "RS256", "pem": test_keys::ED_PUBLIC}]}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_key");
}
