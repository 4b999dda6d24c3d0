//! Operations: `/metrics`, `/v1/stats`, the TOML config file.

use std::time::{Duration, Instant};

use beacon_test_support::{Beacon, WAIT, beacon_bin, ev, send};
use serde_json::json;

/// The sum of a metric's samples (over all its labels) in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let family = series.split('{').next()?;
            (family == name).then(|| value.parse::<f64>().expect("a sample value"))
        })
        .sum()
}

async fn scrape(server: &Beacon) -> String {
    let reply = server.get("/metrics").await;
    reply.assert_status(200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    for line in reply
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, value) = line.rsplit_once(' ').expect("name and value");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "not a sample: {line:?}"
        );
    }
    reply.text
}

/// Scrapes until `check` holds (gauges follow closed connections promptly,
/// not instantly).
async fn scrape_until(server: &Beacon, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = scrape(server).await;
        if check(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_and_stats_follow_events_and_connections() {
    let server = Beacon::start().await;
    let before = scrape(&server).await;
    assert_eq!(metric(&before, "beacon_events_published_total"), 0.0);
    assert_eq!(metric(&before, "beacon_sse_connections_open"), 0.0);

    let acme = server.create_tenant("acme").await;
    let mut first = acme.subscribe("u1").await;
    let mut second = acme.subscribe("u2").await;
    let ids = acme
        .publish_batch(&[
            ev("order.created", json!(1)),
            ev("order.paid", json!(2)),
            ev("order.shipped", json!(3)),
        ])
        .await;
    first.expect_ids(&ids).await;
    second.expect_ids(&ids).await;
    acme.post_events(&json!(42)).await.assert_status(400);

    let text = scrape(&server).await;
    assert_eq!(metric(&text, "beacon_events_published_total"), 3.0);
    assert_eq!(metric(&text, "beacon_events_delivered_total"), 6.0);
    assert_eq!(metric(&text, "beacon_sse_connections_open"), 2.0);
    assert_eq!(metric(&text, "beacon_hub_tenant_tails"), 1.0);
    assert!(text.contains("beacon_publish_requests_total{outcome=\"accepted\"} 1"));
    assert!(text.contains("beacon_publish_requests_total{outcome=\"invalid\"} 1"));
    assert!(text.contains("beacon_log_backend_up{backend=\"embedded\"} 1"));
    assert!(metric(&text, "beacon_publish_duration_seconds_count") >= 2.0);

    drop(second);
    let text = scrape_until(&server, |t| metric(t, "beacon_sse_connections_open") == 1.0).await;
    assert_eq!(metric(&text, "beacon_sse_connections_open"), 1.0);

    let mut resumed = acme
        .stream(&acme.token("u3").await)
        .last_event_id(&ids[0])
        .connect()
        .await;
    resumed.expect_connected().await;
    resumed.expect_ids(&ids[1..]).await;
    drop(resumed);
    let text = scrape_until(&server, |t| {
        metric(t, "beacon_events_replayed_total") >= 2.0
    })
    .await;
    assert!(
        text.contains("beacon_sse_streams_opened_total{resume=\"exact\"} 1"),
        "{text}"
    );

    server
        .get("/v1/stats")
        .await
        .assert_error(401, "unauthorized");
    let stats = send(server.admin(reqwest::Method::GET, "/v1/stats")).await;
    stats.assert_status(200);
    let stats = stats.json();
    assert_eq!(stats["events_published"], 3, "{stats}");
    assert!(stats["events_delivered"].as_u64().unwrap() >= 6, "{stats}");
    assert_eq!(stats["active_tenants"], 1, "{stats}");
    assert_eq!(stats["log"], "embedded");
    assert_eq!(stats["ready"], true);
    assert!(stats["uptime_s"].is_u64());
    assert!(stats["connections_open"].as_u64().unwrap() >= 1, "{stats}");
    drop(first);
}

#[tokio::test]
async fn the_config_file_sets_what_flags_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("beacon.toml");
    std::fs::write(
        &path,
        "heartbeat = \"7s\"\nmax_batch = 2\nlog_json = true\n",
    )
    .unwrap();
    // The test harness passes --heartbeat 1s: the flag wins.
    let server = Beacon::builder()
        .arg("config", path.display().to_string())
        .start()
        .await;
    let acme = server.create_tenant("acme").await;
    let mut sub = acme.stream(&acme.token("u1").await).connect().await;
    let data = sub.expect_connected().await;
    assert_eq!(data["heartbeat_s"], 1, "{data}");
    let three = json!([ev("a", json!(1)), ev("a", json!(2)), ev("a", json!(3))]);
    acme.post_events(&three)
        .await
        .assert_error(413, "batch_too_large");
    assert!(
        server.logs().lines().any(|l| l.starts_with('{')),
        "log_json from the file: {}",
        server.logs()
    );
    sub.assert_quiet(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_unknown_key_in_the_config_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("beacon.toml");
    std::fs::write(&path, "heartbeet = \"7s\"\n").unwrap();
    let output = tokio::process::Command::new(beacon_bin().unwrap_or_else(|e| panic!("{e}")))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown setting `heartbeet`"), "{stderr}");
    assert!(stderr.contains("beacon.toml"), "{stderr}");
}
