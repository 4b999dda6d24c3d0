//! Names unique to one test, for Redis key prefixes, tenants and tokens, so
//! tests sharing a server (or running in parallel) never see each other's
//! data.

use std::sync::atomic::{AtomicU64, Ordering};

/// `<prefix>-<pid>-<counter>-<nanoseconds>`: unique within this test run
/// and across concurrent runs.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_and_keep_the_prefix() {
        let (a, b) = (unique_name("t"), unique_name("t"));
        assert_ne!(a, b);
        assert!(a.starts_with("t-") && b.starts_with("t-"), "{a} {b}");
    }
}
