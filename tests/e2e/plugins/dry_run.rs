//! Dry runs: outcome, output and logs of a plugin call, with nothing stored.

use beacon_test_support::{activation, ev, plugin, plugin_node};
use serde_json::json;

use super::{QUIET, order_v1_data, order_v2, payment_event};

#[tokio::test]
async fn a_dry_run_shows_outcome_output_and_logs_and_changes_nothing() {
    let server = plugin_node().start().await;
    let acme = server.create_tenant("acme").await;
    for name in ["display-amount", "misbehave", "converter", "vip-only"] {
        acme.upload_version(name, &plugin(name)).await;
    }
    let mut sub = acme.subscribe("u1").await;

    let reply = acme
        .dry_run("display-amount", "", &payment_event(123_450, "EUR"))
        .await;
    reply.assert_status(200);
    let result = reply.json();
    assert_eq!(result["outcome"], "modify", "{result}");
    assert_eq!(
        (&result["version"], &result["hook"]),
        (&json!(1), &json!("publish"))
    );
    assert_eq!(result["output"]["type"], "payment.succeeded", "{result}");
    assert_eq!(
        result["output"]["data"]["displayAmount"], "€1,234.50",
        "{result}"
    );
    assert_eq!(result["logs"], json!([]), "{result}");
    assert!(
        result["duration_us"].as_u64().is_some_and(|d| d > 0),
        "{result}"
    );

    let result = acme
        .dry_run("display-amount", "", &ev("payment.failed", json!({})))
        .await
        .json();
    assert_eq!(result["outcome"], "keep", "{result}");
    assert!(result.get("output").is_none(), "{result}");

    let reply = acme
        .dry_run(
            "misbehave",
            "",
            &ev("test.x", json!({"do": "log", "lines": 2})),
        )
        .await;
    reply.assert_status(200);
    let result = reply.json();
    assert_eq!(result["outcome"], "keep", "{result}");
    let lines: Vec<(String, String)> = result["logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|l| {
                    (
                        l["source"].as_str().unwrap_or_default().to_owned(),
                        l["message"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for i in 0..2 {
        for (source, message) in [
            ("log", format!("misbehave log line {i}")),
            ("stdout", format!("misbehave stdout line {i}")),
            ("stderr", format!("misbehave stderr line {i}")),
        ] {
            assert!(
                lines.contains(&(source.to_owned(), message.clone())),
                "no {source} line {message:?} in {result}"
            );
        }
    }

    let result = acme
        .dry_run("misbehave", "", &ev("test.x", json!({"do": "trap"})))
        .await
        .json();
    assert_eq!(
        (&result["outcome"], &result["failure"]),
        (&json!("failed"), &json!("trap")),
        "{result}"
    );
    assert!(
        result["reason"]
            .as_str()
            .is_some_and(|r| r.contains("unreachable")),
        "{result}"
    );
    let result = acme
        .dry_run("misbehave", "", &ev("test.x", json!({"do": "reject"})))
        .await
        .json();
    assert_eq!(result["outcome"], "reject", "{result}");
    assert_eq!(result["reason"], "misbehave: asked to reject", "{result}");

    let result = acme
        .dry_run("converter", "?to_version=1", &order_v2("IE-4486"))
        .await
        .json();
    assert_eq!(result["outcome"], "converted", "{result}");
    assert_eq!(result["hook"], "convert", "{result}");
    assert_eq!(result["output"]["version"], 1, "{result}");
    assert_eq!(
        result["output"]["data"],
        order_v1_data("IE-4486"),
        "{result}"
    );

    let result = acme
        .dry_run(
            "vip-only",
            "",
            &json!({
                "event": ev("offer.created", json!({"price": 5})),
                "subscribers": [
                    {"user_id": "a", "claims": {"vip": true}},
                    {"user_id": "b", "claims": {"tier": "gold"}},
                    {"user_id": "c"},
                ],
            }),
        )
        .await
        .json();
    assert_eq!(result["outcome"], "decided", "{result}");
    assert_eq!(result["deliver"], json!([true, false, false]), "{result}");

    // Nothing was stored, nothing counted, nothing dead-lettered, and the
    // plugins' own logs did not get the dry runs' lines.
    sub.assert_quiet(QUIET).await;
    for name in ["display-amount", "misbehave", "converter", "vip-only"] {
        let view = acme.plugin(name).await;
        assert_eq!(view["stats"]["calls"], 0, "{view}");
        assert_eq!(view["stats"]["failures"], 0, "{view}");
    }
    assert!(acme.dead_letters().await.is_empty());
    assert!(acme.plugin_logs("misbehave").await.is_empty());

    // The logs endpoint: what a running plugin wrote, on every channel.
    acme.activate(
        "misbehave",
        &activation(1, &["test.*"], "fail_closed", json!({})),
    )
    .await;
    let id = acme
        .publish(ev("test.x", json!({"do": "log", "lines": 2})))
        .await;
    sub.expect_ids(&[id]).await;
    let logs = acme.plugin_logs("misbehave").await;
    for (source, message) in [
        ("host", "version 1 activated"),
        ("log", "misbehave log line 1"),
        ("stdout", "misbehave stdout line 1"),
        ("stderr", "misbehave stderr line 0"),
    ] {
        assert!(
            logs.iter()
                .any(|l| l["source"] == source && l["message"] == message),
            "no {source} line {message:?} in {logs:#?}"
        );
    }
    let reply = acme.plugin_logs_request("misbehave", "?limit=2").await;
    reply.assert_status(200);
    let last_two = reply.json()["lines"].clone();
    assert_eq!(last_two.as_array().map(Vec::len), Some(2), "{last_two}");
    assert_eq!(last_two[1], logs[logs.len() - 1]);
}
