//! Tenant WebAssembly plugins end to end: the example components of
//! `plugins/` (built by `plugins/build.sh`) uploaded to the real `beacon`
//! binary, events published through them, and what real SSE clients,
//! replays, dead letters, stats and metrics show.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use beacon_test_support::{
    Beacon, Patience, RedisServer, SseEvent, Subscriber, Tenant, activation, ev, plugin,
    plugin_node, send, unique_name,
};
use serde_json::{Value, json};

/// How long a test listens to make sure nothing more arrives.
const QUIET: Duration = Duration::from_millis(300);

fn read_json(relative: &str) -> Value {
    let path = format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A contract of the built-in catalogue (`schemas/catalog/<kind>.json`).
fn catalogue(kind: &str) -> Value {
    read_json(&format!("schemas/catalog/{kind}.json"))
}

/// A `payment.succeeded` payload that meets the catalogue's contract: the
/// amount is an integer in minor units.
fn payment(amount: u64, currency: &str) -> Value {
    json!({
        "orderId": "IE-4486",
        "paymentId": "PAY-7781",
        "amount": amount,
        "currency": currency,
        "providerRef": "mpesa-QK71X",
    })
}

fn payment_event(amount: u64, currency: &str) -> Value {
    ev("payment.succeeded", payment(amount, currency))
}

/// `data` of an SSE event (the stored envelope's `data`).
fn data(event: &SseEvent) -> &Value {
    &event.data["data"]
}

/// Mints a token for `sub`, connects with `types` (if any) and consumes
/// `beacon.connected`.
async fn connect(tenant: &Tenant, sub: &str, types: Option<&str>) -> Subscriber {
    let token = tenant.token(sub).await;
    let mut request = tenant.stream(&token);
    if let Some(types) = types {
        request = request.types(types);
    }
    let mut subscriber = request.connect().await;
    subscriber.expect_connected().await;
    subscriber
}

/// Connects with `Last-Event-ID: after` (a replay of what came next).
async fn replay_after(tenant: &Tenant, sub: &str, after: &str, types: Option<&str>) -> Subscriber {
    let token = tenant.token(sub).await;
    let mut request = tenant.stream(&token).last_event_id(after);
    if let Some(types) = types {
        request = request.types(types);
    }
    let mut subscriber = request.connect().await;
    subscriber.expect_connected().await;
    subscriber
}

/// Asserts a 200 "not stored" answer with this outcome and plugin;
/// returns its reason.
fn assert_not_stored(reply: &beacon_test_support::Reply, outcome: &str, plugin: &str) -> String {
    reply.assert_status(200);
    let body = reply.json();
    assert_eq!(body["id"], Value::Null, "{body}");
    assert_eq!(body["outcome"], outcome, "{body}");
    assert_eq!(body["plugin"], plugin, "{body}");
    body["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no reason in {body}"))
        .to_owned()
}

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

/// `order.created` version 2 (the converter example's `schemas/`).
fn order_v2(order: &str) -> Value {
    json!({
        "type": "order.created",
        "version": 2,
        "subject": format!("order/{order}"),
        "data": {
            "orderId": order,
            "title": "Sandals",
            "total": {"amount": 85000, "currency": "KES"},
            "items": [{"sku": "SND-41", "quantity": 1, "unitPrice": 85000}],
        },
    })
}

/// The same order as version 1 of the contract.
fn order_v1_data(order: &str) -> Value {
    json!({
        "orderId": order,
        "title": "Sandals",
        "total": 85000,
        "currency": "KES",
        "items": [{"sku": "SND-41", "quantity": 1, "unitPrice": 85000}],
    })
}

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

/// One way for `misbehave` to fail and the limit that catches it.
struct Misbehaviour {
    case: &'static str,
    data: Value,
    limits: Value,
    code: &'static str,
    /// A part of the reason.
    says: &'static str,
}

fn misbehaviours() -> Vec<Misbehaviour> {
    vec![
        Misbehaviour {
            case: "timeout",
            data: json!({"do": "slow", "ms": 5000}),
            limits: json!({"timeout_ms": 100}),
            code: "timeout",
            says: "ran out of time",
        },
        Misbehaviour {
            case: "fuel",
            data: json!({"do": "loop"}),
            limits: json!({"fuel": 1_000_000}),
            code: "out_of_fuel",
            says: "out of fuel",
        },
        Misbehaviour {
            case: "memory",
            data: json!({"do": "memory"}),
            limits: json!({"memory_bytes": 16 * 1024 * 1024}),
            code: "out_of_memory",
            says: "out of memory",
        },
        Misbehaviour {
            case: "trap",
            data: json!({"do": "trap"}),
            limits: json!({}),
            code: "trap",
            says: "unreachable",
        },
        Misbehaviour {
            case: "panic",
            data: json!({"do": "panic"}),
            limits: json!({}),
            code: "trap",
            says: "asked to panic",
        },
        Misbehaviour {
            case: "output",
            data: json!({"do": "oversize"}),
            limits: json!({"output_bytes": 65536}),
            code: "output_too_large",
            says: "more than the limit of 65536",
        },
    ]
}

/// Another tenant on the node, with a good plugin: it must not notice.
async fn check_bystander(server: &Beacon, other: &Tenant, sub: &mut Subscriber, amount: u64) {
    server.get("/healthz").await.assert_status(200);
    let id = other.publish(payment_event(amount, "USD")).await;
    let got = sub.expect_ids(&[id]).await;
    assert!(
        data(&got[0])["displayAmount"]
            .as_str()
            .is_some_and(|s| s.starts_with('$')),
        "{:?}",
        got[0]
    );
}

#[tokio::test]
async fn every_limit_is_enforced_per_policy_and_quarantine_recovers() {
    // Generous node limits (2 s from `plugin_node`, ten billion fuel),
    // lowered per activation to isolate each failure.
    let server = plugin_node()
        .arg("plugin-fuel", "10000000000")
        .arg("plugin-quarantine-after", "3")
        .start()
        .await;
    let acme = server.create_tenant("acme").await;
    let other = server.create_tenant("other").await;
    other
        .install(
            "display-amount",
            &plugin("display-amount"),
            activation(0, &["payment.*"], "fail_closed", json!({})),
        )
        .await;
    let mut other_sub = other.subscribe("o1").await;
    acme.upload_version("misbehave", &plugin("misbehave")).await;
    let mut sub = acme.subscribe("a1").await;

    let cases = misbehaviours();
    for (i, case) in cases.iter().enumerate() {
        let mut event_data = case.data.clone();
        event_data["case"] = json!(case.case);

        // fail_closed: not stored, kept in dead letters with the reason.
        acme.activate(
            "misbehave",
            &activation(1, &["test.*"], "fail_closed", case.limits.clone()),
        )
        .await;
        let reply = acme
            .post_events(&ev("test.misbehave", event_data.clone()))
            .await;
        let reason = assert_not_stored(&reply, "dead_lettered", "misbehave");
        assert!(
            reason.starts_with(&format!("{}: ", case.code)) && reason.contains(case.says),
            "{}: {reason}",
            case.case
        );

        // fail_open: stored and delivered unchanged.
        acme.activate(
            "misbehave",
            &activation(1, &["test.*"], "fail_open", case.limits.clone()),
        )
        .await;
        event_data["policy"] = json!("open");
        let id = acme.publish(ev("test.misbehave", event_data.clone())).await;
        let got = sub.expect_ids(&[id]).await;
        assert_eq!(data(&got[0]), &event_data, "{}", case.case);

        check_bystander(&server, &other, &mut other_sub, 1000 + i as u64).await;
    }
    sub.assert_quiet(QUIET).await;

    let letters = acme.dead_letters().await;
    assert_eq!(letters.len(), cases.len(), "{letters:#?}");
    for (letter, case) in letters.iter().zip(&cases) {
        assert_eq!(letter["code"], case.code, "{letter}");
        assert_eq!(letter["plugin"], "misbehave", "{letter}");
        assert_eq!(letter["version"], 1, "{letter}");
        assert_eq!(letter["event"]["type"], "test.misbehave", "{letter}");
        assert_eq!(letter["event"]["data"]["case"], case.case, "{letter}");
        assert_eq!(letter["event"]["data"]["do"], case.data["do"], "{letter}");
        assert!(
            letter["reason"]
                .as_str()
                .is_some_and(|r| r.contains(case.says)),
            "{letter}"
        );
        assert!(letter["id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    let stats = acme.plugin_stats("misbehave").await;
    let failed = 2 * cases.len() as u64;
    assert_eq!(
        (
            stats.get("calls"),
            stats.get("failures"),
            stats.get("dead_letters")
        ),
        (failed, failed, cases.len() as u64),
        "{stats:?}"
    );
    let logs = acme.plugin_logs("misbehave").await;
    for code in [
        "timeout",
        "out_of_fuel",
        "out_of_memory",
        "trap",
        "output_too_large",
    ] {
        assert!(
            logs.iter().any(|l| l["source"] == "host"
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!("failed ({code})")))),
            "no host line about {code}: {logs:#?}"
        );
    }
    assert!(other.dead_letters().await.is_empty());
    let bystander = other.plugin_stats("display-amount").await;
    assert_eq!(
        (bystander.get("modifies"), bystander.get("failures")),
        (cases.len() as u64, 0)
    );

    // Quarantine under fail_open: three failures in a row, then the plugin
    // is skipped: an event it would drop is stored unchanged, uncalled.
    acme.activate(
        "misbehave",
        &activation(1, &["test.*"], "fail_open", json!({})),
    )
    .await;
    let before = acme.plugin_stats("misbehave").await;
    for n in 0..3 {
        if n == 2 {
            // Another tenant's activation rebuilds the node's plugins: the
            // failures in a row still count.
            other
                .activate(
                    "display-amount",
                    &activation(1, &["payment.*"], "fail_closed", json!({})),
                )
                .await;
        }
        let id = acme
            .publish(ev("test.misbehave", json!({"do": "trap", "n": n})))
            .await;
        sub.expect_ids(&[id]).await;
    }
    let view = acme.plugin("misbehave").await;
    let quarantine = &view["quarantine"];
    assert_eq!(quarantine["failures"], 3, "{view}");
    assert!(
        quarantine["reason"]
            .as_str()
            .is_some_and(|r| r.contains("3 failures in a row") && r.contains("trap")),
        "{view}"
    );
    let would_drop = json!({"do": "drop", "n": "skipped"});
    let id = acme.publish(ev("test.misbehave", would_drop.clone())).await;
    let got = sub.expect_ids(&[id]).await;
    assert_eq!(data(&got[0]), &would_drop);
    let after = acme.plugin_stats("misbehave").await;
    assert_eq!(after.get("calls"), before.get("calls") + 3, "{after:?}");
    assert_eq!(after.get("skipped"), before.get("skipped") + 1, "{after:?}");
    assert_eq!(after.get("drops"), 0, "{after:?}");
    check_bystander(&server, &other, &mut other_sub, 2000).await;

    // Re-activating lifts it; under fail_closed a quarantined plugin sends
    // what it would have seen to dead letters.
    let view = acme
        .activate(
            "misbehave",
            &activation(1, &["test.*"], "fail_closed", json!({})),
        )
        .await;
    assert_eq!(view["quarantine"], Value::Null, "{view}");
    for n in 0..3 {
        let reply = acme
            .post_events(&ev("test.misbehave", json!({"do": "trap", "n": n})))
            .await;
        let reason = assert_not_stored(&reply, "dead_lettered", "misbehave");
        assert!(reason.starts_with("trap: "), "{reason}");
    }
    assert!(acme.plugin("misbehave").await["quarantine"].is_object());
    let reply = acme
        .post_events(&ev("test.misbehave", json!({"do": "drop"})))
        .await;
    let reason = assert_not_stored(&reply, "dead_lettered", "misbehave");
    assert!(reason.starts_with("quarantined: "), "{reason}");
    let letters = acme.dead_letters().await;
    let last = letters.last().cloned().unwrap_or_default();
    assert_eq!(last["code"], "quarantined", "{last}");
    assert_eq!(last["event"]["data"], json!({"do": "drop"}), "{last}");

    // Activated again: called again (the drop happens), and good events
    // flow.
    let view = acme
        .activate(
            "misbehave",
            &activation(1, &["test.*"], "fail_closed", json!({})),
        )
        .await;
    assert_eq!(view["quarantine"], Value::Null, "{view}");
    let reply = acme
        .post_events(&ev("test.misbehave", json!({"do": "drop"})))
        .await;
    assert_eq!(
        assert_not_stored(&reply, "dropped", "misbehave"),
        "misbehave: asked to drop"
    );
    let id = acme
        .publish(ev("test.misbehave", json!({"n": "recovered"})))
        .await;
    sub.expect_ids(&[id]).await;
    sub.assert_quiet(QUIET).await;
    let logs = acme.plugin_logs("misbehave").await;
    assert!(
        logs.iter()
            .filter(|l| l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("quarantined after 3 failures in a row")))
            .count()
            == 2,
        "{logs:#?}"
    );
    check_bystander(&server, &other, &mut other_sub, 3000).await;
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

/// A component importing these interfaces and exporting nothing.
fn component_importing(imports: &[&str]) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
    };
    let mut component = Component::new();
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    component.section(&types);
    let mut section = ComponentImportSection::new();
    for name in imports {
        section.import(*name, ComponentTypeRef::Instance(0));
    }
    component.section(&section);
    component.finish()
}

/// The reasons (`details[].message`) of a refused upload.
fn reasons(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["message"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn uploads_that_cannot_be_plugins_are_refused_with_reasons() {
    let server = plugin_node()
        .arg("max-plugin-bytes", "100000")
        .start()
        .await;
    let acme = server.create_tenant("acme").await;

    let body = acme
        .upload_plugin("garbage", b"definitely not wasm")
        .await
        .assert_error(400, "invalid_plugin");
    assert!(
        reasons(&body)
            .iter()
            .any(|r| r.contains("not a WebAssembly binary")),
        "{body}"
    );

    let body = acme
        .upload_plugin("core", b"\0asm\x01\0\0\0")
        .await
        .assert_error(400, "invalid_plugin");
    assert!(
        reasons(&body)
            .iter()
            .any(|r| r.contains("core WebAssembly module")),
        "{body}"
    );

    let small = plugin("vip-only");
    assert!(small.len() < 100_000);
    acme.upload_plugin_as("typed", &small, "application/octet-stream")
        .await
        .assert_error(415, "unsupported_media_type");

    let large = plugin("display-amount");
    assert!(large.len() > 100_000);
    let body = acme
        .upload_plugin("large", &large)
        .await
        .assert_error(413, "plugin_too_large");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("100000")),
        "{body}"
    );

    // Network access and an unknown interface, and none of the world's
    // exports: every problem is named.
    let forbidden = component_importing(&[
        "wasi:sockets/tcp@0.2.0",
        "wasi:http/outgoing-handler@0.2.0",
        "evil:thing/x@1.0.0",
    ]);
    let body = acme
        .upload_plugin("forbidden", &forbidden)
        .await
        .assert_error(400, "invalid_plugin");
    let all = reasons(&body).join("\n");
    assert!(
        all.contains("`wasi:sockets/tcp@0.2.0`: plugins have no network access"),
        "{all}"
    );
    assert!(all.contains("`wasi:http/outgoing-handler@0.2.0`"), "{all}");
    assert!(all.contains("`evil:thing/x@1.0.0`"), "{all}");
    assert!(
        all.contains("does not export `beacon:plugin/plugin@0.1.0`"),
        "{all}"
    );
    assert!(all.contains("exports no hook"), "{all}");

    // Allowed imports only, but not the plugin world: no exports.
    let wrong_world = component_importing(&["wasi:cli/stdout@0.2.0"]);
    let body = acme
        .upload_plugin("wrong-world", &wrong_world)
        .await
        .assert_error(400, "invalid_plugin");
    let all = reasons(&body).join("\n");
    assert!(!all.contains("wasi:cli/stdout"), "{all}");
    assert!(
        all.contains("does not export `beacon:plugin/plugin@0.1.0`")
            && all.contains("exports no hook"),
        "{all}"
    );

    for name in ["Upper", "under_score", "-leading", &"x".repeat(64)] {
        acme.upload_plugin(name, &small)
            .await
            .assert_error(400, "invalid_name");
    }

    assert!(acme.plugins().await.is_empty(), "nothing refused was kept");
    let reply = acme.upload_plugin("vip-only", &small).await;
    reply.assert_status(201);
    assert_eq!(reply.json()["version"], 1);
    // The same bytes again: the same version.
    let reply = acme.upload_plugin("vip-only", &small).await;
    reply.assert_status(200);
    assert_eq!(reply.json()["version"], 1);
    let names: Vec<Value> = acme
        .plugins()
        .await
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("vip-only")]);
}

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

/// Which version of a hot-swapped plugin processed an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessedBy {
    /// display-amount: `displayAmount` added, e-mail untouched.
    DisplayAmount,
    /// pii-redact: e-mail masked, no `displayAmount`.
    PiiRedact,
}

/// A swap test event: a payment with an e-mail address.
fn swap_event(n: usize) -> Value {
    ev(
        "payment.captured",
        json!({"n": n, "amount": 1000 + n, "currency": "USD", "email": format!("buyer{n}@example.com")}),
    )
}

/// Which version processed event `n`; panics for an event processed by
/// both or neither.
fn processed_by(n: usize, data: &Value) -> ProcessedBy {
    let email = format!("buyer{n}@example.com");
    let display = format!("${}.{:02}", (1000 + n) / 100, (1000 + n) % 100);
    assert_eq!(data["n"], n, "{data}");
    assert_eq!(data["amount"], 1000 + n, "{data}");
    match (data.get("displayAmount"), data["email"].as_str()) {
        (Some(shown), Some(e)) if e == email && *shown == json!(display) => {
            ProcessedBy::DisplayAmount
        }
        (None, Some("b***@example.com")) => ProcessedBy::PiiRedact,
        _ => panic!("event {n} was processed by both versions or neither: {data}"),
    }
}

#[tokio::test]
async fn a_hot_swap_under_load_loses_and_duplicates_nothing() {
    const EVENTS: usize = 300;
    let server = plugin_node().start().await;
    let acme = server.create_tenant("acme").await;
    let v1 = acme
        .upload_version("enricher", &plugin("display-amount"))
        .await;
    let v2 = acme.upload_version("enricher", &plugin("pii-redact")).await;
    assert_eq!((v1, v2), (1, 2));
    let body = |version| activation(version, &["payment.*"], "fail_closed", json!({}));
    acme.activate("enricher", &body(v1)).await;

    let mut subscribers = [
        connect(&acme, "u1", None).await,
        connect(&acme, "u2", Some("payment.*")).await,
        connect(&acme, "u3", Some("payment.captured")).await,
    ];
    // The marker reaches only the subscriber without a type filter.
    let marker = acme.publish(ev("test.marker", json!({}))).await;
    subscribers[0]
        .expect_ids(std::slice::from_ref(&marker))
        .await;

    // Publish EVENTS numbered events one after another while another task
    // switches v1 → v2 at a third and rolls back at two thirds. `published`
    // counts answered publishes; each switch records the count before the
    // PUT was sent and after it answered.
    let published = Arc::new(AtomicUsize::new(0));
    let switcher = {
        let acme = acme.clone();
        let published = published.clone();
        tokio::spawn(async move {
            let mut windows = Vec::new();
            for (at, version) in [(EVENTS / 3, 2), (2 * EVENTS / 3, 1)] {
                while published.load(Ordering::SeqCst) < at {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let started = published.load(Ordering::SeqCst);
                acme.activate("enricher", &body(version)).await;
                windows.push((started, published.load(Ordering::SeqCst)));
            }
            windows
        })
    };
    let mut ids = Vec::with_capacity(EVENTS);
    for n in 0..EVENTS {
        ids.push(acme.publish(swap_event(n)).await);
        published.fetch_add(1, Ordering::SeqCst);
    }
    let windows = switcher.await.unwrap_or_else(|e| panic!("switcher: {e}"));

    // Every subscriber: every event once, in order, no control event.
    let mut versions: Vec<ProcessedBy> = Vec::new();
    for (i, sub) in subscribers.iter_mut().enumerate() {
        let events = sub.expect_ids(&ids).await;
        let seen: Vec<ProcessedBy> = events
            .iter()
            .enumerate()
            .map(|(n, e)| processed_by(n, data(e)))
            .collect();
        if i == 0 {
            versions = seen;
        } else {
            assert_eq!(seen, versions, "subscriber {i} saw other events");
        }
        sub.assert_quiet(QUIET).await;
        assert!(sub.ended().is_none(), "subscriber {i}'s stream ended");
        assert!(
            !sub.history()
                .iter()
                .any(|e| e.is_control() && e.event != "beacon.connected"),
            "subscriber {i} got a control event"
        );
    }

    // v1, then v2, then v1 again: each switch once, where the PUTs were.
    let switches: Vec<usize> = (1..EVENTS)
        .filter(|&n| versions[n] != versions[n - 1])
        .collect();
    assert_eq!(versions[0], ProcessedBy::DisplayAmount);
    assert_eq!(switches.len(), 2, "switches at {switches:?} ({windows:?})");
    for (switch, (started, answered)) in switches.iter().zip(&windows) {
        assert!(
            *started <= *switch && *switch <= answered + 1,
            "switch at event {switch}, PUT between {started} and {answered}"
        );
    }
    assert_eq!(versions[switches[0]], ProcessedBy::PiiRedact);
    assert_eq!(versions[EVENTS - 1], ProcessedBy::DisplayAmount);

    // Stored once: a replay shows the same, and the plugin ran once per event.
    let mut replay = replay_after(&acme, "u4", &marker, None).await;
    let replayed = replay.expect_ids(&ids).await;
    for (n, event) in replayed.iter().enumerate() {
        assert_eq!(processed_by(n, data(event)), versions[n]);
    }
    let stats = acme.plugin_stats("enricher").await;
    assert_eq!(
        (
            stats.get("calls"),
            stats.get("modifies"),
            stats.get("failures")
        ),
        (EVENTS as u64, EVENTS as u64, 0),
        "{stats:?}"
    );
}

/// Publishes `probe(n)` on `tenant` and reads it back from `sub`, until
/// `wanted` holds for its data. Returns how long that took.
async fn until_processed(
    what: &str,
    tenant: &Tenant,
    sub: &mut Subscriber,
    probe: impl Fn(usize) -> Value,
    wanted: impl Fn(&Value) -> bool,
) -> Duration {
    let patience = Patience::new(what, Duration::from_secs(2));
    for n in 0.. {
        let id = tenant.publish(probe(n)).await;
        let got = sub.expect_ids(&[id]).await;
        if wanted(data(&got[0])) {
            break;
        }
        patience.retry(&got[0].data).await;
    }
    patience.elapsed()
}

#[tokio::test]
async fn two_nodes_on_redis_run_the_same_active_version() {
    let redis = RedisServer::start().await;
    let prefix = unique_name("plugins");
    let n1 = plugin_node().redis(&redis.url(), &prefix).start().await;
    let n2 = plugin_node().redis(&redis.url(), &prefix).start().await;
    let on1 = n1.create_tenant("acme").await;
    let on2 = on1.on(&n2);
    let mut sub = on1.subscribe("u1").await;

    let v1 = on1
        .upload_version("enricher", &plugin("display-amount"))
        .await;
    let v2 = on1.upload_version("enricher", &plugin("pii-redact")).await;
    let body = |version| activation(version, &["payment.*"], "fail_closed", json!({}));
    on1.activate("enricher", &body(v1)).await;
    let enriched = |d: &Value| d.get("displayAmount").is_some();
    let redacted = |d: &Value| d.get("displayAmount").is_none() && d["email"] == "b***@example.com";
    let took = until_processed("node 2 runs v1", &on2, &mut sub, swap_event, enriched).await;
    eprintln!("node 2 ran the activation from node 1 after {took:?}");
    let on_n2 = on2.plugin_stats("enricher").await;
    assert!(on_n2.get("modifies") >= 1, "node 2 ran it: {on_n2:?}");
    assert_eq!(on2.plugin("enricher").await["activation"]["version"], v1);

    // A switch on node 1 reaches node 2; a rollback on node 2 reaches node 1.
    on1.activate("enricher", &body(v2)).await;
    until_processed("node 2 runs v2", &on2, &mut sub, swap_event, redacted).await;
    on2.activate("enricher", &body(v1)).await;
    until_processed("node 1 rolls back", &on1, &mut sub, swap_event, enriched).await;

    // Dead letters written on node 2 are listed on node 1.
    on1.install(
        "misbehave",
        &plugin("misbehave"),
        activation(0, &["test.*"], "fail_closed", json!({})),
    )
    .await;
    let patience = Patience::new("node 2 runs misbehave", Duration::from_secs(3));
    loop {
        let reply = on2.post_events(&ev("test.x", json!({"do": "drop"}))).await;
        if reply.status == 200 {
            assert_not_stored(&reply, "dropped", "misbehave");
            break;
        }
        reply.assert_status(201);
        sub.next().await;
        patience.retry(&reply.text).await;
    }
    let reply = on2
        .post_events(&ev("test.x", json!({"do": "trap", "node": 2})))
        .await;
    assert_not_stored(&reply, "dead_lettered", "misbehave");
    let letters = on1.dead_letters().await;
    assert!(
        letters
            .iter()
            .any(|l| l["code"] == "trap" && l["event"]["data"]["node"] == 2),
        "{letters:#?}"
    );

    // Quarantined on node 2 (five failures in a row): node 1 skips it too.
    for _ in 0..4 {
        let reply = on2
            .post_events(&ev("test.x", json!({"do": "trap", "node": 2})))
            .await;
        assert_not_stored(&reply, "dead_lettered", "misbehave");
    }
    assert_eq!(on1.plugin("misbehave").await["quarantine"]["failures"], 5);
    let patience = Patience::new(
        "node 1 skips the quarantined plugin",
        Duration::from_secs(3),
    );
    loop {
        // Until node 1 follows, the plugin still drops the event there.
        let reply = on1
            .post_events(&ev("test.x", json!({"do": "drop", "node": 1})))
            .await;
        reply.assert_status(200);
        let body = reply.json();
        let reason = body["reason"].as_str().unwrap_or_default();
        if body["outcome"] == "dead_lettered" && reason.starts_with("quarantined: ") {
            break;
        }
        assert_eq!(body["outcome"], "dropped", "{body}");
        patience.retry(&body).await;
    }
    assert!(on1.plugin_stats("misbehave").await.get("skipped") >= 1);
    let letters = on2.dead_letters().await;
    assert!(
        letters
            .iter()
            .any(|l| l["code"] == "quarantined" && l["event"]["data"]["node"] == 1),
        "node 1's letters on node 2: {letters:#?}"
    );

    // Re-activated on node 1: node 2 calls it again.
    on1.activate(
        "misbehave",
        &activation(1, &["test.*"], "fail_closed", json!({})),
    )
    .await;
    let patience = Patience::new("node 2 lifts the quarantine", Duration::from_secs(3));
    loop {
        let reply = on2.post_events(&ev("test.x", json!({"do": "drop"}))).await;
        let body = reply.json();
        if body["outcome"] == "dropped" {
            break;
        }
        patience.retry(&body).await;
    }
}

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
