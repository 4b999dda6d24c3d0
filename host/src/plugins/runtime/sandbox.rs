//! What one plugin instance's `Store` holds: a locked-down WASI context (no
//! files, sockets, environment, arguments or stdin; stdout and stderr
//! captured into bounded buffers), the memory limiter, the per-call
//! deadline, and the per-call log budget. A `Store<Sandbox>` belongs to one
//! plugin of one tenant and serves one call at a time.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli};
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::filesystem::WasiFilesystem;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::types::{LogLevel, LogLine, LogSink, LogSource, truncate};

/// Bytes of stdout, and separately of stderr, kept per call; the rest is
/// counted and reported as dropped.
pub const MAX_CAPTURE_BYTES: usize = 16 * 1024;

/// Longest line forwarded to a [`LogSink`]; longer lines are cut.
pub const MAX_LINE_BYTES: usize = 1024;

/// Lines forwarded per call from each source (the `log` import, stdout,
/// stderr); more are counted and reported in one "lines dropped" line.
pub const MAX_LINES_PER_CALL: usize = 100;

/// Largest table a plugin may grow to (function references). A
/// JavaScript engine has about ten thousand entries.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Largest `get-random-bytes` request honoured.
const MAX_RANDOM_BYTES: u64 = 64 * 1024;

/// The error the epoch callback raises when a call passes its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the call passed its deadline")]
pub(super) struct DeadlinePassed;

/// The per-instance state of a plugin's `Store`.
pub(super) struct Sandbox {
    /// WASI state: built with nothing granted (see [`Sandbox::new`]).
    wasi: WasiCtx,
    /// Resources (streams, pollables) handed to the guest.
    table: ResourceTable,
    /// Memory and table caps, remembering refusals.
    limiter: Limiter,
    /// The guest's stdout, bounded.
    stdout: Capture,
    /// The guest's stderr, bounded.
    stderr: Capture,
    /// Where lines go.
    sink: Arc<dyn LogSink>,
    /// Lines of the `log` import written during the current call.
    log_lines: usize,
    /// Lines of the `log` import dropped during the current call.
    log_dropped: usize,
    /// When the current call must end; checked at every epoch tick.
    deadline: Instant,
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// What the host learns from a call's captured output.
#[derive(Debug, Default)]
pub(super) struct CallOutput {
    /// A Rust panic message found on stderr (`panicked at …: message`).
    pub panic: Option<String>,
}

impl Sandbox {
    /// A store for one instance, with the memory cap, the epoch callback
    /// (yield at each tick, fail past the deadline) and nothing granted.
    pub(super) fn store(
        engine: &Engine,
        memory_bytes: usize,
        sink: Arc<dyn LogSink>,
    ) -> Store<Sandbox> {
        let stdout = Capture::new(MAX_CAPTURE_BYTES);
        let stderr = Capture::new(MAX_CAPTURE_BYTES);
        // The builder starts empty: no preopened directories, environment,
        // arguments or stdin, and no network (sockets are not even linked).
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        let sandbox = Sandbox {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes,
                refused: false,
            },
            stdout,
            stderr,
            sink,
            log_lines: 0,
            log_dropped: 0,
            deadline: Instant::now(),
        };
        let mut store = Store::new(engine, sandbox);
        store.limiter(|sandbox| &mut sandbox.limiter);
        store.epoch_deadline_callback(|context| {
            if Instant::now() >= context.data().deadline {
                Err(wasmtime::Error::new(DeadlinePassed))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Adds the WASI interfaces plugins may import to `linker`: the subset
    /// Rust's std pulls in (cli, io, clocks, random, filesystem types with
    /// no preopens). Sockets and HTTP are not linked.
    pub(super) fn add_wasi_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
        use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random};
        let l = linker;
        io::error::add_to_linker::<Sandbox, HasTable>(l, |s| &mut s.table)?;
        io::poll::add_to_linker::<Sandbox, HasTable>(l, |s| &mut s.table)?;
        io::streams::add_to_linker::<Sandbox, HasTable>(l, |s| &mut s.table)?;
        clocks::wall_clock::add_to_linker::<Sandbox, WasiClocks>(l, clocks_view)?;
        clocks::monotonic_clock::add_to_linker::<Sandbox, WasiClocks>(l, clocks_view)?;
        random::random::add_to_linker::<Sandbox, WasiRandom>(l, |s| s.wasi.random())?;
        random::insecure::add_to_linker::<Sandbox, WasiRandom>(l, |s| s.wasi.random())?;
        random::insecure_seed::add_to_linker::<Sandbox, WasiRandom>(l, |s| s.wasi.random())?;
        filesystem::types::add_to_linker::<Sandbox, WasiFilesystem>(l, filesystem_view)?;
        filesystem::preopens::add_to_linker::<Sandbox, WasiFilesystem>(l, filesystem_view)?;
        cli::exit::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::environment::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::stdin::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::stdout::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::stderr::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::terminal_input::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::terminal_output::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::terminal_stdin::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::terminal_stdout::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        cli::terminal_stderr::add_to_linker::<Sandbox, WasiCli>(l, cli_view)?;
        Ok(())
    }

    /// Resets the per-call state before a call (or an instantiation) that
    /// must end within `timeout`.
    pub(super) fn begin_call(&mut self, timeout: Duration) {
        self.deadline = Instant::now() + timeout;
        self.limiter.refused = false;
        self.log_lines = 0;
        self.log_dropped = 0;
        // Output left over from an earlier call was already forwarded.
        drop(self.stdout.take());
        drop(self.stderr.take());
    }

    /// Whether the limiter refused to grow a memory or table since
    /// [`Sandbox::begin_call`].
    pub(super) fn refused_grow(&self) -> bool {
        self.limiter.refused
    }

    /// The `log` import: forwards the line now, within the per-call budget.
    pub(super) fn guest_log(&mut self, level: LogLevel, message: String) {
        if self.log_lines >= MAX_LINES_PER_CALL {
            self.log_dropped += 1;
            return;
        }
        self.log_lines += 1;
        self.sink.line(LogLine {
            time_ms: now_ms(),
            level,
            source: LogSource::Log,
            message: truncate(message, MAX_LINE_BYTES),
        });
    }

    /// Ends a call: forwards captured stdout and stderr as lines, writes
    /// the "dropped" notes, and reports a panic message found on stderr.
    pub(super) fn finish_call(&mut self) -> CallOutput {
        if self.log_dropped > 0 {
            self.sink
                .line(dropped_line(LogSource::Log, self.log_dropped, "lines"));
            self.log_dropped = 0;
        }
        let (stdout, stdout_dropped) = self.stdout.take();
        forward(&*self.sink, LogSource::Stdout, &stdout, stdout_dropped);
        let (stderr, stderr_dropped) = self.stderr.take();
        forward(&*self.sink, LogSource::Stderr, &stderr, stderr_dropped);
        CallOutput {
            panic: panic_message(&String::from_utf8_lossy(&stderr)),
        }
    }
}

/// [`HasData`] for the `wasi:io` interfaces, which only need the table.
struct HasTable;

impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

fn clocks_view(s: &mut Sandbox) -> wasmtime_wasi::clocks::WasiClocksCtxView<'_> {
    wasmtime_wasi::clocks::WasiClocksCtxView {
        ctx: s.wasi.clocks(),
        table: &mut s.table,
    }
}

fn filesystem_view(s: &mut Sandbox) -> wasmtime_wasi::filesystem::WasiFilesystemCtxView<'_> {
    wasmtime_wasi::filesystem::WasiFilesystemCtxView {
        ctx: s.wasi.filesystem(),
        table: &mut s.table,
    }
}

fn cli_view(s: &mut Sandbox) -> wasmtime_wasi::cli::WasiCliCtxView<'_> {
    wasmtime_wasi::cli::WasiCliCtxView {
        ctx: s.wasi.cli(),
        table: &mut s.table,
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn dropped_line(source: LogSource, count: usize, what: &str) -> LogLine {
    LogLine {
        time_ms: now_ms(),
        level: LogLevel::Warn,
        source,
        message: format!("… {count} {what} dropped"),
    }
}

/// Sends captured output to `sink` as lines (at most
/// [`MAX_LINES_PER_CALL`], each cut at [`MAX_LINE_BYTES`]).
fn forward(sink: &dyn LogSink, source: LogSource, bytes: &[u8], dropped_bytes: usize) {
    if bytes.is_empty() && dropped_bytes == 0 {
        return;
    }
    let level = match source {
        LogSource::Stderr => LogLevel::Warn,
        _ => LogLevel::Info,
    };
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect::<Vec<_>>();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let time_ms = now_ms();
    for line in lines.iter().take(MAX_LINES_PER_CALL) {
        sink.line(LogLine {
            time_ms,
            level,
            source,
            message: truncate((*line).to_owned(), MAX_LINE_BYTES),
        });
    }
    if lines.len() > MAX_LINES_PER_CALL {
        sink.line(dropped_line(
            source,
            lines.len() - MAX_LINES_PER_CALL,
            "lines",
        ));
    }
    if dropped_bytes > 0 {
        sink.line(dropped_line(source, dropped_bytes, "bytes"));
    }
}

/// The message of a Rust panic printed to stderr:
/// `thread '…' panicked at src/lib.rs:1:2:\nmessage\nnote: …` becomes
/// `panicked at src/lib.rs:1:2: message`.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let head = lines.by_ref().find(|l| l.contains("panicked at "))?;
    let at = head
        .split_once("panicked at ")
        .map_or("", |(_, at)| at)
        .trim_end_matches(':');
    let message: Vec<&str> = lines
        .take_while(|l| !l.starts_with("note: "))
        .take(MAX_LINES_PER_CALL)
        .collect();
    let text = if message.is_empty() {
        format!("panicked at {at}")
    } else {
        format!("panicked at {at}: {}", message.join("\n"))
    };
    Some(truncate(text, MAX_LINE_BYTES))
}

/// Memory and table caps for one store, remembering whether it refused a
/// grow (a trap right after that is reported as out of memory).
struct Limiter {
    /// Cap on each linear memory.
    memory_bytes: usize,
    /// Set when a grow was refused or failed; cleared per call.
    refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes && maximum.is_none_or(|max| desired <= max);
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.refused = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max);
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.refused = true;
        Ok(())
    }
}

/// A bounded in-memory stdout or stderr: keeps the first `capacity` bytes
/// of a call, counts the rest, never fails a write (a chatty plugin must
/// not trap because of its prints). Clones share the buffer.
#[derive(Clone)]
pub(super) struct Capture {
    /// A `std` mutex: held only to copy bytes in or out, never across an await.
    inner: Arc<Mutex<CaptureBuffer>>,
}

struct CaptureBuffer {
    bytes: Vec<u8>,
    dropped: usize,
    capacity: usize,
}

impl Capture {
    pub(super) fn new(capacity: usize) -> Capture {
        Capture {
            inner: Arc::new(Mutex::new(CaptureBuffer {
                bytes: Vec::new(),
                dropped: 0,
                capacity,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CaptureBuffer> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends what fits, counting the rest as dropped.
    fn push(&self, bytes: &[u8]) {
        let mut buffer = self.lock();
        let room = buffer.capacity.saturating_sub(buffer.bytes.len());
        let kept = bytes.len().min(room);
        buffer.bytes.extend_from_slice(&bytes[..kept]);
        buffer.dropped += bytes.len() - kept;
    }

    /// The bytes kept and the number dropped since the last take.
    pub(super) fn take(&self) -> (Vec<u8>, usize) {
        let mut buffer = self.lock();
        let dropped = std::mem::take(&mut buffer.dropped);
        (std::mem::take(&mut buffer.bytes), dropped)
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always ready; the size only bounds one write of the guest.
        Ok(MAX_CAPTURE_BYTES)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sink that keeps every line, for tests.
    #[derive(Default)]
    pub(crate) struct Lines(pub Mutex<Vec<LogLine>>);

    impl LogSink for Lines {
        fn line(&self, line: LogLine) {
            self.0.lock().unwrap().push(line);
        }
    }

    impl Lines {
        pub(crate) fn messages(&self, source: LogSource) -> Vec<String> {
            let lines = self.0.lock().unwrap();
            lines
                .iter()
                .filter(|l| l.source == source)
                .map(|l| l.message.clone())
                .collect()
        }
    }

    #[test]
    fn capture_keeps_the_first_bytes_and_counts_the_rest() {
        let capture = Capture::new(8);
        capture.push(b"hello ");
        capture.push(b"world");
        assert_eq!(capture.take(), (b"hello wo".to_vec(), 3));
        assert_eq!(capture.take(), (Vec::new(), 0));
    }

    #[test]
    fn forward_cuts_lines_and_counts_drops() {
        let sink = Lines::default();
        let long = "y".repeat(MAX_LINE_BYTES * 2);
        let mut text = format!("first\r\n{long}\n");
        for i in 0..MAX_LINES_PER_CALL {
            text.push_str(&format!("line {i}\n"));
        }
        forward(&sink, LogSource::Stdout, text.as_bytes(), 42);
        let got = sink.messages(LogSource::Stdout);
        assert_eq!(got.len(), MAX_LINES_PER_CALL + 2);
        assert_eq!(got[0], "first");
        assert!(got[1].len() <= MAX_LINE_BYTES && got[1].ends_with('…'));
        assert_eq!(got[MAX_LINES_PER_CALL], "… 2 lines dropped");
        assert_eq!(got[MAX_LINES_PER_CALL + 1], "… 42 bytes dropped");
    }

    #[test]
    fn panic_messages_are_found() {
        let stderr = "noise\nthread '<unnamed>' panicked at src/lib.rs:120:25:\nasked to panic\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("panicked at src/lib.rs:120:25: asked to panic")
        );
        assert_eq!(panic_message("just output\n"), None);
    }

    #[test]
    fn limiter_refuses_and_remembers() {
        let mut limiter = Limiter {
            memory_bytes: 1024,
            refused: false,
        };
        assert!(limiter.memory_growing(0, 1024, None).unwrap());
        assert!(!limiter.refused);
        assert!(!limiter.memory_growing(1024, 2048, None).unwrap());
        assert!(limiter.refused);
        limiter.refused = false;
        assert!(!limiter.memory_growing(0, 512, Some(256)).unwrap());
        assert!(limiter.refused);
        limiter.refused = false;
        assert!(
            !limiter
                .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
                .unwrap()
        );
        assert!(limiter.refused);
    }

    #[test]
    fn guest_log_is_bounded_per_call() {
        let engine = Engine::default();
        let sink = Arc::new(Lines::default());
        let mut store = Sandbox::store(&engine, 1 << 20, sink.clone());
        let sandbox = store.data_mut();
        sandbox.begin_call(Duration::from_secs(1));
        for i in 0..MAX_LINES_PER_CALL + 5 {
            sandbox.guest_log(LogLevel::Info, format!("line {i}"));
        }
        sandbox.finish_call();
        let got = sink.messages(LogSource::Log);
        assert_eq!(got.len(), MAX_LINES_PER_CALL + 1);
        assert_eq!(got[MAX_LINES_PER_CALL], "… 5 lines dropped");
        // The budget is per call.
        sandbox.begin_call(Duration::from_secs(1));
        sandbox.guest_log(LogLevel::Warn, "again".into());
        assert_eq!(sink.messages(LogSource::Log).last().unwrap(), "again");
    }
}
