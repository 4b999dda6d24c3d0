//! Results: a readable table per scenario and target, one `RESULT {json}`
//! line each, and at the end one Markdown table per scenario with every
//! target side by side and the ratios Beacon/Nchan of its headline figures.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::opts::TargetKind;

/// Latency histograms record microseconds between 1 µs and 10 minutes with
/// two significant digits (1 % resolution).
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("static histogram bounds are valid")
}

/// Percentiles of a microsecond histogram, in milliseconds.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
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

/// Microseconds as milliseconds.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// `p50 / p90 / p99 / max` in milliseconds for a table cell.
pub fn latency_cell(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "n/a".into();
    }
    let cell = |us: u64| fmt_num(ms(us));
    format!(
        "{} / {} / {} / {} ms",
        cell(h.value_at_quantile(0.50)),
        cell(h.value_at_quantile(0.90)),
        cell(h.value_at_quantile(0.99)),
        cell(h.max())
    )
}

/// Three significant figures or so: `0.42`, `12.6`, `115`, `3 769`.
pub fn fmt_num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        int(v.round() as u64)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
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

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A headline figure, compared across targets in the summary.
#[derive(Debug, Clone)]
pub struct Figure {
    pub label: String,
    pub value: f64,
    pub unit: &'static str,
    /// A count, printed without decimals.
    pub count: bool,
}

impl Figure {
    fn cell(&self) -> String {
        if self.count {
            int(self.value.max(0.0).round() as u64)
        } else {
            fmt_num(self.value)
        }
    }
}

/// One scenario's result on one target.
pub struct Report {
    pub scenario: &'static str,
    /// Scenario and size, e.g. `idle · 10 000 streams`: the summary's tables.
    pub group: String,
    pub target: TargetKind,
    pub title: String,
    pub rows: Vec<(String, String)>,
    pub figures: Vec<Figure>,
    pub json: Map<String, Value>,
    pub warnings: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str, group: String, target: TargetKind) -> Self {
        let mut json = Map::new();
        json.insert("scenario".into(), scenario.into());
        json.insert("target".into(), target.name().into());
        match target {
            TargetKind::BeaconEmbedded => json.insert("backend".into(), "embedded".into()),
            TargetKind::BeaconRedis => json.insert("backend".into(), "redis".into()),
            TargetKind::Nchan => None,
        };
        Self {
            scenario,
            title: format!("{group} · {}", target.name()),
            group,
            target,
            rows: Vec::new(),
            figures: Vec::new(),
            json,
            warnings: Vec::new(),
        }
    }

    pub fn row(&mut self, label: &str, value: impl Into<String>) {
        self.rows.push((label.to_owned(), value.into()));
    }

    /// A headline figure for the summary.
    pub fn figure(&mut self, label: &str, value: f64, unit: &'static str) {
        self.figures.push(Figure {
            label: label.to_owned(),
            value,
            unit,
            count: false,
        });
    }

    /// A headline count (events, streams) for the summary.
    pub fn count(&mut self, label: &str, value: u64) {
        self.figures.push(Figure {
            label: label.to_owned(),
            value: value as f64,
            unit: "",
            count: true,
        });
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.json.insert(key.to_owned(), value.into());
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The `RESULT {json}` line.
    pub fn result_line(&self) -> String {
        let mut json = self.json.clone();
        if !self.warnings.is_empty() {
            json.insert("warnings".into(), json!(self.warnings));
        }
        format!("RESULT {}", Value::Object(json))
    }

    pub fn print(&self) {
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        println!();
        println!("== {} ==", self.title);
        for (label, value) in &self.rows {
            println!("  {label:<width$}  {value}");
        }
        for warning in &self.warnings {
            println!("  !! {warning}");
        }
        println!("{}", self.result_line());
    }
}

/// One Markdown table per scenario group: a column per target, then one
/// per Beacon target with its ratio to Nchan (below 1: Beacon uses less or
/// waits less; for rates, above 1: Beacon delivers more).
pub fn summary(reports: &[Report]) -> String {
    let mut out = String::from("\n== summary (Markdown) ==\n");
    let mut groups: Vec<&str> = Vec::new();
    for r in reports {
        if !groups.contains(&r.group.as_str()) {
            groups.push(&r.group);
        }
    }
    for group in groups {
        let cols: Vec<&Report> = reports.iter().filter(|r| r.group == group).collect();
        let nchan = cols.iter().find(|r| r.target == TargetKind::Nchan);
        let beacons: Vec<&&Report> = cols.iter().filter(|r| r.target.is_beacon()).collect();
        let mut labels: Vec<(&str, &str)> = Vec::new();
        for r in &cols {
            for f in &r.figures {
                if !labels.iter().any(|(l, _)| *l == f.label) {
                    labels.push((&f.label, f.unit));
                }
            }
        }
        let mut header: Vec<String> = cols.iter().map(|r| r.target.name().to_owned()).collect();
        if nchan.is_some() {
            header.extend(
                beacons
                    .iter()
                    .map(|b| format!("{} / nchan", b.target.name())),
            );
        }
        out.push_str(&format!("\n**{group}**\n\n| | {} |\n", header.join(" | ")));
        out.push_str(&format!("|---|{}\n", "---:|".repeat(header.len())));
        for (label, unit) in labels {
            let figure = |r: &Report| r.figures.iter().find(|f| f.label == label).cloned();
            let value = |r: &Report| figure(r).map(|f| f.value);
            let mut cells: Vec<String> = cols
                .iter()
                .map(|r| figure(r).map(|f| f.cell()).unwrap_or_else(|| "–".into()))
                .collect();
            if let Some(nchan) = nchan {
                for b in &beacons {
                    cells.push(match (value(b), value(nchan)) {
                        (Some(b), Some(n)) if n != 0.0 => format!("{:.2}×", b / n),
                        _ => "–".into(),
                    });
                }
            }
            let label = if unit.is_empty() {
                label.to_owned()
            } else {
                format!("{label} ({unit})")
            };
            out.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(target: TargetKind, rss: f64, loss: u64) -> Report {
        let mut r = Report::new("idle", "idle · 10 000 streams".into(), target);
        r.figure("RSS per idle stream", rss, "KiB");
        r.count("loss", loss);
        r
    }

    #[test]
    fn the_summary_puts_targets_side_by_side_with_ratios_to_nchan() {
        let text = summary(&[
            report(TargetKind::BeaconEmbedded, 32.4, 0),
            report(TargetKind::BeaconRedis, 20.0, 0),
            report(TargetKind::Nchan, 10.0, 0),
        ]);
        assert!(
            text.contains("| | beacon-embedded | beacon-redis | nchan | beacon-embedded / nchan | beacon-redis / nchan |"),
            "{text}"
        );
        assert!(
            text.contains("| RSS per idle stream (KiB) | 32.4 | 20.0 | 10.0 | 3.24× | 2.00× |"),
            "{text}"
        );
        assert!(text.contains("| loss | 0 | 0 | 0 | – | – |"), "{text}");
        let alone = summary(&[report(TargetKind::BeaconEmbedded, 32.4, 0)]);
        assert!(alone.contains("| | beacon-embedded |\n"), "{alone}");
    }

    #[test]
    fn result_lines_name_the_target_and_carry_warnings() {
        let mut r = report(TargetKind::BeaconRedis, 1.0, 0);
        r.set("rss_per_conn_kib", 1.0);
        r.warn("careful");
        let line = r.result_line();
        let json: Value =
            serde_json::from_str(line.strip_prefix("RESULT ").expect("prefix")).expect("JSON");
        assert_eq!(json["target"], "beacon-redis");
        assert_eq!(json["backend"], "redis");
        assert_eq!(json["warnings"][0], "careful");
        assert_eq!(int(1_234_567), "1 234 567");
        assert_eq!(fmt_num(3769.4), "3 769");
    }
}
