//! A lean Server-Sent Events subscriber: one raw TCP connection, a minimal
//! HTTP/1.1 GET, and incremental frame parsing (blank-line boundaries, the
//! `event:` name and the publish timestamp inside `data:`).

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chunked::ChunkDecoder;
use crate::http::{BodyKind, parse_head, read_more};

/// JSON key under which publishers put their timestamp (ns since the run's epoch).
pub const TS_KEY: &str = "bench_ts";
const TS_NEEDLE: &[u8] = b"\"bench_ts\":";
/// Read buffer per connection.
const READ_CHUNK: usize = 16 * 1024;

/// What one complete SSE frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An application event; `ts` is the publish timestamp found in its data.
    Event { ts: Option<u64> },
    /// A `beacon.*` control event, with its data.
    Control { name: &'a str, data: &'a str },
    /// Comments (`: beacon`, heartbeats) and field-only frames such as `retry:`.
    Other,
}

/// An open `GET /v1/stream` response.
pub struct SseConn {
    stream: TcpStream,
    chunks: Option<ChunkDecoder>,
    raw: Vec<u8>,
    body: Vec<u8>,
    /// `body[..scanned]` holds no frame boundary (apart from the consumed prefix).
    scanned: usize,
    eof: bool,
}

impl SseConn {
    /// Connects, sends the GET and waits until the `beacon.connected` event arrived.
    pub async fn open(addr: SocketAddr, path_and_query: &str, timeout: Duration) -> Result<Self> {
        tokio::time::timeout(timeout, Self::open_inner(addr, path_and_query))
            .await
            .map_err(|_| anyhow::anyhow!("stream open timed out after {timeout:?}"))?
    }

    async fn open_inner(addr: SocketAddr, path_and_query: &str) -> Result<Self> {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::with_capacity(READ_CHUNK);
        let (head, head_len) = loop {
            if let Some(parsed) = parse_head(&raw)? {
                break parsed;
            }
            if !read_more(&mut stream, &mut raw).await? {
                bail!("stream closed before the response head");
            }
        };
        if head.status != 200 {
            // Best effort: show the error body that is already there.
            let rest = String::from_utf8_lossy(&raw[head_len..]).into_owned();
            bail!("GET /v1/stream answered {}: {}", head.status, rest.trim());
        }
        let chunks = match head.body {
            BodyKind::Chunked => Some(ChunkDecoder::default()),
            BodyKind::UntilClose => None,
            BodyKind::Length(_) => bail!("event stream has a Content-Length"),
        };
        let mut conn = Self {
            stream,
            chunks,
            raw: Vec::with_capacity(READ_CHUNK),
            body: Vec::with_capacity(READ_CHUNK),
            scanned: 0,
            eof: false,
        };
        conn.push_raw(&raw[head_len..])?;
        let mut connected = false;
        while !connected {
            let mut failure = None;
            conn.drain_frames(|frame| match frame {
                Frame::Control {
                    name: "beacon.connected",
                    ..
                } => connected = true,
                Frame::Control { name, data } if !connected => {
                    failure = Some(format!("{name} before beacon.connected: {data}"));
                }
                _ => {}
            })?;
            if let Some(failure) = failure {
                bail!(failure);
            }
            if !connected && !conn.read_some().await? {
                bail!("stream ended before beacon.connected");
            }
        }
        Ok(conn)
    }

    /// True once the server ended the stream.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Checks without waiting that the server has not closed the connection;
    /// bytes that arrived meanwhile (heartbeats) are buffered.
    pub fn is_open_now(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.try_read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(n) => {
                    if self.push_raw(&buf[..n]).is_err() {
                        return false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return !self.eof,
                Err(_) => return false,
            }
        }
    }

    /// Waits for more bytes; false at end of stream.
    pub async fn read_some(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.raw.clear();
        self.raw.reserve(READ_CHUNK);
        let n = self.stream.read_buf(&mut self.raw).await?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        let raw = std::mem::take(&mut self.raw);
        let pushed = self.push_raw(&raw);
        self.raw = raw;
        pushed?;
        Ok(true)
    }

    fn push_raw(&mut self, raw: &[u8]) -> Result<()> {
        match &mut self.chunks {
            Some(decoder) => {
                decoder.feed(raw, &mut self.body)?;
                if decoder.is_done() {
                    self.eof = true;
                }
            }
            None => self.body.extend_from_slice(raw),
        }
        Ok(())
    }

    /// Calls `visit` for every complete frame buffered so far and drops them.
    pub fn drain_frames(&mut self, mut visit: impl FnMut(Frame<'_>)) -> Result<()> {
        // `start`: first byte of the frame being assembled; `pos`: where the
        // search for the next line end resumes.
        let mut start = 0;
        let mut pos = self.scanned;
        loop {
            let Some(offset) = memchr::memchr(b'\n', &self.body[pos..]) else {
                pos = self.body.len();
                break;
            };
            let nl = pos + offset;
            let boundary = match (self.body.get(nl + 1), self.body.get(nl + 2)) {
                (Some(b'\n'), _) => Some(nl + 2),
                (Some(b'\r'), Some(b'\n')) => Some(nl + 3),
                (None, _) | (Some(b'\r'), None) => {
                    // Undecided until more bytes arrive.
                    pos = nl;
                    break;
                }
                _ => None,
            };
            match boundary {
                Some(next) => {
                    visit(parse_frame(&self.body[start..nl])?);
                    start = next;
                    pos = next;
                }
                None => pos = nl + 1,
            }
        }
        self.body.drain(..start);
        self.scanned = pos - start;
        Ok(())
    }
}

/// Parses the lines of one frame (without its terminating blank line).
fn parse_frame(frame: &[u8]) -> Result<Frame<'_>> {
    let mut event: Option<&[u8]> = None;
    let mut data: Option<&[u8]> = None;
    let mut has_fields = false;
    for line in memchr::memchr_iter(b'\n', frame)
        .chain(std::iter::once(frame.len()))
        .scan(0, |start, end| {
            let line = &frame[*start..end];
            *start = end + 1;
            Some(line)
        })
    {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b':' {
            continue;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => event = Some(value),
            // Multi-line data is not produced by the server; the first line holds the envelope.
            b"data" if data.is_none() => data = Some(value),
            _ => {}
        }
        has_fields = true;
    }
    if !has_fields {
        return Ok(Frame::Other);
    }
    match event {
        Some(name) if name.starts_with(b"beacon.") => Ok(Frame::Control {
            name: std::str::from_utf8(name).context("event name is not UTF-8")?,
            data: std::str::from_utf8(data.unwrap_or_default()).unwrap_or(""),
        }),
        _ if data.is_none() => Ok(Frame::Other),
        _ => Ok(Frame::Event {
            ts: data.and_then(extract_ts),
        }),
    }
}

/// Finds `"bench_ts":<digits>` and parses the digits.
fn extract_ts(data: &[u8]) -> Option<u64> {
    static FINDER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(TS_NEEDLE));
    let at = FINDER.find(data)?;
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

/// The result of opening many streams at once.
pub struct Opened {
    pub conns: Vec<SseConn>,
    /// Connect → `beacon.connected`, microseconds.
    pub latency: hdrhistogram::Histogram<u64>,
    pub failures: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

/// Opens one stream per path, at most `concurrency` handshakes in flight.
pub async fn open_many(
    addr: SocketAddr,
    paths: Vec<String>,
    concurrency: usize,
    timeout: Duration,
) -> Opened {
    let started = std::time::Instant::now();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for path in paths {
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let t0 = std::time::Instant::now();
            SseConn::open(addr, &path, timeout)
                .await
                .map(|conn| (conn, t0.elapsed()))
        });
    }
    let mut opened = Opened {
        conns: Vec::with_capacity(tasks.len()),
        latency: crate::report::new_latency_histogram(),
        failures: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok((conn, took)) => {
                opened
                    .latency
                    .saturating_record(took.as_micros().max(1) as u64);
                opened.conns.push(conn);
            }
            Err(e) => {
                opened.failures += 1;
                opened.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    opened.elapsed = started.elapsed();
    opened
}
