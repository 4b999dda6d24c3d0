//! Plugin logging: the host's `log` import behind `info!`-style macros.
//!
//! On wasm32 a line goes to the host, which keeps it in the plugin's bounded
//! log. Elsewhere (unit tests on the build machine) the import does not
//! exist, so lines are kept in a per-thread buffer that
//! [`take_native_logs`] drains; the generated import stub is never called.

use crate::Level;

/// Most lines kept in the per-thread buffer off wasm32; older lines are
/// dropped first. Tests drain it long before this.
#[cfg(not(target_arch = "wasm32"))]
const MAX_NATIVE_LINES: usize = 1024;

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    /// Lines logged on this thread off wasm32, oldest first.
    static NATIVE_LINES: std::cell::RefCell<std::collections::VecDeque<(Level, String)>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

/// Writes one line to the plugin's log. The host caps the length of a line
/// and the size of the log; a plugin need not.
pub fn write_log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    NATIVE_LINES.with(|lines| {
        let mut lines = lines.borrow_mut();
        if lines.len() == MAX_NATIVE_LINES {
            lines.pop_front();
        }
        lines.push_back((level, message.to_owned()));
    });
}

/// Takes the lines this thread logged so far (off wasm32 only: in a
/// component the lines went to the host).
#[cfg(not(target_arch = "wasm32"))]
pub fn take_native_logs() -> Vec<(Level, String)> {
    NATIVE_LINES.with(|lines| lines.borrow_mut().drain(..).collect())
}

/// Takes the lines this thread logged so far: always empty in a component,
/// where the lines went to the host.
#[cfg(target_arch = "wasm32")]
pub fn take_native_logs() -> Vec<(Level, String)> {
    Vec::new()
}

/// Logs a `format!`-style line at level debug.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::write_log($crate::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs a `format!`-style line at level info.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::write_log($crate::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs a `format!`-style line at level warn.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::write_log($crate::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs a `format!`-style line at level error.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::write_log($crate::Level::Error, &::std::format!($($arg)*)) };
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn lines_are_recorded_in_order_and_drained() {
        take_native_logs();
        crate::info!("one {}", 1);
        crate::error!("two");
        assert_eq!(
            take_native_logs(),
            vec![
                (Level::Info, "one 1".to_owned()),
                (Level::Error, "two".to_owned())
            ]
        );
        assert!(take_native_logs().is_empty());
    }

    #[test]
    fn the_buffer_is_bounded() {
        take_native_logs();
        for i in 0..MAX_NATIVE_LINES + 5 {
            crate::debug!("{i}");
        }
        let lines = take_native_logs();
        assert_eq!(lines.len(), MAX_NATIVE_LINES);
        assert_eq!(lines[0].1, "5");
    }
}
