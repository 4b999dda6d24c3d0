//! One subscriber's event stream: its own TCP connection from a chosen
//! source address, its own HTTP/1.1 handshake (hyper), one `GET`, and the
//! body fed to `beacon_protocol::sse::Parser`.
//!
//! The connection is driven inside the subscriber's task (no task of its
//! own), and the whole path — socket, HTTP/1.1 framing, SSE parsing — is the
//! same code whichever server is measured.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, Result, anyhow, bail};
use beacon_protocol::sse::{Item, Parser};
use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};

/// The longest SSE line accepted: far above any event the bench publishes,
/// and a bound on what a broken stream can make a subscriber buffer.
const MAX_LINE_BYTES: usize = 1 << 20;
/// Largest error body read from a refused stream.
const MAX_ERROR_BODY: usize = 4096;

/// What marks a stream as open: the server has registered the subscriber
/// and sent its first bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ready {
    /// An event with this name (Beacon: `beacon.connected`). Another event
    /// whose name starts with `control_prefix` before it is a refusal.
    Event {
        name: String,
        control_prefix: String,
    },
    /// Any comment line (Nchan's EventSource subscriber opens with `:hi`).
    Comment,
}

type Connection = http1::Connection<TokioIo<TcpStream>, Empty<Bytes>>;

/// An open event stream.
pub struct Stream {
    /// Kept so the connection is not asked to close.
    _send: http1::SendRequest<Empty<Bytes>>,
    conn: Connection,
    conn_done: bool,
    body: Incoming,
    parser: Parser,
    /// Items parsed and not taken yet.
    pub items: Vec<Item>,
    eof: bool,
}

impl Stream {
    /// Connects from `source` (any loopback address, so that many streams do
    /// not exhaust one address's ephemeral ports), sends the `GET` and waits
    /// for the stream's first item that `ready` accepts. Items before it
    /// are dropped.
    pub async fn open(
        addr: SocketAddr,
        source: Option<IpAddr>,
        path_and_query: &str,
        ready: &Ready,
    ) -> Result<Self> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = source {
            socket
                .bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("bind {ip}"))?;
        }
        let tcp = socket
            .connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        tcp.set_nodelay(true)?;
        let (mut send, mut conn) = http1::handshake(TokioIo::new(tcp)).await?;
        let request = Request::get(path_and_query)
            .header(header::HOST, addr.to_string())
            .header(header::ACCEPT, "text/event-stream")
            .body(Empty::new())?;
        let mut conn_done = false;
        let response = {
            let mut response = std::pin::pin!(send.send_request(request));
            loop {
                tokio::select! {
                    biased;
                    r = &mut response => break r?,
                    r = &mut conn, if !conn_done => {
                        conn_done = true;
                        r?;
                    }
                }
            }
        };
        let status = response.status();
        if status != http::StatusCode::OK {
            let body = Limited::new(response.into_body(), MAX_ERROR_BODY);
            let text = tokio::select! {
                b = body.collect() => b.map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                    .unwrap_or_default(),
                _ = &mut conn, if !conn_done => String::new(),
            };
            bail!("GET answered {status}: {}", text.trim());
        }
        let mut stream = Self {
            _send: send,
            conn,
            conn_done,
            body: response.into_body(),
            parser: Parser::default().max_line(MAX_LINE_BYTES),
            items: Vec::new(),
            eof: false,
        };
        loop {
            let mut items = std::mem::take(&mut stream.items);
            if let Some(at) = find_ready(&items, ready)? {
                // What followed the ready item is the stream's first news.
                items.drain(..=at);
                stream.items = items;
                return Ok(stream);
            }
            if !stream.read().await? {
                bail!("stream ended before it was ready");
            }
        }
    }

    /// Waits for the next chunk of the body and parses it into
    /// [`Stream::items`]; false once the stream has ended.
    pub async fn read(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let frame = std::future::poll_fn(|cx| self.poll_frame(cx)).await;
        match frame {
            None => {
                self.eof = true;
                Ok(false)
            }
            Some(Err(e)) => {
                self.eof = true;
                Err(anyhow!("stream: {e}"))
            }
            Some(Ok(data)) => {
                self.parser
                    .push(&data, &mut self.items)
                    .context("event stream")?;
                Ok(true)
            }
        }
    }

    /// Drives the connection, then polls the body for a data frame.
    fn poll_frame(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<hyper::Result<Bytes>>> {
        if !self.conn_done
            && let Poll::Ready(result) = Pin::new(&mut self.conn).poll(cx)
        {
            self.conn_done = true;
            if let Err(e) = result {
                return Poll::Ready(Some(Err(e)));
            }
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    // Trailers: nothing for an event stream.
                    Err(_) => continue,
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// True once the server ended the stream or the connection failed.
    pub fn is_ended(&self) -> bool {
        self.eof
    }
}

/// The index of the first item that marks the stream ready, or a refusal.
fn find_ready(items: &[Item], ready: &Ready) -> Result<Option<usize>> {
    for (i, item) in items.iter().enumerate() {
        match (item, ready) {
            (Item::Comment(_), Ready::Comment) => return Ok(Some(i)),
            (
                Item::Message(m),
                Ready::Event {
                    name,
                    control_prefix,
                },
            ) => {
                if m.event == *name {
                    return Ok(Some(i));
                }
                if m.event.starts_with(control_prefix.as_str()) {
                    bail!("{} before {name}: {}", m.event, m.data);
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Item> {
        let mut items = Vec::new();
        Parser::default()
            .push(text.as_bytes(), &mut items)
            .expect("parsed");
        items
    }

    #[test]
    fn beacon_streams_are_ready_at_connected_and_refused_by_other_controls() {
        let ready = Ready::Event {
            name: "beacon.connected".into(),
            control_prefix: "beacon.".into(),
        };
        let items =
            parse(": beacon\n\nretry: 2000\n\nid: e_1-0\nevent: beacon.connected\ndata: {}\n\n");
        assert_eq!(find_ready(&items, &ready).expect("no refusal"), Some(2));
        let refused = parse(": beacon\n\nevent: beacon.token_expired\ndata: {}\n\n");
        assert!(find_ready(&refused, &ready).is_err());
        assert_eq!(
            find_ready(&parse(": beacon\n\n"), &ready).expect("ok"),
            None
        );
    }

    #[test]
    fn nchan_streams_are_ready_at_their_first_comment() {
        let items = parse(":hi\n\nid: 1:0\ndata: {}\n\n");
        assert_eq!(find_ready(&items, &Ready::Comment).expect("ok"), Some(0));
        assert_eq!(
            find_ready(&parse("id: 1:0\n"), &Ready::Comment).expect("ok"),
            None
        );
    }
}
