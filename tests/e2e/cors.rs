//! Per-tenant CORS of `GET /v1/stream`: a tenant's own origins read its
//! stream with the `beacon_token` cookie; another site's page cannot use the
//! cookie at all.

use beacon_test_support::{Beacon, ev, send};
use serde_json::json;

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

#[tokio::test]
async fn a_tenants_origins_read_its_stream_with_the_cookie_and_foreign_origins_are_refused() {
    let server = Beacon::start().await;
    let acme = server
        .create_tenant_with(json!({
            "id": "acme",
            "allow_unregistered_types": true,
            "cors_origins": [APP],
        }))
        .await;
    let shown = send(server.admin(reqwest::Method::GET, "/v1/tenants/acme")).await;
    shown.assert_status(200);
    assert_eq!(shown.json()["cors_origins"], json!([APP]));
    let token = acme.token("u1").await;
    let cookie = format!("beacon_token={token}");

    // Another site's page with the user's cookie: refused, nothing opened.
    let refused = acme
        .stream(&token)
        .no_token()
        .header("Cookie", &cookie)
        .header("Origin", EVIL)
        .send_expecting_error()
        .await;
    let body = refused.assert_error(403, "origin_not_allowed");
    assert!(body["message"].as_str().unwrap().contains(EVIL), "{body}");
    assert_ne!(refused.header("access-control-allow-origin"), Some(EVIL));
    let online = send(
        acme.http
            .get(acme.url("/v1/presence"))
            .bearer_auth(&acme.api_key),
    )
    .await;
    online.assert_status(200);
    assert_eq!(online.json()["connections"], 0, "{}", online.text);

    // The tenant's own origin with the cookie: a live stream it may read.
    let mut sub = acme
        .stream(&token)
        .no_token()
        .header("Cookie", &cookie)
        .header("Origin", APP)
        .connect()
        .await;
    assert_eq!(sub.header("access-control-allow-origin"), Some(APP));
    assert_eq!(sub.header("access-control-allow-credentials"), Some("true"));
    sub.expect_connected().await;
    let id = acme.publish(ev("order.created", json!(1))).await;
    sub.expect_ids(&[id]).await;

    // The preflight is granted to any origin; the GET decides.
    let preflight = send(
        acme.http
            .request(reqwest::Method::OPTIONS, acme.url("/v1/stream"))
            .header("Origin", EVIL)
            .header("Access-Control-Request-Method", "GET"),
    )
    .await;
    preflight.assert_status(204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some(EVIL));

    // A page that holds the token itself is served, but (the tenant lists
    // origins) gets no CORS grant, so a browser would not let it read.
    let mut held = acme.stream(&token).header("Origin", EVIL).connect().await;
    assert_eq!(held.header("access-control-allow-origin"), None);
    held.expect_connected().await;
}
