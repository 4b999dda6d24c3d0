//! A minimal HTTP/1.1 client over raw keep-alive TCP connections: request
//! writing, response-head parsing and body reading (Content-Length, chunked or
//! until close).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chunked::ChunkDecoder;

/// Upper bound for one request/response exchange.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub body: BodyKind,
    pub close: bool,
}

/// Parses a response head if `buf` holds a complete one; returns it with its length.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            bail!("response head larger than {MAX_HEAD} bytes");
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).context("response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        bail!("unexpected status line {status_line:?}");
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("unexpected status line {status_line:?}"))?;
    let mut body = BodyKind::UntilClose;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body = BodyKind::Length(value.parse().context("bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            body = BodyKind::Chunked;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        body = BodyKind::Length(0);
    }
    Ok(Some((
        Head {
            status,
            body,
            close,
        },
        end + 4,
    )))
}

/// A response with its whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("status {}: body is not JSON: {}", self.status, self.text()))
    }
}

/// One keep-alive connection; reconnects when the server closed it.
pub struct HttpConn {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    request: Vec<u8>,
}

impl HttpConn {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            stream: None,
            buf: Vec::with_capacity(4096),
            request: Vec::with_capacity(4096),
        }
    }

    /// Sends one request and reads the whole response, within [`REQUEST_TIMEOUT`].
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        json_body: Option<&[u8]>,
    ) -> Result<Response> {
        let result = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.exchange(method, path, bearer, json_body),
        )
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("{method} {path}: timed out")));
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        json_body: Option<&[u8]>,
    ) -> Result<Response> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .with_context(|| format!("connect {}", self.addr))?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let req = &mut self.request;
        req.clear();
        req.extend_from_slice(method.as_bytes());
        req.push(b' ');
        req.extend_from_slice(path.as_bytes());
        req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        req.extend_from_slice(self.host.as_bytes());
        req.extend_from_slice(b"\r\n");
        if let Some(token) = bearer {
            req.extend_from_slice(b"Authorization: Bearer ");
            req.extend_from_slice(token.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        let body = json_body.unwrap_or_default();
        if json_body.is_some() {
            req.extend_from_slice(b"Content-Type: application/json\r\n");
        }
        req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        req.extend_from_slice(body);

        let stream = self.stream.as_mut().context("no connection")?;
        stream.write_all(&self.request).await?;

        let (head, head_len) = loop {
            if let Some(parsed) = parse_head(&self.buf)? {
                break parsed;
            }
            if !read_more(stream, &mut self.buf).await? {
                bail!("{method} {path}: connection closed before the response");
            }
        };
        self.buf.drain(..head_len);
        let body = match head.body {
            BodyKind::Length(n) => {
                while self.buf.len() < n {
                    if !read_more(stream, &mut self.buf).await? {
                        bail!("{method} {path}: connection closed inside the body");
                    }
                }
                self.buf.drain(..n).collect()
            }
            BodyKind::Chunked => {
                let mut decoder = ChunkDecoder::default();
                let mut body = Vec::new();
                loop {
                    decoder.feed(&self.buf, &mut body)?;
                    self.buf.clear();
                    if decoder.is_done() {
                        break;
                    }
                    if !read_more(stream, &mut self.buf).await? {
                        bail!("{method} {path}: connection closed inside a chunked body");
                    }
                }
                body
            }
            BodyKind::UntilClose => {
                while read_more(stream, &mut self.buf).await? {}
                self.stream = None;
                std::mem::take(&mut self.buf)
            }
        };
        if head.close {
            self.stream = None;
        }
        Ok(Response {
            status: head.status,
            body,
        })
    }
}

/// Reads what is available into `buf`; false at end of stream.
pub async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool> {
    buf.reserve(8192);
    let n = stream.read_buf(buf).await?;
    Ok(n > 0)
}
