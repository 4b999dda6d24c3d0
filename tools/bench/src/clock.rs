//! The clock of a run: `CLOCK_MONOTONIC` in nanoseconds.
//!
//! Publishers stamp each event with it and subscribers, in other processes,
//! read it when the event arrives: the kernel's monotonic clock is the same
//! for every process of the machine and never steps, unlike the wall clock.
//! (`std::time::Instant` reads the same clock but does not expose its value.)

use rustix::time::{ClockId, clock_gettime};

/// Nanoseconds on the machine's monotonic clock.
pub fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// The JSON key under which publishers put their timestamp.
pub const TS_KEY: &str = "bench_ts";
const TS_NEEDLE: &[u8] = b"\"bench_ts\":";

/// Finds `"bench_ts":<digits>` in an event's data and reads the digits.
///
/// A byte search rather than a JSON parse: it costs the same on a Beacon
/// envelope and on an Nchan message (the event as published), where a full
/// parse would charge the larger envelope more client CPU per event.
pub fn extract_ts(data: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(data, TS_NEEDLE)?;
    let mut value: u64 = 0;
    let mut digits = 0;
    for &b in data[at + TS_NEEDLE.len()..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
    {
        if !b.is_ascii_digit() {
            break;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        digits += 1;
    }
    (digits > 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_is_found_in_both_shapes() {
        let beacon = br#"{"id":"e_1-0","type":"bench.tick","source":"bench","data":{"bench_ts":123456789,"seq":4,"pad":"xx"}}"#;
        let nchan = br#"{"type":"bench.tick","data":{"bench_ts": 42,"seq":0}}"#;
        assert_eq!(extract_ts(beacon), Some(123_456_789));
        assert_eq!(extract_ts(nchan), Some(42));
        assert_eq!(extract_ts(br#"{"bench_ts":"x"}"#), None);
        assert_eq!(extract_ts(br#"{"seq":1}"#), None);
        assert_eq!(extract_ts(br#"{"bench_ts":99999999999999999999999}"#), None);
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = now_ns();
        let b = now_ns();
        assert!(a > 0 && b >= a);
    }
}
