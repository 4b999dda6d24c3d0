//! A micro-benchmark of the publish pipeline with one plugin, as an ignored
//! test: `bash plugins/build.sh`, then
//! `cargo test --release -p beacon --lib plugins::bench -- --ignored --nocapture`.
//!
//! On a node with the built-in catalogue it activates one enricher for
//! `payment.succeeded` and times, per event: the contract check alone (what
//! every publish pays), and [`pipeline::run`] — the event handed to the
//! plugin, the call on a warm instance, the modified event checked again
//! against its contract — for the Rust `display-amount` and the JavaScript
//! `js-enricher`. Figures are printed, never asserted.

#[cfg(test)]
mod tests {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use axum::http::StatusCode;
    use serde_json::json;

    use crate::api::testing::{ADMIN, TestNode, node};
    use crate::plugins::pipeline::{self, Verdict};
    use beacon_protocol::envelope::PublishEvent;

    /// Calls per measurement (after a warm-up of a tenth of it).
    const ITERATIONS: u32 = 20_000;
    /// The JavaScript plugin is ~20× slower: fewer calls keep the run short.
    const JS_ITERATIONS: u32 = 2_000;

    fn component(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/plugins/");
        std::fs::read(format!("{path}{name}.wasm"))
            .unwrap_or_else(|e| panic!("{path}{name}.wasm: {e}; run `bash plugins/build.sh` first"))
    }

    fn payment() -> PublishEvent {
        serde_json::from_value(json!({
            "type": "payment.succeeded",
            "subject": "order/IE-4486",
            "data": {"orderId": "IE-4486", "amount": 85000, "currency": "KES", "providerRef": "ch_3PqX9"},
        }))
        .unwrap()
    }

    /// Activates `wasm` as the tenant's only plugin.
    async fn activate(n: &TestNode, key: &str, name: &str, wasm: Vec<u8>) {
        let uri = format!("/v1/plugins/{name}/versions");
        let headers = [("content-type", "application/wasm")];
        let (status, _, body) = n.call("POST", &uri, Some(key), &headers, wasm).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let body = json!({"version": 1, "types": ["payment.*"]});
        let (status, body) = n
            .json("PUT", &format!("/v1/plugins/{name}"), Some(key), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn per_event(n: &TestNode, iterations: u32) -> Duration {
        let state = &n.state;
        let pipeline = state.plugins.tenant("acme").expect("an active plugin");
        let time = crate::event::now_rfc3339();
        let context = pipeline::Context {
            plugins: &state.plugins,
            schemas: &state.schemas,
            tenant: "acme",
            allow_unregistered_types: false,
            time: &time,
        };
        let input = payment();
        for _ in 0..iterations / 10 {
            black_box(pipeline::run(&context, &pipeline, input.clone()).await);
        }
        let started = Instant::now();
        for _ in 0..iterations {
            let verdict = pipeline::run(&context, &pipeline, black_box(input.clone())).await;
            assert!(
                matches!(verdict, Verdict::Store(ref e) if e.data.get("displayAmount").is_some())
            );
        }
        started.elapsed() / iterations
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    #[ignore = "a benchmark: run with --release --ignored --nocapture"]
    async fn bench() {
        let n = node(|s| s.builtin_catalog = true).await;
        let body = json!({"id": "acme"});
        let (status, created) = n.json("POST", "/v1/tenants", Some(ADMIN), body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let key = created["api_key"].as_str().unwrap().to_owned();

        let input = payment();
        let started = Instant::now();
        for _ in 0..ITERATIONS {
            black_box(n.state.schemas.validate_at(
                &input.kind,
                input.version,
                black_box(&input.data),
                "",
            ))
            .unwrap();
        }
        let validation = started.elapsed() / ITERATIONS;

        activate(&n, &key, "enricher", component("display-amount")).await;
        let rust = per_event(&n, ITERATIONS).await;
        let (status, _) = n
            .json("DELETE", "/v1/plugins/enricher", Some(&key), json!(null))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        activate(&n, &key, "enricher-js", component("js-enricher")).await;
        let js = per_event(&n, JS_ITERATIONS).await;

        println!("publish pipeline, one enricher on payment.succeeded, per event:");
        println!(
            "  contract check alone            {:>9.2} µs",
            validation.as_secs_f64() * 1e6
        );
        println!(
            "  pipeline, Rust display-amount   {:>9.2} µs",
            rust.as_secs_f64() * 1e6
        );
        println!(
            "  pipeline, JavaScript enricher   {:>9.2} µs",
            js.as_secs_f64() * 1e6
        );
    }
}
