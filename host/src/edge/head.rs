//! Reading a new connection's first request head, just far enough to route it.
//!
//! The head is read into one bounded buffer ([`MAX_HEAD`]) and parsed with
//! `httparse` (hyper's own parser). Only an HTTP/1.1 `GET /v1/stream` is
//! parsed in full: any other request is recognised by its request line
//! and handed on, with the bytes read so far, to hyper, which applies its
//! own limits to the rest of the head.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Largest request head of a stream request (request line and headers).
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a stream request's head.
const MAX_HEADERS: usize = 64;
/// How the HTTP/2 connection preface starts (`PRI * HTTP/2.0`).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// A parsed `GET /v1/stream` head.
#[derive(Debug)]
pub(crate) struct StreamHead {
    /// Path and query, as sent.
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
}

/// What the first bytes of a connection are.
#[derive(Debug)]
pub(crate) enum Routed {
    /// An event-stream request for the lean path. Bytes after its head
    /// (pipelined requests) are dropped: a stream request is the last one
    /// on its connection.
    Stream(StreamHead),
    /// Anything else, for hyper, with the bytes already read.
    Other(Bytes),
    /// The peer closed before sending a request.
    Closed,
}

/// Why a head is refused (the connection gets this status and closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: not a valid HTTP/1.x request head.
    Malformed,
    /// 400: a stream request with a body (`Content-Length` other than 0,
    /// or `Transfer-Encoding`).
    BodyOnStream,
    /// 408: the head did not arrive within the head timeout.
    Timeout,
    /// 431: the head is larger than [`MAX_HEAD`] or has too many headers.
    TooLarge,
}

impl Refusal {
    pub(crate) fn status(self) -> u16 {
        match self {
            Refusal::Malformed | Refusal::BodyOnStream => 400,
            Refusal::Timeout => 408,
            Refusal::TooLarge => 431,
        }
    }

    /// The error code in the JSON body and the metrics label.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed_request",
            Refusal::BodyOnStream => "body_on_stream",
            Refusal::Timeout => "request_timeout",
            Refusal::TooLarge => "request_header_fields_too_large",
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::Malformed => "the request head is not valid HTTP/1.1",
            Refusal::BodyOnStream => "a stream request has no body",
            Refusal::Timeout => "the request head did not arrive in time",
            Refusal::TooLarge => "the request head is larger than 16 KiB",
        }
    }
}

/// Reads until the request is routed, within `timeout` for the whole head.
/// I/O errors are treated as a closed connection.
pub(crate) async fn read(socket: &mut TcpStream, timeout: Duration) -> Result<Routed, Refusal> {
    let mut buf = BytesMut::with_capacity(1024);
    let reading = async {
        loop {
            match route(&buf) {
                Step::More if buf.len() >= MAX_HEAD => return Err(Refusal::TooLarge),
                Step::More => {}
                Step::Done(routed) => return routed,
                Step::Other => return Ok(Routed::Other(buf.split().freeze())),
            }
            // Doubling: below `MAX_HEAD` here, so at most twice that.
            if buf.capacity() == buf.len() {
                buf.reserve(buf.len());
            }
            match socket.read_buf(&mut buf).await {
                Ok(0) | Err(_) if buf.is_empty() => return Ok(Routed::Closed),
                // Closed mid-head: hyper answers or drops what it got.
                Ok(0) | Err(_) => return Ok(Routed::Other(buf.split().freeze())),
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(timeout, reading)
        .await
        .unwrap_or(Err(Refusal::Timeout))
}

enum Step {
    /// Not enough bytes to decide yet.
    More,
    /// Not a stream request: hand it on.
    Other,
    Done(Result<Routed, Refusal>),
}

/// Decides what `buf` (the bytes read so far) is.
fn route(buf: &[u8]) -> Step {
    // The request line decides whether this is for the lean path (the
    // event-stream route). Every prefix of `GET /v1/stream` may become one.
    const PREFIX: &[u8] = b"GET /v1/stream";
    let start = &buf[..buf.len().min(PREFIX.len() + 1)];
    if buf.starts_with(H2_PREFACE) || !PREFIX.starts_with(&start[..start.len().min(PREFIX.len())]) {
        return Step::Other;
    }
    match start.get(PREFIX.len()) {
        None => return Step::More,
        Some(b' ' | b'?') => {}
        // `/v1/streams`, `/v1/stream/x`: another route.
        Some(_) => return Step::Other,
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Partial) => Step::More,
        // HTTP/1.0 stream requests are hyper's (no keep-alive to give up).
        Ok(httparse::Status::Complete(_)) if request.version != Some(1) => Step::Other,
        Ok(httparse::Status::Complete(_)) => Step::Done(stream_head(&request)),
        Err(httparse::Error::TooManyHeaders) => Step::Done(Err(Refusal::TooLarge)),
        Err(_) => Step::Done(Err(Refusal::Malformed)),
    }
}

fn stream_head(request: &httparse::Request<'_, '_>) -> Result<Routed, Refusal> {
    let target = request.path.ok_or(Refusal::Malformed)?;
    let mut headers = Vec::with_capacity(request.headers.len());
    for h in request.headers.iter() {
        let body = (h.name.eq_ignore_ascii_case("content-length")
            && h.value.iter().any(|b| *b != b'0'))
            || h.name.eq_ignore_ascii_case("transfer-encoding");
        if body {
            return Err(Refusal::BodyOnStream);
        }
        headers.push((h.name.to_owned(), h.value.to_vec()));
    }
    Ok(Routed::Stream(StreamHead {
        target: target.to_owned(),
        headers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(bytes: &[u8]) -> &'static str {
        match route(bytes) {
            Step::More => "more",
            Step::Other => "other",
            Step::Done(Ok(Routed::Stream(_))) => "stream",
            Step::Done(Ok(_)) => "unexpected",
            Step::Done(Err(refusal)) => refusal.code(),
        }
    }

    const STREAM: &[u8] =
        b"GET /v1/stream?types=a.b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n";

    #[test]
    fn a_stream_head_is_routed_at_its_last_byte_only() {
        for end in 0..STREAM.len() {
            assert_eq!(routed(&STREAM[..end]), "more", "{end} bytes");
        }
        let Step::Done(Ok(Routed::Stream(head))) = route(STREAM) else {
            panic!("not a stream");
        };
        assert_eq!(head.target, "/v1/stream?types=a.b");
        assert_eq!(head.headers.len(), 2);
        assert_eq!(
            head.headers[1],
            ("Authorization".into(), b"Bearer t".to_vec())
        );
    }

    #[test]
    fn other_requests_are_handed_on_at_their_first_distinct_byte() {
        assert_eq!(routed(b"P"), "other");
        assert_eq!(routed(b"GET /v1/e"), "other");
        assert_eq!(routed(b"GET /v1/streams HTTP/1.1\r\n"), "other");
        assert_eq!(routed(b"GET /v1/stream/x HTTP/1.1\r\n"), "other");
        assert_eq!(routed(b"OPTIONS /v1/stream HTTP/1.1\r\n"), "other");
        assert_eq!(routed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "other");
        assert_eq!(routed(b"GET /v1/stream HTTP/1.0\r\n\r\n"), "other");
        assert_eq!(routed(b"GET /v1/str"), "more");
    }

    #[test]
    fn bad_stream_heads_are_refused() {
        assert_eq!(
            routed(b"GET /v1/stream HTTP/1.1\r\nBad Header\r\n\r\n"),
            "malformed_request"
        );
        assert_eq!(
            routed(b"GET /v1/stream HTTP/9.9\r\n\r\n"),
            "malformed_request"
        );
        assert_eq!(
            routed(b"GET /v1/stream HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
            "body_on_stream"
        );
        assert_eq!(
            routed(b"GET /v1/stream HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"),
            "body_on_stream"
        );
        assert_eq!(
            routed(b"GET /v1/stream HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            "stream"
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        let head = format!("GET /v1/stream HTTP/1.1\r\n{many}\r\n");
        assert_eq!(routed(head.as_bytes()), "request_header_fields_too_large");
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, server) = tokio::join!(client, listener.accept());
        (client.unwrap(), server.unwrap().0)
    }

    #[tokio::test]
    async fn oversized_and_slow_heads_are_refused_and_early_bytes_kept() {
        use tokio::io::AsyncWriteExt;
        let (mut client, mut server) = pair().await;
        let big = format!("GET /v1/stream HTTP/1.1\r\nx: {}\r\n", "a".repeat(MAX_HEAD));
        let (_, got) = tokio::join!(client.write_all(big.as_bytes()), read(&mut server, WAIT));
        assert_eq!(got.unwrap_err(), Refusal::TooLarge);

        let (mut client, mut server) = pair().await;
        client
            .write_all(b"GET /v1/stream HTTP/1.1\r\n")
            .await
            .unwrap();
        let got = read(&mut server, Duration::from_millis(200)).await;
        assert_eq!(got.unwrap_err(), Refusal::Timeout);

        let (mut client, mut server) = pair().await;
        client
            .write_all(b"POST /v1/events HTTP/1.1\r\n")
            .await
            .unwrap();
        let Ok(Routed::Other(bytes)) = read(&mut server, WAIT).await else {
            panic!("not handed on");
        };
        assert!(bytes.starts_with(b"POST /v1/e"), "{bytes:?}");

        let (client, mut server) = pair().await;
        drop(client);
        assert!(matches!(read(&mut server, WAIT).await, Ok(Routed::Closed)));
    }

    const WAIT: Duration = Duration::from_secs(10);
}
