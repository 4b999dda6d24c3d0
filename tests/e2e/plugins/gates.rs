//! Deliver gates: a plugin decides per subscriber who sees an event.

use beacon_test_support::{activation, ev, plugin, plugin_node};
use serde_json::json;

use super::{QUIET, data, replay_after};

#[tokio::test]
async fn the_vip_gate_lets_only_vips_see_private_events() {
    let server = plugin_node().start().await;
    let club = server.create_tenant("club").await;
    club.install(
        "vip-only",
        &plugin("vip-only"),
        activation(0, &["offer.*"], "fail_closed", json!({})),
    )
    .await;
    let vip_token = club.token_with_claims("vip-1", json!({"vip": true})).await;
    let tier_token = club
        .token_with_claims("vip-2", json!({"tier": "vip"}))
        .await;
    let plain_token = club.token("plain-1").await;
    let mut subscribers = Vec::new();
    for token in [&vip_token, &tier_token, &plain_token] {
        let mut sub = club.stream(token).connect().await;
        sub.expect_connected().await;
        subscribers.push(sub);
    }
    let [vip, tier_vip, plain] = &mut subscribers[..] else {
        unreachable!("three subscribers")
    };

    let marker = club.publish(ev("test.marker", json!({}))).await;
    let private = club
        .publish(ev("offer.created", json!({"sku": "SND-41", "price": 5000})))
        .await;
    let public = club
        .publish(ev(
            "offer.created",
            json!({"sku": "SND-42", "price": 4000, "public": true}),
        ))
        .await;
    // Not a type the gate is activated for: everyone gets it.
    let news = club
        .publish(ev("news.posted", json!({"title": "new season"})))
        .await;

    let all = [
        marker.clone(),
        private.clone(),
        public.clone(),
        news.clone(),
    ];
    vip.expect_ids(&all).await;
    tier_vip.expect_ids(&all).await;
    let seen = plain
        .expect_ids(&[marker.clone(), public.clone(), news.clone()])
        .await;
    assert_eq!(data(&seen[1])["public"], true);
    for sub in [vip, tier_vip, plain] {
        sub.assert_quiet(QUIET).await;
    }

    // One call per gated event for the three open contexts: the private
    // offer allowed for two and denied for one, the public one for all.
    let stats = club.plugin_stats("vip-only").await;
    assert_eq!(
        (stats.get("calls"), stats.get("allows"), stats.get("denies")),
        (2, 5, 1),
        "{stats:?}"
    );

    // A replay is gated too.
    let mut again = replay_after(&club, "plain-2", &marker, None).await;
    again.expect_ids(&[public, news]).await;
    again.assert_quiet(QUIET).await;
    let stats = club.plugin_stats("vip-only").await;
    assert_eq!(
        (stats.get("calls"), stats.get("allows"), stats.get("denies")),
        (4, 6, 2),
        "{stats:?}"
    );
}
