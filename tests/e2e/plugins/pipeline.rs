//! Events through an active plugin: enrichers (Rust and JavaScript) and a
//! redactor change what subscribers and replays see; rejected and dropped
//! events are never stored.

use beacon_test_support::{activation, ev, plugin, plugin_node};
use serde_json::{Value, json};

use super::{QUIET, assert_not_stored, catalogue, data, payment, payment_event, replay_after};

#[tokio::test]
async fn display_amount_enriches_money_events_for_subscribers_and_the_log() {
    let server = plugin_node().start().await;
    server
        .register_schema("payment.succeeded", &catalogue("payment.succeeded"))
        .await;
    let acme = server.create_tenant("acme").await;

    let reply = acme
        .upload_plugin("display-amount", &plugin("display-amount"))
        .await;
    reply.assert_status(201);
    let uploaded = reply.json();
    assert_eq!(uploaded["version"], 1, "{uploaded}");
    assert_eq!(uploaded["hooks"], json!(["publish"]), "{uploaded}");
    assert_eq!(uploaded["info"]["name"], "display-amount", "{uploaded}");
    let digest = uploaded["digest"].as_str().unwrap_or_default();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{uploaded}"
    );
    // Without `types`, the activation takes the plugin's own (`describe`).
    let plugin_view = acme
        .activate(
            "display-amount",
            &json!({"version": 1, "on_error": "fail_closed"}),
        )
        .await;
    let types = plugin_view["activation"]["types"].clone();
    assert!(
        types
            .as_array()
            .is_some_and(|t| t.contains(&json!("payment.*"))),
        "{plugin_view}"
    );

    let mut sub = acme.subscribe("u1").await;
    let marker = acme.publish(ev("test.marker", json!({}))).await;
    let euros = acme
        .publish(json!({
            "type": "payment.succeeded",
            "subject": "order/IE-4486",
            "data": payment(123_450, "EUR"),
        }))
        .await;
    let shillings = acme.publish(payment_event(85_000, "KES")).await;
    let declined = json!({"orderId": "IE-4486", "reason": "declined"});
    let no_money = acme.publish(ev("payment.failed", declined.clone())).await;

    let live = sub
        .expect_ids(&[
            marker.clone(),
            euros.clone(),
            shillings.clone(),
            no_money.clone(),
        ])
        .await;
    let mut expected = payment(123_450, "EUR");
    expected["displayAmount"] = json!("€1,234.50");
    assert_eq!(data(&live[1]), &expected, "{:?}", live[1]);
    assert_eq!(
        live[1].data["version"], 1,
        "the modified event was checked against its contract"
    );
    assert_eq!(live[1].data["subject"], "order/IE-4486");
    assert_eq!(data(&live[2])["displayAmount"], "KSh 850.00");
    assert_eq!(data(&live[3]), &declined, "no amount: kept as published");
    assert_eq!(data(&live[0]), &json!({}));
    sub.assert_quiet(QUIET).await;

    // The stored events are the enriched ones: a replay shows the same.
    let mut replay = replay_after(&acme, "u2", &marker, None).await;
    let replayed = replay.expect_ids(&[euros, shillings, no_money]).await;
    for (stored, delivered) in replayed.iter().zip(&live[1..]) {
        assert_eq!(stored.data, delivered.data);
    }
    replay.assert_quiet(QUIET).await;

    // Three payment events called the plugin (the marker's type does not
    // match): two modified, one kept.
    let stats = acme.plugin_stats("display-amount").await;
    assert_eq!(
        (
            stats.get("calls"),
            stats.get("modifies"),
            stats.get("keeps"),
            stats.get("failures")
        ),
        (3, 2, 1, 0),
        "{stats:?}"
    );
    let view = acme.plugin("display-amount").await;
    assert_eq!(view["stats"]["modifies"], 2, "{view}");
    assert_eq!(view["quarantine"], Value::Null, "{view}");
}

#[tokio::test]
async fn pii_redact_masks_emails_and_phone_numbers_before_subscribers_see_them() {
    let server = plugin_node().start().await;
    let acme = server.create_tenant("acme").await;
    acme.install(
        "pii-redact",
        &plugin("pii-redact"),
        activation(0, &["support.*"], "fail_closed", json!({})),
    )
    .await;
    let mut sub = acme.subscribe("agent-7").await;

    let ticket = json!({
        "ticket": 4486,
        "from": "jane.doe@example.com",
        "phone": "+254 712 345 678",
        "body": "call 0712345678",
        "thread": [{"cc": "ops.team@example.org", "note": "ok"}],
        "jane@example.com": true,
    });
    let opened = acme
        .publish(ev("support.ticket.opened", ticket.clone()))
        .await;
    let closed = acme
        .publish(ev(
            "support.ticket.closed",
            json!({"ticket": 4486, "note": "resolved"}),
        ))
        .await;
    // A type the activation does not name is left alone.
    let elsewhere = acme
        .publish(ev("crm.contact", json!({"email": "jane.doe@example.com"})))
        .await;

    let events = sub.expect_ids(&[opened, closed, elsewhere]).await;
    let masked = data(&events[0]);
    assert_eq!(masked["from"], "j***@example.com", "{masked}");
    assert_eq!(masked["phone"], "+*** *** *** *78", "{masked}");
    assert_eq!(masked["body"], "call ********78", "{masked}");
    assert_eq!(masked["ticket"], 4486, "numbers are not phone numbers");
    assert_eq!(masked["thread"][0]["note"], "ok");
    let cc = masked["thread"][0]["cc"].as_str().unwrap_or_default();
    assert!(
        cc.ends_with("@example.org") && !cc.contains("ops.team"),
        "{masked}"
    );
    assert_eq!(
        masked["jane@example.com"], true,
        "keys are field names, not data"
    );
    let text = masked.to_string();
    for secret in ["jane.doe", "712 345", "0712345678", "ops.team"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(
        data(&events[1]),
        &json!({"ticket": 4486, "note": "resolved"})
    );
    assert_eq!(data(&events[2])["email"], "jane.doe@example.com");
    sub.assert_quiet(QUIET).await;

    let stats = acme.plugin_stats("pii-redact").await;
    assert_eq!(
        (
            stats.get("calls"),
            stats.get("modifies"),
            stats.get("keeps")
        ),
        (2, 1, 1),
        "{stats:?}"
    );
}

#[tokio::test]
async fn the_javascript_enricher_runs_end_to_end() {
    let server = plugin_node().start().await;
    let acme = server.create_tenant("acme").await;
    let wasm = plugin("js-enricher");
    assert!(
        wasm.len() > 1 << 20,
        "a JavaScript component carries its engine"
    );
    acme.install(
        "js-enricher",
        &wasm,
        json!({"on_error": "fail_closed", "types": ["payment.*", "wallet.payout"]}),
    )
    .await;
    let view = acme.plugin("js-enricher").await;
    assert_eq!(view["versions"][0]["info"]["name"], "js-enricher", "{view}");
    assert_eq!(view["versions"][0]["size"], wasm.len(), "{view}");

    let mut sub = acme.subscribe("u1").await;
    let euros = acme.publish(payment_event(123_450, "EUR")).await;
    let payout = acme
        .publish(ev(
            "wallet.payout",
            json!({"walletId": "W-1", "amount": 1200, "currency": "USD"}),
        ))
        .await;
    let failed = acme
        .publish(ev("payment.failed", json!({"orderId": "IE-4486"})))
        .await;
    let events = sub.expect_ids(&[euros, payout, failed]).await;
    let mut expected = payment(123_450, "EUR");
    expected["displayAmount"] = json!("€1,234.50");
    expected["enrichedBy"] = json!("js");
    assert_eq!(data(&events[0]), &expected);
    assert_eq!(data(&events[1])["displayAmount"], "$12.00");
    assert_eq!(data(&events[1])["enrichedBy"], "js");
    assert_eq!(data(&events[2]), &json!({"orderId": "IE-4486"}));
    sub.assert_quiet(QUIET).await;

    let stats = acme.plugin_stats("js-enricher").await;
    assert_eq!(
        (
            stats.get("calls"),
            stats.get("modifies"),
            stats.get("keeps"),
            stats.get("failures")
        ),
        (3, 2, 1, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn rejected_and_dropped_events_are_never_stored() {
    let server = plugin_node().start().await;
    let acme = server.create_tenant("acme").await;
    acme.install(
        "misbehave",
        &plugin("misbehave"),
        activation(0, &["test.*"], "fail_closed", json!({})),
    )
    .await;
    let mut sub = acme.subscribe("u1").await;

    let reply = acme
        .post_events(&ev("test.x", json!({"do": "reject"})))
        .await;
    let body = reply.assert_error(422, "rejected_by_plugin");
    let detail = body["details"][0]["message"].as_str().unwrap_or_default();
    assert!(
        detail.contains("`misbehave`") && detail.contains("misbehave: asked to reject"),
        "{body}"
    );

    let reply = acme.post_events(&ev("test.x", json!({"do": "drop"}))).await;
    assert_eq!(
        assert_not_stored(&reply, "dropped", "misbehave"),
        "misbehave: asked to drop"
    );

    // A batch with a dropped event: the others are stored, in order.
    let reply = acme
        .post_events(&json!([
            ev("test.x", json!({"n": 1})),
            ev("test.x", json!({"do": "drop", "n": 2})),
            ev("test.x", json!({"n": 3})),
        ]))
        .await;
    reply.assert_status(201);
    let body = reply.json();
    let ids = body["ids"].as_array().cloned().unwrap_or_default();
    assert_eq!(ids.len(), 3, "{body}");
    assert!(
        ids[0].is_string() && ids[1].is_null() && ids[2].is_string(),
        "{body}"
    );
    assert_eq!(body["skipped"][0]["index"], 1, "{body}");
    assert_eq!(body["skipped"][0]["outcome"], "dropped", "{body}");
    assert_eq!(body["skipped"][0]["plugin"], "misbehave", "{body}");

    // A batch with a rejected event is refused whole.
    let reply = acme
        .post_events(&json!([
            ev("test.x", json!({"n": 4})),
            ev("test.x", json!({"do": "reject", "n": 5})),
            ev("test.x", json!({"n": 6})),
        ]))
        .await;
    let body = reply.assert_error(422, "rejected_by_plugin");
    assert_eq!(body["details"][0]["path"], "/1", "{body}");

    // With `partial=true` the others are stored.
    let reply = beacon_test_support::send(
        acme.http
            .post(acme.url("/v1/events?partial=true"))
            .bearer_auth(&acme.api_key)
            .json(&json!([
                ev("test.x", json!({"n": 7})),
                ev("test.x", json!({"do": "reject", "n": 8})),
            ])),
    )
    .await;
    reply.assert_status(207);
    let body = reply.json();
    let partial_ids = body["ids"].as_array().cloned().unwrap_or_default();
    assert!(
        partial_ids.len() == 2 && partial_ids[0].is_string() && partial_ids[1].is_null(),
        "{body}"
    );

    let last = acme.publish(ev("test.x", json!({"n": 9}))).await;
    let expected: Vec<String> = [&ids[0], &ids[2], &partial_ids[0]]
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .chain([last])
        .collect();
    let events = sub.expect_ids(&expected).await;
    let numbers: Vec<&Value> = events.iter().map(|e| &data(e)["n"]).collect();
    assert_eq!(numbers, [&json!(1), &json!(3), &json!(7), &json!(9)]);
    sub.assert_quiet(QUIET).await;

    let stats = acme.plugin_stats("misbehave").await;
    assert_eq!(
        (
            stats.get("drops"),
            stats.get("rejects"),
            stats.get("failures")
        ),
        (2, 3, 0),
        "{stats:?}"
    );
    assert!(acme.dead_letters().await.is_empty());
}
