//! Operations: `GET /metrics` (Prometheus), `GET /v1/stats` (admin), and
//! the publish route's measurement layer.

use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use beacon_protocol::api::stats::{PluginStatsEntry, Stats, TenantStats};

use super::{ApiError, auth};
use crate::metrics;
use crate::state::AppState;

/// The Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` (no authentication).
pub async fn prometheus(State(state): State<AppState>) -> Response {
    metrics::handles()
        .hub_tails
        .set(state.hub.active_tenants() as f64);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROMETHEUS_TEXT),
        )],
        metrics::render(),
    )
        .into_response()
}

/// `GET /v1/stats`: with the admin token, a summary of this node; with a
/// tenant API key (`read` scope), that tenant's plugin counters.
pub async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if auth::admin(&state, &headers).is_err() {
        let tenant = auth::tenant(&state, &headers, crate::tenants::Scope::Read).await?;
        let plugins = state
            .plugins
            .tenant_stats(&tenant.id)
            .into_iter()
            .map(|(name, stats)| PluginStatsEntry {
                name,
                stats: stats.view(),
            })
            .collect();
        return Ok(Json(TenantStats {
            tenant: tenant.id,
            plugins,
        })
        .into_response());
    }
    Ok(node_stats(&state).await.into_response())
}

async fn node_stats(state: &AppState) -> Json<Stats> {
    let (log, tenants) = tokio::join!(state.log.health(), state.tenants.health());
    let backend = state.log.backend();
    metrics::log_backend_up(backend, log.is_ok());
    let rendered = metrics::render();
    let value = |name| metrics::sum_of(&rendered, name).max(0.0) as u64;
    Json(Stats {
        connections_open: value(metrics::CONNECTIONS_OPEN),
        events_published: value(metrics::EVENTS_PUBLISHED),
        events_delivered: value(metrics::EVENTS_DELIVERED),
        active_tenants: state.hub.active_tenants() as u64,
        log: backend.to_owned(),
        ready: log.is_ok() && tenants.is_ok(),
        uptime_s: metrics::uptime().as_secs(),
    })
}

/// Counts publish requests by outcome and measures their latency.
pub async fn measure_publish(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    metrics::publish_request(response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use futures::StreamExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use crate::api::testing;
    use crate::config::Settings;
    use crate::metrics::{
        CONNECTIONS_OPEN, EVENTS_DELIVERED, EVENTS_PUBLISHED, PUBLISH_REQUESTS, PUBLISH_SECONDS,
        VALIDATION_SECONDS,
    };
    use crate::state::AppState;

    const ADMIN: &str = "admin-token-for-ops-tests";

    /// One sample: `(name, labels, value)`.
    type Sample = (String, BTreeMap<String, String>, f64);

    /// Parses the Prometheus text format strictly: every line is a `# HELP`,
    /// a `# TYPE` or a sample of a family with a declared type.
    fn parse(text: &str) -> Vec<Sample> {
        fn valid_name(name: &str) -> bool {
            let mut chars = name.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
        fn value(text: &str) -> f64 {
            match text {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?}")),
            }
        }
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let (kind, name, more) = (parts.next(), parts.next(), parts.next());
                let name = name.unwrap_or_else(|| panic!("bad comment {line:?}"));
                assert!(valid_name(name), "bad metric name in {line:?}");
                match kind {
                    Some("HELP") => {}
                    Some("TYPE") => {
                        let t = more.unwrap_or_default();
                        assert!(
                            ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                            "bad type in {line:?}"
                        );
                        assert!(
                            types.insert(name.to_owned(), t.to_owned()).is_none(),
                            "type declared twice: {line:?}"
                        );
                    }
                    _ => panic!("unexpected comment {line:?}"),
                }
                continue;
            }
            let name_end = line.find(['{', ' ']).expect("a sample has a value");
            let name = &line[..name_end];
            assert!(valid_name(name), "bad metric name in {line:?}");
            let mut labels = BTreeMap::new();
            let mut rest = &line[name_end..];
            if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices().peekable();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if c == '}' {
                        end = Some(i);
                        break;
                    }
                    if c == ',' {
                        continue;
                    }
                    let eq = inner[i..].find("=\"").expect("label=\"value\"") + i;
                    let label = &inner[i..eq];
                    assert!(valid_name(label), "bad label name in {line:?}");
                    let mut value = String::new();
                    while chars.peek().is_some_and(|(j, _)| *j <= eq + 1) {
                        chars.next();
                    }
                    loop {
                        match chars.next().expect("unterminated label value") {
                            (_, '\\') => match chars.next().expect("escape").1 {
                                'n' => value.push('\n'),
                                c @ ('\\' | '"') => value.push(c),
                                c => panic!("bad escape \\{c} in {line:?}"),
                            },
                            (_, '"') => break,
                            (_, c) => value.push(c),
                        }
                    }
                    labels.insert(label.to_owned(), value);
                }
                rest = &inner[end.expect("unterminated labels") + 1..];
            }
            let fields: Vec<&str> = rest.split_whitespace().collect();
            assert!(
                rest.starts_with(' ') && (1..=2).contains(&fields.len()),
                "bad sample {line:?}"
            );
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s).filter(|f| {
                        types
                            .get(*f)
                            .is_some_and(|t| t == "histogram" || t == "summary")
                    })
                })
                .unwrap_or(name);
            assert!(types.contains_key(family), "no # TYPE for {line:?}");
            samples.push((name.to_owned(), labels, value(fields[0])));
        }
        samples
    }

    fn sum(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
        samples
            .iter()
            .filter(|(n, l, _)| {
                n == name && label.is_none_or(|(k, v)| l.get(k).is_some_and(|x| x == v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    async fn call(
        state: &AppState,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let (headers, body): (&[(&str, &str)], Body) = match body {
            Some(v) => (
                &[("content-type", "application/json")],
                Body::from(v.to_string()),
            ),
            None => (&[], Body::empty()),
        };
        let response = testing::send(state, method, uri, auth, headers, body).await;
        let (status, _, bytes) = testing::read(response).await;
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn scrape(state: &AppState) -> Vec<Sample> {
        let response = crate::api::app(state.clone())
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let bytes = to_bytes(response.into_body(), 4 << 20).await.unwrap();
        parse(std::str::from_utf8(&bytes).unwrap())
    }

    #[tokio::test]
    async fn metrics_parse_as_prometheus_text_and_move_when_events_flow() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::defaults();
        settings.data_dir = dir.path().to_owned();
        settings.admin_token = Some(ADMIN.into());
        let state = crate::server::start(settings, Default::default())
            .await
            .unwrap();
        let before = scrape(&state).await;
        let (s, created) = call(
            &state,
            "POST",
            "/v1/tenants",
            Some(ADMIN),
            Some(json!({"id": "metered", "allow_unregistered_types": true})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let created: Value = serde_json::from_str(&created).unwrap();
        let key = created["api_key"].as_str().unwrap().to_owned();
        let (_, minted) = call(
            &state,
            "POST",
            "/v1/tokens",
            Some(&key),
            Some(json!({"sub": "42"})),
        )
        .await;
        let minted: Value = serde_json::from_str(&minted).unwrap();
        let token = minted["token"].as_str().unwrap();
        let response = crate::api::app(state.clone())
            .oneshot(
                Request::get(format!("/v1/stream?access_token={token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body().into_data_stream();
        let open = scrape(&state).await;
        assert!(sum(&open, CONNECTIONS_OPEN, None) >= 1.0);

        let (s, b) = call(
            &state,
            "POST",
            "/v1/events",
            Some(&key),
            Some(json!([{"type": "a", "data": 1}, {"type": "b", "data": 2}])),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, _) = call(&state, "POST", "/v1/events", Some(&key), Some(json!(42))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let mut text = String::new();
        while text.matches("\nevent: ").count() < 3 {
            let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
                .await
                .expect("the events arrive")
                .unwrap()
                .unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }

        let after = scrape(&state).await;
        let moved = |name: &str, label: Option<(&str, &str)>| {
            sum(&after, name, label) - sum(&before, name, label)
        };
        assert!(moved(EVENTS_PUBLISHED, None) >= 2.0);
        assert!(moved(EVENTS_DELIVERED, None) >= 2.0);
        assert!(moved(PUBLISH_REQUESTS, Some(("outcome", "accepted"))) >= 1.0);
        assert!(moved(PUBLISH_REQUESTS, Some(("outcome", "invalid"))) >= 1.0);
        assert!(moved(&format!("{PUBLISH_SECONDS}_count"), None) >= 2.0);
        assert!(moved(&format!("{VALIDATION_SECONDS}_count"), None) >= 2.0);
        let buckets: BTreeSet<&str> = after
            .iter()
            .filter(|(n, _, _)| *n == format!("{PUBLISH_SECONDS}_bucket"))
            .filter_map(|(_, l, _)| l.get("le").map(String::as_str))
            .collect();
        assert!(buckets.contains("+Inf"), "{buckets:?}");
        assert_eq!(
            sum(
                &after,
                crate::metrics::LOG_BACKEND_UP,
                Some(("backend", "embedded"))
            ),
            1.0
        );

        let (s, _) = call(&state, "GET", "/v1/stats", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, stats) = call(&state, "GET", "/v1/stats", Some(ADMIN), None).await;
        assert_eq!(s, StatusCode::OK, "{stats}");
        let stats: Value = serde_json::from_str(&stats).unwrap();
        assert!(stats["events_published"].as_u64().unwrap() >= 2, "{stats}");
        assert!(stats["events_delivered"].as_u64().unwrap() >= 2, "{stats}");
        assert!(stats["connections_open"].as_u64().unwrap() >= 1, "{stats}");
        assert_eq!(stats["active_tenants"], 1, "{stats}");
        assert_eq!(stats["log"], "embedded");
        assert_eq!(stats["ready"], true);
    }

    #[test]
    fn the_parser_rejects_what_prometheus_rejects() {
        let good =
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"\",b=\"2\"} 3\n";
        assert_eq!(parse(good)[0].1["a"], "q\"");
        for bad in [
            "x_total 1\n",
            "# TYPE x counter\nx{a=1} 1\n",
            "# TYPE x counter\nx one\n",
            "# TYPE 1x counter\n",
        ] {
            assert!(
                std::panic::catch_unwind(|| parse(bad)).is_err(),
                "accepted {bad:?}"
            );
        }
    }
}
