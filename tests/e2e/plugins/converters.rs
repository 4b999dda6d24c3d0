//! Converters: version 2 events shown to version 1 subscribers.

use beacon_test_support::{ev, plugin, plugin_node, send};
use serde_json::json;

use super::{QUIET, catalogue, connect, data, order_v1_data, order_v2, read_json, replay_after};

#[tokio::test]
async fn the_converter_shows_version_2_events_to_version_1_subscribers() {
    let server = plugin_node().start().await;
    let v1 = read_json("plugins/examples/converter/schemas/order.created.v1.json");
    assert_eq!(v1, catalogue("order.created"), "v1 is the catalogue's");
    assert_eq!(server.register_schema("order.created", &v1).await, 1);
    send(
        server
            .admin(
                reqwest::Method::PUT,
                "/v1/schemas/order.created/compatibility",
            )
            .json(&json!({"mode": "NONE"})),
    )
    .await
    .assert_status(200);
    let v2 = read_json("plugins/examples/converter/schemas/order.created.v2.json");
    assert_eq!(server.register_schema("order.created", &v2).await, 2);
    let shop = server.create_tenant("shop").await;

    // Without a converter a version view cannot show v2 as v1.
    let mut old_app = connect(&shop, "old-app", Some("order.created@1")).await;
    let mut new_app = connect(&shop, "new-app", Some("order.created")).await;
    let marker = shop.publish(ev("test.marker", json!({}))).await;
    let before = shop.publish(order_v2("IE-4486")).await;
    let told = old_app.expect_control("beacon.incompatible").await;
    assert_eq!(told["type"], "order.created", "{told}");
    assert_eq!(
        (&told["wanted"], &told["published"]),
        (&json!(1), &json!(2))
    );
    assert!(
        told["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{told}"
    );
    let native = new_app.expect_ids(std::slice::from_ref(&before)).await;
    assert_eq!(native[0].data["version"], 2);
    assert_eq!(data(&native[0])["total"]["amount"], 85000);

    // With the converter, the same connections get v1 shapes.
    shop.install(
        "converter",
        &plugin("converter"),
        json!({"on_error": "fail_open"}),
    )
    .await;
    let view = shop.plugin("converter").await;
    assert_eq!(
        view["activation"]["types"],
        json!(["order.created"]),
        "{view}"
    );
    assert_eq!(view["versions"][0]["hooks"]["convert"], true, "{view}");
    let mut converted_app = connect(&shop, "converted-app", Some("order.created@1")).await;
    let after = shop.publish(order_v2("IE-4487")).await;
    for app in [&mut old_app, &mut converted_app] {
        let events = app.expect_ids(std::slice::from_ref(&after)).await;
        assert_eq!(events[0].event, "order.created");
        assert_eq!(events[0].data["version"], 1, "{:?}", events[0]);
        assert_eq!(data(&events[0]), &order_v1_data("IE-4487"));
        assert_eq!(events[0].data["subject"], "order/IE-4487");
        app.assert_quiet(QUIET).await;
    }
    let native = new_app.expect_ids(std::slice::from_ref(&after)).await;
    assert_eq!(native[0].data["version"], 2, "stored as published");

    // A replay converts too, the event from before the activation included.
    let mut replay = replay_after(&shop, "replayer", &marker, Some("order.created@1")).await;
    let replayed = replay.expect_ids(&[before, after]).await;
    assert_eq!(data(&replayed[0]), &order_v1_data("IE-4486"));
    assert_eq!(data(&replayed[1]), &order_v1_data("IE-4487"));
    assert!(replayed.iter().all(|e| e.data["version"] == 1));
    replay.assert_quiet(QUIET).await;

    // Once for the live event (shared by both v1 subscribers), once per
    // replayed event.
    let stats = shop.plugin_stats("converter").await;
    assert_eq!(
        (stats.get("converts"), stats.get("failures")),
        (3, 0),
        "{stats:?}"
    );
}
