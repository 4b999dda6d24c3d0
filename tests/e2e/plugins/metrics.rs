//! Plugin calls in the Prometheus metrics.

use beacon_test_support::{activation, ev, plugin, plugin_node};
use serde_json::json;

/// The value of the sample of `family` whose labels include all of `labels`.
fn sample(text: &str, family: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            series.split('{').next() == Some(family) && labels.iter().all(|l| series.contains(l))
        })
        .and_then(|(_, value)| value.parse().ok())
}

#[tokio::test]
async fn plugin_calls_show_in_metrics() {
    let server = plugin_node().start().await;
    let acme = server.create_tenant("acme").await;
    acme.install(
        "misbehave",
        &plugin("misbehave"),
        activation(0, &["test.*"], "fail_closed", json!({})),
    )
    .await;
    acme.publish(ev("test.x", json!({"n": 1}))).await;
    acme.publish(ev("test.x", json!({"n": 2}))).await;
    acme.post_events(&ev("test.x", json!({"do": "drop"})))
        .await
        .assert_status(200);
    acme.post_events(&ev("test.x", json!({"do": "reject"})))
        .await
        .assert_status(422);
    acme.post_events(&ev("test.x", json!({"do": "trap"})))
        .await
        .assert_status(200);

    let reply = server.get("/metrics").await;
    reply.assert_status(200);
    let text = reply.text;
    let ours = ["tenant=\"acme\"", "plugin=\"misbehave\""];
    for (outcome, count) in [
        ("keep", 2.0),
        ("drop", 1.0),
        ("reject", 1.0),
        ("failure", 1.0),
        ("modify", 0.0),
    ] {
        let label = format!("outcome=\"{outcome}\"");
        let labels = [ours[0], ours[1], label.as_str()];
        assert_eq!(
            sample(&text, "beacon_plugin_calls_total", &labels),
            Some(count),
            "{outcome} in:\n{text}"
        );
    }
    assert_eq!(
        sample(&text, "beacon_plugin_call_duration_seconds_count", &ours),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "beacon_dead_letters_total", &["code=\"trap\""]),
        Some(1.0),
        "{text}"
    );
}
