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
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::extract::ConnectInfo;
use axum::http::{self, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt as _;
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

/// How stream connections are answered.
#[derive(Clone)]
pub(crate) struct Lean {
    pub(crate) router: Router,
    /// A subscriber that takes no bytes for this long is dropped.
    pub(crate) stall: Duration,
}

/// An answered stream, ready to be written: run it with [`Open::pump`].
pub(crate) struct Open {
    socket: TcpStream,
    frames: BodyDataStream,
    stall: Duration,
    peer: SocketAddr,
}

impl Lean {
    /// Answers a stream request on `socket`: an error answer is written
    /// whole and the connection closed; a stream's head is written and the
    /// stream handed back, to be pumped by a task of its own (which then
    /// holds nothing of the request: a task is as large as what it holds
    /// across an await, and an idle stream's task should be small).
    pub(crate) async fn open(
        &self,
        socket: TcpStream,
        head: StreamHead,
        peer: SocketAddr,
    ) -> Option<Open> {
        let response = match request(head, peer) {
            Ok(request) => match self.router.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
            Err(refusal) => refused(refusal),
        };
        self.answer(socket, response, peer).await
    }

    /// Answers a head that cannot be served, then closes the connection.
    pub(crate) async fn refuse(&self, socket: TcpStream, refusal: Refusal, peer: SocketAddr) {
        self.answer(socket, refused(refusal), peer).await;
    }

    async fn answer(
        &self,
        socket: TcpStream,
        response: Response,
        peer: SocketAddr,
    ) -> Option<Open> {
        let (parts, body) = response.into_parts();
        let streaming = parts.status == StatusCode::OK
            && parts
                .headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let written = if streaming {
            let head = encode_head(parts.status, &parts.headers, None);
            write(&socket, &mut vec![head.into()], self.stall).await
        } else {
            let body = axum::body::to_bytes(body, MAX_ANSWER)
                .await
                .unwrap_or_default();
            let head = encode_head(parts.status, &parts.headers, Some(body.len()));
            let written = write(&socket, &mut vec![head.into(), body], self.stall).await;
            close(socket, written, peer).await;
            return None;
        };
        if let Err(error) = written {
            close(socket, Err(error), peer).await;
            return None;
        }
        Some(Open {
            socket,
            frames: body.into_data_stream(),
            stall: self.stall,
            peer,
        })
    }
}

impl Open {
    /// Writes the stream's frames until it ends or the subscriber goes,
    /// then closes the connection.
    pub(crate) async fn pump(mut self) {
        let result = self.frames().await;
        close(self.socket, result, self.peer).await;
    }

    async fn frames(&mut self) -> io::Result<()> {
        let mut discarded = 0;
        let mut burst = Vec::new();
        loop {
            // The next frame, or the subscriber's side closing. One poll
            // function rather than two futures: the socket's read interest
            // stays registered across frames instead of being re-armed and
            // dropped for each one.
            let (socket, frames) = (&self.socket, &mut self.frames);
            let next = std::future::poll_fn(|cx| {
                if let Poll::Ready(next) = frames.poll_next_unpin(cx) {
                    return Poll::Ready(Ok(next));
                }
                client_gone(socket, cx, &mut discarded).map(|gone| gone.map(|()| None))
            })
            .await?;
            let Some(Ok(frame)) = next else {
                return Ok(());
            };
            burst.push(frame);
            let mut ended = false;
            while burst.len() < MAX_GATHER {
                match self.frames.next().now_or_never() {
                    Some(Some(Ok(frame))) => burst.push(frame),
                    Some(_) => {
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }
            write(&self.socket, &mut burst, self.stall).await?;
            if ended {
                return Ok(());
            }
        }
    }
}

/// Ends a connection after its answer: FIN, so the client reads the end.
async fn close(mut socket: TcpStream, result: io::Result<()>, peer: SocketAddr) {
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "stream connection ended");
    }
    let _ = socket.shutdown().await;
}

/// Writes `frames` (emptying it) within `stall`. Most writes complete at
/// once; only a write the socket cannot take whole waits, in a future of
/// its own (so an idle stream's task does not carry one).
async fn write(socket: &TcpStream, frames: &mut Vec<Bytes>, stall: Duration) -> io::Result<()> {
    if try_write(socket, frames)? {
        return Ok(());
    }
    let rest = async {
        loop {
            socket.writable().await?;
            if try_write(socket, frames)? {
                return Ok(());
            }
        }
    };
    Box::pin(tokio::time::timeout(stall, rest))
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
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

/// Writes as much of `frames` as the socket takes now, in vectored
/// writes, removing what was written; `true` once all of it is.
fn try_write(socket: &TcpStream, frames: &mut Vec<Bytes>) -> io::Result<bool> {
    while !frames.is_empty() {
        let mut slices = [IoSlice::new(&[]); MAX_GATHER];
        let n = frames.len().min(MAX_GATHER);
        for (slice, frame) in slices.iter_mut().zip(frames.iter()) {
            *slice = IoSlice::new(frame);
        }
        let mut written = match socket.try_write_vectored(&slices[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => written,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        };
        let done = frames
            .iter()
            .take_while(|frame| {
                let whole = written >= frame.len();
                if whole {
                    written -= frame.len();
                }
                whole
            })
            .count();
        frames.drain(..done);
        if written > 0 {
            let _ = frames[0].split_to(written);
        }
    }
    Ok(true)
}

/// Ready when the subscriber closed its side (`Ok`) or sent more than
/// [`MAX_DISCARDED`] bytes after its head (`Err`); what it sends is dropped.
fn client_gone(
    socket: &TcpStream,
    cx: &mut Context<'_>,
    discarded: &mut usize,
) -> Poll<io::Result<()>> {
    loop {
        if let Err(e) = ready!(socket.poll_read_ready(cx)) {
            return Poll::Ready(Err(e));
        }
        let mut scratch = [0u8; 256];
        match socket.try_read(&mut scratch) {
            Ok(0) => return Poll::Ready(Ok(())),
            Ok(n) => {
                *discarded += n;
                if *discarded > MAX_DISCARDED {
                    return Poll::Ready(Err(io::Error::other(
                        "too many bytes after a stream request",
                    )));
                }
            }
            // Readiness is cleared: the next poll waits for more.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}
