//! Results: a readable table per scenario, one `RESULT {json}` line per
//! scenario, and a Markdown summary across backends at the end.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// Latency histograms record microseconds between 1 µs and 10 minutes with
/// two significant digits (1 % resolution; about 20 KiB each, one per subscriber).
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("static histogram bounds are valid")
}

/// Percentiles of a microsecond histogram, in milliseconds.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": ms(h.mean().round() as u64),
    })
}

/// `p50 / p90 / p99 / max` in milliseconds for a table cell.
pub fn latency_cell(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "n/a".into();
    }
    let ms = |us: u64| fmt_ms(us as f64 / 1000.0);
    format!(
        "{} / {} / {} / {} ms",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// An integer with thin thousands separators, e.g. `1 000 000`.
pub fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A rate with thousands separators, e.g. `99 870/s`.
pub fn rate(count: u64, seconds: f64) -> String {
    if seconds <= 0.0 {
        return "n/a".into();
    }
    format!("{}/s", int((count as f64 / seconds).round() as u64))
}

/// One scenario's result.
pub struct Report {
    pub scenario: &'static str,
    pub backend: &'static str,
    pub title: String,
    pub rows: Vec<(String, String)>,
    pub json: Map<String, Value>,
    pub warnings: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str, backend: &'static str, title: String) -> Self {
        let mut json = Map::new();
        json.insert("scenario".into(), scenario.into());
        json.insert("backend".into(), backend.into());
        Self {
            scenario,
            backend,
            title,
            rows: Vec::new(),
            json,
            warnings: Vec::new(),
        }
    }

    pub fn row(&mut self, label: &str, value: impl Into<String>) {
        self.rows.push((label.to_owned(), value.into()));
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.json.insert(key.to_owned(), value.into());
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    pub fn print(&mut self) {
        if !self.warnings.is_empty() {
            self.json
                .insert("warnings".into(), json!(self.warnings.clone()));
        }
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        println!();
        println!("== {} ==", self.title);
        for (label, value) in &self.rows {
            println!("  {label:<width$}  {value}");
        }
        for warning in &self.warnings {
            println!("  !! {warning}");
        }
        println!("RESULT {}", Value::Object(self.json.clone()));
    }
}

/// Markdown tables, one per scenario, with a column per backend.
pub fn print_summary(reports: &[Report]) {
    let mut scenarios: Vec<&'static str> = Vec::new();
    for r in reports {
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario);
        }
    }
    println!();
    println!("== summary (Markdown) ==");
    for scenario in scenarios {
        let cols: Vec<&Report> = reports.iter().filter(|r| r.scenario == scenario).collect();
        let mut labels: Vec<&str> = Vec::new();
        for r in &cols {
            for (l, _) in &r.rows {
                if !labels.contains(&l.as_str()) {
                    labels.push(l);
                }
            }
        }
        println!();
        println!("**{scenario}**");
        println!();
        let header: Vec<&str> = cols.iter().map(|r| r.backend).collect();
        println!("| | {} |", header.join(" | "));
        println!("|---|{}", "---|".repeat(cols.len()));
        for label in labels {
            let cells: Vec<&str> = cols
                .iter()
                .map(|r| {
                    r.rows
                        .iter()
                        .find(|(l, _)| l == label)
                        .map(|(_, v)| v.as_str())
                        .unwrap_or("")
                })
                .collect();
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
}
