//! Tenant WebAssembly plugins end to end: the example components of
//! `plugins/` (built by `plugins/build.sh`) uploaded to the real `beacon`
//! binary, events published through them, and what real SSE clients,
//! replays, dead letters, stats and metrics show. One file per concern;
//! the helpers they share are here.

use std::time::Duration;

use beacon_test_support::{SseEvent, Subscriber, Tenant, ev};
use serde_json::{Value, json};

mod activation;
mod converters;
mod dry_run;
mod gates;
mod isolation;
mod metrics;
mod pipeline;
mod sandbox;
mod uploads;

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
