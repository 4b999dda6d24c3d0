//! A micro-benchmark of the publish-time contract check, as an ignored
//! test: `cargo test --release -p beacon --lib schema::bench -- --ignored
//! --nocapture`.
//!
//! It registers the catalogue's `order.created` contract (and a v2 that
//! adds a property) in an in-memory registry and times, per call:
//! [`Registry::validate`] on a valid event (the hot path: snapshot load,
//! type lookup, compiled validator), on an invalid one (violations
//! collected with pointers), and [`Registry::view`] projecting a v2 event
//! to v1. Figures are printed, never asserted.

use std::fmt;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::{Registry, SchemaError, embedded};

const ORDER_CREATED: &str = include_str!("../../../schemas/catalog/order.created.json");

/// Nanoseconds per call.
#[derive(Debug, Clone, Copy)]
struct Figures {
    iterations: u32,
    valid_ns: f64,
    invalid_ns: f64,
    view_ns: f64,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "contract validation, {} iterations each:",
            self.iterations
        )?;
        writeln!(
            f,
            "  validate (valid order.created)    {:>9.0} ns/op",
            self.valid_ns
        )?;
        writeln!(
            f,
            "  validate (invalid, 3 violations)  {:>9.0} ns/op",
            self.invalid_ns
        )?;
        write!(
            f,
            "  view v2 -> v1 (project + check)   {:>9.0} ns/op",
            self.view_ns
        )
    }
}

/// Runs the benchmark with `iterations` calls per case.
async fn run(iterations: u32) -> Result<Figures, SchemaError> {
    let registry = Registry::new(Arc::new(embedded::in_memory()?));
    let v1: Value = serde_json::from_str(ORDER_CREATED)
        .map_err(|e| crate::backend::BackendError::from(e).context("order.created.json"))?;
    let mut v2 = v1.clone();
    v2["properties"]["channel"] = json!({"type": "string", "enum": ["web", "app", "pos"]});
    registry.register("order.created", v1).await?;
    registry.register("order.created", v2).await?;

    let valid = json!({
        "orderId": "IE-4486", "title": "Leather sandals", "total": 85000, "currency": "KES",
        "buyerId": "u-42", "createdAt": "2026-11-23T11:09:12Z"
    });
    let invalid =
        json!({"orderId": "IE-4486", "total": 850.5, "currency": "kes", "channel": "fax"});
    let v2_event =
        json!({"orderId": "IE-4486", "total": 85000, "currency": "KES", "channel": "web"});

    let time = |f: &dyn Fn() -> bool| {
        for _ in 0..iterations.min(1000) {
            black_box(f());
        }
        let started = Instant::now();
        for _ in 0..iterations {
            black_box(f());
        }
        started.elapsed().as_nanos() as f64 / f64::from(iterations.max(1))
    };
    let valid_ns = time(&|| {
        registry
            .validate(black_box("order.created"), None, black_box(&valid))
            .is_ok()
    });
    let invalid_ns = time(&|| {
        registry
            .validate(black_box("order.created"), None, black_box(&invalid))
            .is_err()
    });
    let view_ns = time(&|| {
        registry
            .view("order.created", 2, 1, black_box(&v2_event))
            .is_ok()
    });
    Ok(Figures {
        iterations,
        valid_ns,
        invalid_ns,
        view_ns,
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    #[ignore = "a benchmark: run with --ignored --nocapture, preferably --release"]
    async fn validation_figures() {
        let figures = super::run(200_000).await.unwrap();
        println!("{figures}");
    }

    #[tokio::test]
    async fn the_benchmark_runs() {
        let figures = super::run(10).await.unwrap();
        assert!(figures.valid_ns > 0.0);
    }
}
