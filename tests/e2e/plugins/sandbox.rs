//! The sandbox: every limit (time, fuel, memory, output, traps) enforced per
//! failure policy, dead letters of failed calls, quarantine and recovery, and
//! other tenants unaffected.

use beacon_test_support::{Beacon, Subscriber, Tenant, activation, ev, plugin, plugin_node};
use serde_json::{Value, json};

use super::{QUIET, assert_not_stored, data, payment_event};

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
