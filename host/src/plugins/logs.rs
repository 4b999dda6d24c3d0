//! Each plugin's recent log: the lines it wrote with the `log` import and
//! its captured stdout and stderr, plus the host's notes about it (a
//! failure, a quarantine). A bounded ring per (tenant, plugin) on each
//! node: `GET /v1/plugins/{name}/logs` shows the node that answers.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Mutex;

pub use beacon_protocol::api::plugins::LogEntry;

use super::runtime::{LogLevel, LogLine, LogSink, LogSource};

/// Lines kept per plugin; older lines are dropped first.
pub const MAX_LINES: usize = beacon_protocol::api::plugins::MAX_LOG_LINES;

impl From<LogLine> for LogEntry {
    fn from(line: LogLine) -> LogEntry {
        LogEntry {
            time_ms: line.time_ms,
            level: Cow::Borrowed(line.level.as_str()),
            source: Cow::Borrowed(match line.source {
                LogSource::Log => "log",
                LogSource::Stdout => "stdout",
                LogSource::Stderr => "stderr",
            }),
            message: line.message,
        }
    }
}

/// The ring of one plugin's recent lines.
#[derive(Debug)]
pub struct PluginLog {
    capacity: usize,
    /// A `std` mutex: held only to push or copy lines, never across an await.
    lines: Mutex<VecDeque<LogEntry>>,
}

impl Default for PluginLog {
    fn default() -> Self {
        PluginLog::with_capacity(MAX_LINES)
    }
}

impl PluginLog {
    pub fn with_capacity(capacity: usize) -> PluginLog {
        PluginLog {
            capacity: capacity.max(1),
            lines: Mutex::new(VecDeque::new()),
        }
    }

    fn push(&self, entry: LogEntry) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(entry);
    }

    /// Writes a line from the host about the plugin.
    pub fn host(&self, level: LogLevel, message: String) {
        self.push(LogEntry {
            time_ms: crate::log::now_ms(),
            level: Cow::Borrowed(level.as_str()),
            source: Cow::Borrowed("host"),
            message,
        });
    }

    /// The newest `limit` lines, oldest first.
    pub fn recent(&self, limit: usize) -> Vec<LogEntry> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let skip = lines.len().saturating_sub(limit);
        lines.iter().skip(skip).cloned().collect()
    }
}

impl LogSink for PluginLog {
    fn line(&self, line: LogLine) {
        self.push(line.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> LogLine {
        LogLine {
            time_ms: 1,
            level: LogLevel::Info,
            source: LogSource::Stdout,
            message: message.into(),
        }
    }

    #[test]
    fn keeps_the_newest_lines_in_order() {
        let log = PluginLog::with_capacity(3);
        for i in 0..5 {
            log.line(line(&format!("line {i}")));
        }
        log.host(LogLevel::Error, "failed".into());
        let recent: Vec<_> = log.recent(10).into_iter().map(|e| e.message).collect();
        assert_eq!(recent, ["line 3", "line 4", "failed"]);
        let last = log.recent(1);
        assert_eq!((&*last[0].source, &*last[0].level), ("host", "error"));
        assert_eq!(log.recent(2)[0].source, "stdout");
    }
}
