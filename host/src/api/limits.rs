//! The limit checks of the HTTP edge and their answers: 429
//! `too_many_connections` (a connection cap, named with its value) and 429
//! `rate_limited` with `Retry-After` (publish rate, connection attempts).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};

use super::ApiError;
use crate::limits::{Decision, LimitsInForce, Quota, TenantLimits, retry_after_secs};
use crate::log::now_ms;
use crate::presence::Admission;
use crate::state::AppState;
use crate::tenants::Tenant;

/// 429 `rate_limited` with `Retry-After` (whole seconds, rounded up).
pub fn rate_limited(message: String, wait: Duration) -> ApiError {
    let secs = retry_after_secs(wait);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("{message}; retry after {secs} s"),
    )
    .with_retry_after(secs)
}

/// The answer to a connection a cap refused.
pub fn refused(admission: Admission) -> ApiError {
    let message = match admission {
        Admission::UserFull { cap } => {
            format!("this user already has {cap} open streams (max_connections_per_user = {cap})")
        }
        Admission::TenantFull { cap } => format!(
            "this tenant already has {cap} open streams (max_connections_per_tenant = {cap})"
        ),
        Admission::Admitted { .. } => "admitted".to_owned(),
    };
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_connections",
        message,
    )
}

/// The client's address: the peer, or — when the peer is one of the
/// `--trusted-proxies` — the right-most `X-Forwarded-For` entry that is not
/// a trusted proxy (entries left of it could be forged by the client).
pub fn client_ip(trusted: &[IpAddr], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            // A malformed entry: nothing left of it can be trusted.
            Err(_) => return peer,
        }
    }
    peer
}

/// Connection attempts per client IP, on this node. Without a peer
/// address (requests driven without a socket) there is nothing to limit.
/// Refused: 429 with `Retry-After`.
pub fn check_connect(
    state: &AppState,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(peer) = peer else {
        return Ok(());
    };
    let ip = client_ip(&state.settings.trusted_proxies, peer.ip(), headers);
    let quota = Quota {
        per_second: state.settings.connect_rate_per_ip,
        burst: state.settings.connect_burst_per_ip,
    };
    match state
        .limiters
        .connect
        .check_now(&ip.to_string(), quota, 1, now_ms())
    {
        Decision::Allowed => Ok(()),
        Decision::Limited { retry_after } => Err(rate_limited(
            format!(
                "too many connection attempts from this address (connect_rate_per_ip = {}/s)",
                quota.per_second
            ),
            retry_after,
        )),
    }
}

/// The tenant's publish rate, charged `events` units. If the limiter
/// cannot be reached the request passes (logged): publishing then fails
/// or succeeds on the log's own health, not on the limiter's.
pub async fn check_publish(
    state: &AppState,
    tenant: &Tenant,
    events: usize,
) -> Result<(), ApiError> {
    let quota = TenantLimits::publish(tenant.limits.as_ref(), &state.settings);
    let cost = u32::try_from(events).unwrap_or(u32::MAX);
    match state
        .limiters
        .publish
        .check(&tenant.id, quota, cost, now_ms())
        .await
    {
        Ok(Decision::Allowed) => Ok(()),
        Ok(Decision::Limited { retry_after }) => Err(rate_limited(
            format!(
                "the tenant's publish rate is exceeded (publish_rate = {}/s, publish_burst = {})",
                quota.per_second, quota.burst
            ),
            retry_after,
        )),
        Err(error) => {
            tracing::warn!(tenant = %tenant.id, %error, "publish rate not checked");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {

    //! Caps, rate limits and presence through the router, without a socket.
    use axum::body::to_bytes;
    use axum::http::StatusCode;
    use axum::response::Response;
    use serde_json::{Value, json};

    use crate::api::testing::{self, ADMIN};
    use crate::config::Settings;
    use crate::state::AppState;

    /// A node, and what keeps its data directory alive.
    async fn node(tweak: impl FnOnce(&mut Settings)) -> (AppState, testing::TestNode) {
        let node = testing::node(tweak).await;
        (node.state.clone(), node)
    }

    async fn call(state: &AppState, method: &str, uri: &str, auth: &str, body: Value) -> Response {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        testing::send(
            state,
            method,
            uri,
            Some(auth),
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    async fn json_of(response: Response) -> Value {
        let (_, _, bytes) = testing::read(response).await;
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// Creates a tenant; returns its API key.
    async fn tenant(state: &AppState, request: Value) -> String {
        let response = call(state, "POST", "/v1/tenants", ADMIN, request).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        json_of(response).await["api_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn token(state: &AppState, key: &str, sub: &str) -> String {
        token_with(state, key, json!({"sub": sub})).await
    }

    /// A subscriber token for `sub` with extra claims (`types`, `subjects`).
    async fn token_with(state: &AppState, key: &str, body: Value) -> String {
        let response = call(state, "POST", "/v1/tokens", key, body).await;
        json_of(response).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn open(state: &AppState, token: &str) -> Response {
        call(state, "GET", "/v1/stream", token, Value::Null).await
    }

    #[tokio::test]
    async fn the_per_user_cap_refuses_the_newest_and_presence_counts_open_streams() {
        let (state, _dir) = node(|s| s.max_connections_per_user = 2).await;
        let key = tenant(&state, json!({"id": "acme"})).await;
        let alice = token(&state, &key, "alice").await;
        let bob = token(&state, &key, "bob").await;
        let a1 = open(&state, &alice).await;
        let a2 = open(&state, &alice).await;
        let b1 = open(&state, &bob).await;
        assert_eq!(
            (a1.status(), a2.status(), b1.status()),
            (StatusCode::OK, StatusCode::OK, StatusCode::OK)
        );
        let refused = open(&state, &alice).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let body = json_of(refused).await;
        assert_eq!(body["error"], "too_many_connections");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("max_connections_per_user = 2"),
            "{body}"
        );
        let mut online =
            json_of(call(&state, "GET", "/v1/presence", &key, Value::Null).await).await;
        let seq = online.as_object_mut().and_then(|o| o.remove("seq"));
        assert!(
            seq.and_then(|s| s.as_u64()).is_some_and(|s| s > 0),
            "{online}"
        );
        assert_eq!(
            online,
            json!({"users": [{"user": "alice", "connections": 2}, {"user": "bob", "connections": 1}], "connections": 3})
        );
        // Closing a stream frees its slot.
        drop(a1);
        tokio::task::yield_now().await;
        let mut again = open(&state, &alice).await;
        for _ in 0..50 {
            if again.status() == StatusCode::OK {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            again = open(&state, &alice).await;
        }
        assert_eq!(again.status(), StatusCode::OK);
        let response = call(&state, "GET", "/v1/presence", "bk_wrong", Value::Null).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        drop((a2, b1, again));
    }

    #[tokio::test]
    async fn a_tenant_override_applies_and_invalid_limits_are_refused() {
        let (state, _dir) = node(|_| {}).await;
        let key = tenant(
            &state,
            json!({"id": "solo", "limits": {"max_connections_per_user": 1, "max_connections_per_tenant": 2}}),
        )
        .await;
        let (u, v, w) = (
            token(&state, &key, "u").await,
            token(&state, &key, "v").await,
            token(&state, &key, "w").await,
        );
        let first = open(&state, &u).await;
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(
            open(&state, &u).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let second = open(&state, &v).await;
        assert_eq!(second.status(), StatusCode::OK);
        let full = open(&state, &w).await;
        assert_eq!(full.status(), StatusCode::TOO_MANY_REQUESTS);
        let body = json_of(full).await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("max_connections_per_tenant = 2"),
            "{body}"
        );
        for bad in [
            json!({"id": "bad1", "limits": {"publish_rate": 0}}),
            json!({"id": "bad2", "limits": {"nope": 1}}),
        ] {
            let response = call(&state, "POST", "/v1/tenants", ADMIN, bad).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        drop((first, second));
    }

    #[tokio::test]
    async fn close_oldest_ends_the_oldest_stream_with_beacon_closed() {
        let (state, _dir) = node(|s| {
            s.max_connections_per_user = 1;
            s.user_cap_policy = crate::presence::CapPolicy::CloseOldest;
        })
        .await;
        let key = tenant(&state, json!({"id": "acme"})).await;
        let alice = token(&state, &key, "alice").await;
        let oldest = open(&state, &alice).await;
        assert_eq!(oldest.status(), StatusCode::OK);
        let newest = open(&state, &alice).await;
        assert_eq!(newest.status(), StatusCode::OK);
        let body = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            to_bytes(oldest.into_body(), 1 << 20),
        )
        .await
        .expect("the oldest stream ends")
        .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.ends_with("event: beacon.closed\ndata: {\"reason\":\"replaced\"}\n\n"),
            "{text}"
        );
        drop(newest);
    }

    #[tokio::test]
    async fn publishing_over_the_rate_answers_429_with_retry_after() {
        let (state, _dir) = node(|s| {
            s.publish_rate = 1;
            s.publish_burst = 3;
        })
        .await;
        let key = tenant(
            &state,
            json!({"id": "acme", "allow_unregistered_types": true}),
        )
        .await;
        let event = json!({"type": "thing.done", "data": {}});
        let batch = json!([event.clone(), event.clone()]);
        let response = call(&state, "POST", "/v1/events", &key, batch).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let response = call(&state, "POST", "/v1/events", &key, event.clone()).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let response = call(&state, "POST", "/v1/events", &key, event.clone()).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry), "{retry}");
        let body = json_of(response).await;
        assert_eq!(body["error"], "rate_limited");
        // Another tenant has its own bucket.
        let other = tenant(
            &state,
            json!({"id": "other", "allow_unregistered_types": true}),
        )
        .await;
        let response = call(&state, "POST", "/v1/events", &other, event).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    #[test]
    fn the_client_address_comes_from_forwarded_for_only_behind_a_trusted_proxy() {
        use super::client_ip;
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let client: std::net::IpAddr = "203.0.113.7".parse().unwrap();
        let headers = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert("x-forwarded-for", v.parse().unwrap());
            h
        };
        let trusted = [proxy];
        // Not from a proxy: the header is ignored (anyone can send it).
        assert_eq!(client_ip(&trusted, client, &headers("1.2.3.4")), client);
        assert_eq!(client_ip(&[], proxy, &headers("1.2.3.4")), proxy);
        // From the proxy: the right-most untrusted entry; a forged prefix is ignored.
        let forged = headers("6.6.6.6, 203.0.113.7");
        assert_eq!(client_ip(&trusted, proxy, &forged), client);
        let chained = headers("203.0.113.7, 10.0.0.1");
        assert_eq!(client_ip(&trusted, proxy, &chained), client);
        assert_eq!(client_ip(&trusted, proxy, &headers("junk")), proxy);
        assert_eq!(
            client_ip(&trusted, proxy, &axum::http::HeaderMap::new()),
            proxy
        );
    }

    #[tokio::test]
    async fn subscribers_list_who_is_online_only_within_their_tokens_claims() {
        let (state, _dir) = node(|_| {}).await;
        let key = tenant(&state, json!({"id": "acme", "presence_events": true})).await;
        let quiet_key = tenant(&state, json!({"id": "quiet"})).await;
        let mut streams = Vec::new();
        for user in ["alice", "bob", "bob"] {
            streams.push(open(&state, &token(&state, &key, user).await).await);
        }
        let watcher = token(&state, &key, "watcher").await;
        let by_query = format!("/v1/presence?access_token={watcher}");
        for (uri, auth) in [("/v1/presence", watcher.as_str()), (&by_query, "")] {
            let response = if auth.is_empty() {
                testing::send(&state, "GET", uri, None, &[], String::new()).await
            } else {
                call(&state, "GET", uri, auth, Value::Null).await
            };
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
            let online = json_of(response).await;
            assert_eq!(online["connections"], 3, "{online}");
            assert!(online["seq"].as_u64().unwrap() > 0);
        }
        // `subjects` narrows the list to the users it allows.
        let own = token_with(
            &state,
            &key,
            json!({"sub": "alice", "subjects": ["user/alice"]}),
        )
        .await;
        let online = json_of(call(&state, "GET", "/v1/presence", &own, Value::Null).await).await;
        assert_eq!(
            (online["users"].clone(), online["connections"].clone()),
            (json!([{"user": "alice", "connections": 1}]), json!(1))
        );
        // A token whose `types` do not cover presence, or a tenant without
        // presence events: refused.
        for types in [json!(["order.*"]), json!([])] {
            let narrow = token_with(&state, &key, json!({"sub": "x", "types": types})).await;
            let response = call(&state, "GET", "/v1/presence", &narrow, Value::Null).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{types}");
        }
        let wide = token_with(&state, &key, json!({"sub": "x", "types": ["*"]})).await;
        let response = call(&state, "GET", "/v1/presence", &wide, Value::Null).await;
        assert_eq!(response.status(), StatusCode::OK);
        let other = token(&state, &quiet_key, "x").await;
        let response = call(&state, "GET", "/v1/presence", &other, Value::Null).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = call(&state, "GET", "/v1/presence", "not-a-token", Value::Null).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        drop(streams);
    }
}
