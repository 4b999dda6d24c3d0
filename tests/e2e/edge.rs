//! The listener's routing, on raw TCP: stream heads go to the lean path,
//! everything else to hyper with the bytes already read; bad heads are
//! refused with a JSON error and the connection closed.

use std::time::Duration;

use beacon_test_support::{Beacon, WAIT, ev};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects and sends `parts` as separate TCP segments.
async fn send(server: &Beacon, parts: &[&[u8]]) -> TcpStream {
    let mut socket = TcpStream::connect(server.addr()).await.expect("connects");
    socket.set_nodelay(true).expect("no delay");
    for part in parts {
        socket.write_all(part).await.expect("sent");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    socket
}

/// Reads until `text` has arrived (panics after [`WAIT`]); returns all read.
async fn read_until(socket: &mut TcpStream, read: &mut String, text: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    while !read.contains(text) {
        let n = tokio::time::timeout_at(deadline, socket.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {text:?} in {read:?}"))
            .expect("read");
        assert!(n > 0, "closed before {text:?}: {read:?}");
        read.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// Reads a whole answer (at most 64 KiB) on a connection the server closes.
async fn read_to_close(socket: &mut TcpStream) -> String {
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
            .await
            .expect("the server closes the connection")
            .expect("read");
        if n == 0 || read.len() > 64 * 1024 {
            return String::from_utf8_lossy(&read).into_owned();
        }
        read.extend_from_slice(&buf[..n]);
    }
}

/// The status and JSON body of a closed answer.
fn status_and_body(answer: &str) -> (u16, Value) {
    let status = answer[9..12].parse().expect("a status line");
    let (_, body) = answer.split_once("\r\n\r\n").expect("a head");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_stream_head_in_several_segments_is_streamed_and_pipelined_bytes_are_ignored() {
    let server = Beacon::start().await;
    let acme = server.create_tenant("acme").await;
    let token = acme.token("u1").await;
    let head = format!("GET /v1/stream?access_token={token} HTTP/1.1\r\nHost: x\r\n\r\n");
    let (a, b) = head.split_at(9);
    let (b, c) = b.split_at(b.len() - 3);
    // A second request pipelined after the stream's head: never answered.
    let pipelined = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut socket = send(
        &server,
        &[
            a.as_bytes(),
            b.as_bytes(),
            c.as_bytes(),
            pipelined.as_bytes(),
        ],
    )
    .await;
    let mut read = String::new();
    read_until(&mut socket, &mut read, "event: beacon.connected").await;
    assert!(read.starts_with("HTTP/1.1 200 OK\r\n"), "{read}");
    assert!(
        read.contains("content-type: text/event-stream\r\n"),
        "{read}"
    );
    let id = acme.publish(ev("order.created", json!({"n": 1}))).await;
    read_until(&mut socket, &mut read, &format!("id: {id}\n")).await;
    assert_eq!(read.matches("HTTP/1.1").count(), 1, "{read}");
}

#[tokio::test]
async fn other_requests_are_handed_on_with_keep_alive() {
    let server = Beacon::start().await;
    // Split inside the request line, then inside a header.
    let mut socket = send(
        &server,
        &[b"GET /hea", b"lthz HTTP/1.1\r\nHo", b"st: x\r\n\r\n"],
    )
    .await;
    let mut read = String::new();
    read_until(&mut socket, &mut read, "\r\n\r\n").await;
    assert!(read.starts_with("HTTP/1.1 200 OK\r\n"), "{read}");
    // The same connection serves the next request.
    socket
        .write_all(b"GET /v1/nothing-here HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut socket, &mut read, "HTTP/1.1 404").await;

    // A CORS preflight of the stream is the router's, not the lean path's.
    let mut socket = send(
        &server,
        &[b"OPTIONS /v1/stream HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n\r\n"],
    )
    .await;
    let mut read = String::new();
    read_until(&mut socket, &mut read, "\r\n\r\n").await;
    assert!(!read.starts_with("HTTP/1.1 400"), "{read}");
    assert!(!read.starts_with("HTTP/1.1 431"), "{read}");
}

#[tokio::test]
async fn bad_stream_heads_are_refused_with_a_json_error() {
    let server = Beacon::builder().arg("head-timeout", "1s").start().await;
    let cases: [(&[u8], u16, &str); 4] = [
        (
            b"GET /v1/stream HTTP/1.1\r\nBad Header\r\n\r\n",
            400,
            "malformed_request",
        ),
        (
            b"GET /v1/stream HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            400,
            "body_on_stream",
        ),
        (
            b"GET /v1/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            "body_on_stream",
        ),
        // Slow: the head never ends.
        (
            b"GET /v1/stream HTTP/1.1\r\nHost: x\r\n",
            408,
            "request_timeout",
        ),
    ];
    for (head, status, code) in cases {
        let mut socket = send(&server, &[head]).await;
        let answer = read_to_close(&mut socket).await;
        let (got, body) = status_and_body(&answer);
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{answer}"
        );
        assert!(answer.contains("connection: close\r\n"), "{answer}");
    }
    let oversized = format!(
        "GET /v1/stream HTTP/1.1\r\nx-big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let mut socket = send(&server, &[oversized.as_bytes()]).await;
    let (status, body) = status_and_body(&read_to_close(&mut socket).await);
    assert_eq!(
        (status, body["error"].as_str()),
        (431, Some("request_header_fields_too_large"))
    );
    let metrics = server.get("/metrics").await;
    assert!(
        metrics
            .text
            .contains("beacon_http_heads_refused_total{reason=\"request_timeout\"} 1"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn refusals_of_the_stream_handler_keep_their_status_body_and_cors() {
    let server = Beacon::builder()
        .arg("cors-origins", "https://app.example")
        .start()
        .await;
    let mut socket = send(
        &server,
        &[b"GET /v1/stream HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nAuthorization: Bearer nope\r\n\r\n"],
    )
    .await;
    let answer = read_to_close(&mut socket).await;
    let (status, body) = status_and_body(&answer);
    assert_eq!(status, 401, "{answer}");
    assert!(body["error"].is_string(), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: https://app.example\r\n"),
        "{answer}"
    );
    let length = format!(
        "content-length: {}\r\n",
        answer.split_once("\r\n\r\n").unwrap().1.len()
    );
    assert!(answer.contains(&length), "{answer}");
}
