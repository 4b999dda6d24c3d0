//! Tenants apart: one tenant's plugins, dead letters and keys never reach another's.

use beacon_test_support::{activation, ev, plugin, plugin_node, send};
use serde_json::{Value, json};

use super::{QUIET, assert_not_stored, data, payment_event};

#[tokio::test]
async fn a_tenants_plugins_never_see_or_touch_another_tenant() {
    let server = plugin_node().start().await;
    let alpha = server.create_tenant("alpha").await;
    let beta = server.create_tenant("beta").await;
    // Every type, every policy-relevant behaviour: anything it saw of
    // beta's would show.
    alpha
        .install(
            "spy",
            &plugin("misbehave"),
            activation(0, &[], "fail_closed", json!({})),
        )
        .await;
    let mut alpha_sub = alpha.subscribe("a1").await;
    let mut beta_sub = beta.subscribe("b1").await;

    let beta_events = [
        ev("test.x", json!({"do": "reject"})),
        ev("test.x", json!({"do": "drop"})),
        ev("test.x", json!({"do": "trap"})),
        ev("test.x", json!({"do": "log", "lines": 5})),
        payment_event(1200, "USD"),
    ];
    let ids = beta.publish_batch(&beta_events).await;
    let got = beta_sub.expect_ids(&ids).await;
    for (event, published) in got.iter().zip(&beta_events) {
        assert_eq!(data(event), &published["data"], "beta's events unchanged");
    }
    alpha_sub.assert_quiet(QUIET).await;
    let spy = alpha.plugin("spy").await;
    assert_eq!(spy["stats"]["calls"], 0, "{spy}");
    let logs = alpha.plugin_logs("spy").await;
    assert!(
        logs.iter().all(|l| l["source"] == "host"
            && !l["message"].as_str().unwrap_or_default().contains("failed")),
        "{logs:#?}"
    );
    assert!(alpha.dead_letters().await.is_empty());

    // The same name in the other tenant is another plugin.
    let version = beta
        .install(
            "spy",
            &plugin("display-amount"),
            activation(0, &["payment.*"], "fail_closed", json!({})),
        )
        .await;
    assert_eq!(version, 1);
    let paid = beta.publish(payment_event(1200, "USD")).await;
    let got = beta_sub.expect_ids(&[paid]).await;
    assert_eq!(data(&got[0])["displayAmount"], "$12.00");
    let trapped = alpha
        .post_events(&ev("test.x", json!({"do": "trap"})))
        .await;
    assert_not_stored(&trapped, "dead_lettered", "spy");
    assert_eq!(
        alpha.plugin("spy").await["versions"][0]["info"]["name"],
        "misbehave"
    );
    assert_eq!(
        beta.plugin("spy").await["versions"][0]["info"]["name"],
        "display-amount"
    );
    assert_eq!(alpha.dead_letters().await.len(), 1);
    assert!(beta.dead_letters().await.is_empty());
    let alpha_stats = alpha.plugin_stats("spy").await;
    let beta_stats = beta.plugin_stats("spy").await;
    assert_eq!(
        (alpha_stats.get("calls"), alpha_stats.get("failures")),
        (1, 1),
        "{alpha_stats:?}"
    );
    assert_eq!(
        (beta_stats.get("calls"), beta_stats.get("modifies")),
        (1, 1),
        "{beta_stats:?}"
    );

    // Beta cannot reach alpha's plugins.
    alpha.upload_version("private", &plugin("vip-only")).await;
    beta.plugin_request("private")
        .await
        .assert_error(404, "not_found");
    beta.activate_plugin("private", &json!({"version": 1}))
        .await
        .assert_error(404, "not_found");
    beta.delete_plugin("private")
        .await
        .assert_error(404, "not_found");
    beta.plugin_logs_request("private", "")
        .await
        .assert_error(404, "not_found");
    beta.dry_run("private", "", &ev("test.x", json!({})))
        .await
        .assert_error(404, "not_found");
    let names: Vec<Value> = beta
        .plugins()
        .await
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("spy")]);
    assert_eq!(alpha.plugin("private").await["versions"][0]["version"], 1);

    // Keys without the scope are refused.
    let publish_only = alpha.with_key(&server.create_key("alpha", &["publish"]).await);
    let read_only = alpha.with_key(&server.create_key("alpha", &["read"]).await);
    let plugins_only = alpha.with_key(&server.create_key("alpha", &["plugins"]).await);
    for key in [&publish_only, &read_only] {
        key.plugin_request("spy")
            .await
            .assert_error(403, "forbidden");
        key.upload_plugin("spy", &plugin("vip-only"))
            .await
            .assert_error(403, "forbidden");
        key.activate_plugin("spy", &json!({"version": 1}))
            .await
            .assert_error(403, "forbidden");
        key.delete_plugin("spy")
            .await
            .assert_error(403, "forbidden");
        key.plugin_logs_request("spy", "")
            .await
            .assert_error(403, "forbidden");
        key.dry_run("spy", "", &ev("test.x", json!({})))
            .await
            .assert_error(403, "forbidden");
    }
    for key in [&publish_only, &plugins_only] {
        key.dead_letters_request()
            .await
            .assert_error(403, "forbidden");
        key.stats_request().await.assert_error(403, "forbidden");
    }
    assert_eq!(read_only.dead_letters().await.len(), 1);
    assert_eq!(read_only.plugin_stats("spy").await.get("failures"), 1);
    plugins_only.plugin_request("spy").await.assert_status(200);
    plugins_only
        .post_events(&ev("test.x", json!({})))
        .await
        .assert_error(403, "forbidden");
    let admin = send(server.admin(reqwest::Method::GET, "/v1/plugins")).await;
    admin.assert_error_status(401);
    assert_eq!(alpha.plugin("spy").await["versions"][0]["version"], 1);
}
