//! misbehave: a publish hook that misbehaves on demand, to exercise the
//! host's limits and failure handling. The event's data field `"do"` picks
//! the behaviour (see [`Behaviour`]); any other event is kept.
//!
//! The behaviours that never return (loop, memory, trap, panic) only run in
//! a component; the unit tests check the choice, not the misbehaviour.

use beacon_plugin_sdk::{Event, Info, Plugin, PublishOutcome, info, warn};
use serde_json::{Value, json};

/// Size of the data the `oversize` behaviour returns (10 MiB), far above
/// the host's default output limit.
pub const OVERSIZE_BYTES: usize = 10 * 1024 * 1024;

/// Memory the `memory` behaviour allocates per step (1 MiB).
const MEMORY_STEP_BYTES: usize = 1024 * 1024;

/// How long `slow` busies itself when the event names no `"ms"`.
pub const DEFAULT_SLOW_MS: u64 = 100;

/// Longest `slow` busies itself, whatever `"ms"` asks (one minute).
pub const MAX_SLOW_MS: u64 = 60_000;

/// Lines `log` writes to each channel when the event names no `"lines"`.
pub const DEFAULT_LOG_LINES: u64 = 3;

/// Most lines `log` writes to each channel, whatever `"lines"` asks.
pub const MAX_LOG_LINES: u64 = 100_000;

/// What the plugin does with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// `"loop"`: spins forever (the host's time or fuel limit ends it).
    Loop,
    /// `"memory"`: allocates until the allocator fails, which aborts.
    Memory,
    /// `"trap"`: executes `unreachable`.
    Trap,
    /// `"panic"`: a Rust panic (a trap too, on wasm32).
    Panic,
    /// `"oversize"`: returns the event with [`OVERSIZE_BYTES`] of data.
    Oversize,
    /// `"slow"`: busy-waits this many milliseconds of wall time (`"ms"`).
    Slow(u64),
    /// `"log"`: writes this many lines each to the log import, stdout and
    /// stderr (`"lines"`), then keeps the event.
    Log(u64),
    /// `"reject"`: refuses the event.
    Reject,
    /// `"drop"`: drops the event.
    Drop,
    /// Anything else: keeps the event.
    Keep,
}

/// The behaviour `data` asks for.
pub fn behaviour(data: &Value) -> Behaviour {
    let number = |field: &str, default: u64, max: u64| {
        data.get(field)
            .and_then(Value::as_u64)
            .unwrap_or(default)
            .min(max)
    };
    match data.get("do").and_then(Value::as_str) {
        Some("loop") => Behaviour::Loop,
        Some("memory") => Behaviour::Memory,
        Some("trap") => Behaviour::Trap,
        Some("panic") => Behaviour::Panic,
        Some("oversize") => Behaviour::Oversize,
        Some("slow") => Behaviour::Slow(number("ms", DEFAULT_SLOW_MS, MAX_SLOW_MS)),
        Some("log") => Behaviour::Log(number("lines", DEFAULT_LOG_LINES, MAX_LOG_LINES)),
        Some("reject") => Behaviour::Reject,
        Some("drop") => Behaviour::Drop,
        _ => Behaviour::Keep,
    }
}

/// The plugin's description.
pub fn describe() -> Info {
    Info::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &[])
}

/// The publish hook.
pub fn on_publish(mut event: Event) -> PublishOutcome {
    let data = event.data_json().unwrap_or(Value::Null);
    match behaviour(&data) {
        Behaviour::Keep => PublishOutcome::Keep,
        Behaviour::Reject => PublishOutcome::Reject("misbehave: asked to reject".to_owned()),
        Behaviour::Drop => PublishOutcome::Drop("misbehave: asked to drop".to_owned()),
        Behaviour::Log(lines) => {
            for i in 0..lines {
                info!("misbehave log line {i}");
                println!("misbehave stdout line {i}");
                eprintln!("misbehave stderr line {i}");
            }
            PublishOutcome::Keep
        }
        Behaviour::Slow(ms) => {
            busy_wait(std::time::Duration::from_millis(ms));
            PublishOutcome::Keep
        }
        Behaviour::Oversize => {
            event.set_data_json(&json!({"do": "oversize", "padding": "x".repeat(OVERSIZE_BYTES)}));
            PublishOutcome::Modify(event)
        }
        Behaviour::Loop => spin(),
        Behaviour::Memory => exhaust_memory(),
        Behaviour::Trap => trap(),
        Behaviour::Panic => panic!("misbehave: asked to panic"),
    }
}

/// Burns CPU for `duration` of wall time (monotonic clock), without
/// sleeping, so only the host's time limit can cut it short.
fn busy_wait(duration: std::time::Duration) {
    let start = std::time::Instant::now();
    let mut spins = 0u64;
    while start.elapsed() < duration {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

/// Spins forever.
fn spin() -> ! {
    let mut spins = 0u64;
    loop {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

/// Allocates and touches memory until the allocator fails; Rust then
/// aborts, which the host sees as a trap after a refused `memory.grow`.
fn exhaust_memory() -> ! {
    warn!("misbehave: growing memory until it fails");
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        held.push(std::hint::black_box(vec![1u8; MEMORY_STEP_BYTES]));
    }
}

/// Executes the `unreachable` instruction (aborts off wasm32).
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// The plugin: the functions above as its description and publish hook.
pub struct Misbehave;

impl Plugin for Misbehave {
    fn describe() -> Info {
        describe()
    }

    fn on_publish(event: Event) -> PublishOutcome {
        on_publish(event)
    }
}

// The component's exports, `plugin` and the publish hook (wasm32 only).
beacon_plugin_sdk::export_plugin!(Misbehave: publish);

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(data: Value) -> PublishOutcome {
        on_publish(Event::new("test.misbehave", &data))
    }

    #[test]
    fn the_do_field_picks_the_behaviour() {
        for (name, expected) in [
            ("loop", Behaviour::Loop),
            ("memory", Behaviour::Memory),
            ("trap", Behaviour::Trap),
            ("panic", Behaviour::Panic),
            ("oversize", Behaviour::Oversize),
            ("slow", Behaviour::Slow(DEFAULT_SLOW_MS)),
            ("log", Behaviour::Log(DEFAULT_LOG_LINES)),
            ("reject", Behaviour::Reject),
            ("drop", Behaviour::Drop),
            ("dance", Behaviour::Keep),
        ] {
            assert_eq!(behaviour(&json!({"do": name})), expected, "{name}");
        }
        assert_eq!(behaviour(&json!({})), Behaviour::Keep);
        assert_eq!(behaviour(&json!({"do": 1})), Behaviour::Keep);
        assert_eq!(behaviour(&json!("loop")), Behaviour::Keep);
    }

    #[test]
    fn numbers_are_capped() {
        assert_eq!(
            behaviour(&json!({"do": "slow", "ms": 5})),
            Behaviour::Slow(5)
        );
        assert_eq!(
            behaviour(&json!({"do": "slow", "ms": u64::MAX})),
            Behaviour::Slow(MAX_SLOW_MS)
        );
        assert_eq!(
            behaviour(&json!({"do": "log", "lines": -1})),
            Behaviour::Log(DEFAULT_LOG_LINES)
        );
        assert_eq!(
            behaviour(&json!({"do": "log", "lines": u64::MAX})),
            Behaviour::Log(MAX_LOG_LINES)
        );
    }

    #[test]
    fn plain_outcomes() {
        assert_eq!(outcome(json!({"x": 1})), PublishOutcome::Keep);
        assert!(matches!(
            outcome(json!({"do": "reject"})),
            PublishOutcome::Reject(_)
        ));
        assert!(matches!(
            outcome(json!({"do": "drop"})),
            PublishOutcome::Drop(_)
        ));
    }

    #[test]
    fn oversize_returns_ten_mebibytes() {
        let PublishOutcome::Modify(event) = outcome(json!({"do": "oversize"})) else {
            panic!("expected modify");
        };
        assert!(event.data.len() > OVERSIZE_BYTES);
        assert_eq!(event.type_, "test.misbehave");
    }

    #[test]
    fn slow_takes_at_least_the_time_asked() {
        let start = std::time::Instant::now();
        assert_eq!(
            outcome(json!({"do": "slow", "ms": 30})),
            PublishOutcome::Keep
        );
        assert!(start.elapsed() >= std::time::Duration::from_millis(30));
    }

    #[test]
    fn log_writes_to_the_log() {
        beacon_plugin_sdk::take_native_logs();
        assert_eq!(
            outcome(json!({"do": "log", "lines": 2})),
            PublishOutcome::Keep
        );
        let lines = beacon_plugin_sdk::take_native_logs();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].1, "misbehave log line 1");
    }

    #[test]
    fn panic_panics() {
        assert!(std::panic::catch_unwind(|| outcome(json!({"do": "panic"}))).is_err());
    }

    #[test]
    fn describes_itself() {
        assert_eq!(describe().name, "misbehave");
        assert!(describe().types.is_empty());
    }
}
