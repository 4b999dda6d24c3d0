//! The lean path: an event stream written straight onto its socket.
//!
//! The stream request goes through the same router as every request
//! (authentication, CORS, caps, presence, filters: the `GET /v1/stream`
//! handler), so its behaviour is the API's. Only the transport differs:
//! once the head is parsed the connection has no read or write buffer
//! of its own. The answer's head is written once, then each frame is
//! written from the frame bytes the hub shares between subscribers; a
//! burst that is already queued goes out in one vectored write. The body
//! ends when the stream does (`Connection: close`, no chunking), so a
//! subscriber costs its stream's state and its socket, nothing more.
//!
//! A subscriber that cannot take a write stays behind in the hub's ring
//! of shared frames, the bounded queue of every stream: past it, the
//! stream ends with `beacon.overflow`. One that takes nothing at all for
//! [`stall`](Lean::stall) is dropped. Bytes a subscriber sends after its
//! head are read and thrown away (never interpreted as requests); its
//! closing the connection ends the stream at once.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{self, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::head::{Refusal, StreamHead};
use crate::api::ApiError;

/// Largest answer other than a stream (an error body) that is written.
const MAX_ANSWER: usize = 64 * 1024;
/// Frames gathered into one write when a burst is queued.
const MAX_GATHER: usize = 32;
/// Bytes a subscriber may send after its head before it is dropped.
const MAX_DISCARDED: usize = 64 * 1024;

/// How one connection's stream is written.
#[derive(Clone)]
pub struct Lean {
    pub router: Router,
    /// A subscriber that takes no bytes for this long is dropped.
    pub stall: Duration,
}

impl Lean {
    /// Answers a stream request on `socket`, then closes it.
    pub async fn serve(&self, socket: TcpStream, head: StreamHead, peer: SocketAddr) {
        let response = match request(head, peer) {
            Ok(request) => match Box::pin(self.router.clone().oneshot(request)).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
            Err(refusal) => refused(refusal),
        };
        self.finish(socket, response, peer).await;
    }

    /// Answers a head that cannot be served, then closes the connection.
    pub async fn refuse(&self, socket: TcpStream, refusal: Refusal, peer: SocketAddr) {
        self.finish(socket, refused(refusal), peer).await;
    }

    async fn finish(&self, mut socket: TcpStream, response: Response, peer: SocketAddr) {
        if let Err(error) = self.answer(&mut socket, response).await {
            tracing::debug!(%peer, %error, "stream connection ended");
        }
        let _ = socket.shutdown().await;
    }

    async fn answer(&self, socket: &mut TcpStream, response: Response) -> io::Result<()> {
        let (parts, body) = response.into_parts();
        let streaming = parts.status == StatusCode::OK
            && parts
                .headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if !streaming {
            let body = axum::body::to_bytes(body, MAX_ANSWER)
                .await
                .unwrap_or_default();
            let head = encode_head(parts.status, &parts.headers, Some(body.len()));
            let write = async {
                socket.write_all(&head).await?;
                socket.write_all(&body).await
            };
            return tokio::time::timeout(self.stall, write)
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
        }
        let head = encode_head(parts.status, &parts.headers, None);
        self.write(socket, &mut vec![Bytes::from(head)]).await?;
        self.pump(socket, body).await
    }

    /// Writes the stream's frames until it ends or the subscriber goes.
    async fn pump(&self, socket: &mut TcpStream, body: Body) -> io::Result<()> {
        let mut frames = body.into_data_stream();
        let mut discarded = 0;
        let mut burst = Vec::new();
        loop {
            let next = tokio::select! {
                next = frames.next() => next,
                gone = client_gone(socket, &mut discarded) => return gone,
            };
            let Some(Ok(frame)) = next else {
                return Ok(());
            };
            burst.push(frame);
            let mut ended = false;
            while burst.len() < MAX_GATHER {
                match frames.next().now_or_never() {
                    Some(Some(Ok(frame))) => burst.push(frame),
                    Some(_) => {
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }
            self.write(socket, &mut burst).await?;
            if ended {
                return Ok(());
            }
        }
    }

    /// Writes `frames` (emptying it), within the stall limit.
    async fn write(&self, socket: &mut TcpStream, frames: &mut Vec<Bytes>) -> io::Result<()> {
        tokio::time::timeout(self.stall, write_all(socket, frames))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}

/// The request the router sees: the parsed head, no body.
fn request(head: StreamHead, peer: SocketAddr) -> Result<http::Request<Body>, Refusal> {
    let mut request = http::Request::builder()
        .method(Method::GET)
        .uri(head.target)
        .version(Version::HTTP_11)
        .body(Body::empty())
        .map_err(|_| Refusal::Malformed)?;
    let headers = request.headers_mut();
    for (name, value) in head.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Refusal::Malformed)?;
        let value = HeaderValue::from_bytes(&value).map_err(|_| Refusal::Malformed)?;
        headers.append(name, value);
    }
    // The peer address feeds the per-IP connection-attempt limit.
    request.extensions_mut().insert(ConnectInfo(peer));
    Ok(request)
}

/// The answer to a head that cannot be served.
fn refused(refusal: Refusal) -> Response {
    crate::metrics::head_refused(refusal.code());
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, refusal.code(), refusal.message()).into_response()
}

/// The answer's head; without `length` the body lasts until the
/// connection closes. Every answer here closes its connection.
fn encode_head(status: StatusCode, headers: &http::HeaderMap, length: Option<usize>) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ]
        .contains(name)
        {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"date: ");
    head.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
    head.extend_from_slice(b"\r\nconnection: close\r\n");
    if let Some(length) = length {
        head.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Writes every frame, in as few vectored writes as the socket allows.
async fn write_all(socket: &mut TcpStream, frames: &mut Vec<Bytes>) -> io::Result<()> {
    let mut first = 0;
    while first < frames.len() {
        let mut slices = [IoSlice::new(&[]); MAX_GATHER];
        let n = frames.len().min(first + MAX_GATHER) - first;
        for (slice, frame) in slices.iter_mut().zip(&frames[first..first + n]) {
            *slice = IoSlice::new(frame);
        }
        let mut written = socket.write_vectored(&slices[..n]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let frame = &mut frames[first];
            if written >= frame.len() {
                written -= frame.len();
                first += 1;
            } else {
                let _ = frame.split_to(written);
                written = 0;
            }
        }
    }
    frames.clear();
    Ok(())
}

/// Resolves when the subscriber closes its side (or sends more than
/// [`MAX_DISCARDED`] bytes after its head); what it sends is dropped.
async fn client_gone(socket: &TcpStream, discarded: &mut usize) -> io::Result<()> {
    loop {
        socket.readable().await?;
        // Not held across the await: an idle stream's task stays small.
        let mut scratch = [0u8; 256];
        match socket.try_read(&mut scratch) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                *discarded += n;
                if *discarded > MAX_DISCARDED {
                    return Err(io::Error::other("too many bytes after a stream request"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}
