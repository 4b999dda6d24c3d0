//! What the plugin commands show people: aligned tables, type patterns,
//! sizes and durations.

use std::io::Write;

/// Rows in columns of aligned width (the last one unpadded).
pub fn table<const N: usize>(rows: &[[String; N]], out: &mut dyn Write) -> anyhow::Result<()> {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:w$}  ", w = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `every type` for no patterns, else the patterns.
pub fn types_shown(types: &[String]) -> String {
    if types.is_empty() {
        "every type".to_owned()
    } else {
        format!("types {}", types.join(", "))
    }
}

pub fn list_or<T: std::fmt::Display>(items: &[T], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        let items: Vec<String> = items.iter().map(ToString::to_string).collect();
        items.join(", ")
    }
}

/// `86210 bytes (84.2 KiB)`.
pub fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let x = n as f64;
    if x < KIB {
        format!("{n} bytes")
    } else if x < KIB * KIB {
        format!("{n} bytes ({:.1} KiB)", x / KIB)
    } else {
        format!("{n} bytes ({:.1} MiB)", x / (KIB * KIB))
    }
}

/// A duration in microseconds, for people: `312 µs`, `1.25 ms`.
pub fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} s", us as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(86_210), "86210 bytes (84.2 KiB)");
        assert_eq!(bytes(12 << 20), "12582912 bytes (12.0 MiB)");
        assert_eq!(micros(312), "312 µs");
        assert_eq!(micros(1_250), "1.25 ms");
        assert_eq!(micros(2_000_000), "2.00 s");
    }
}
