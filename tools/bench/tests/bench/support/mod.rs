//! A scripted event-stream server for the subscriber processes.
//!
//! Written by hand on purpose: it plays a server the bench measures, with
//! exact control over the bytes (framing, control events, early close).

use std::net::SocketAddr;

use beacon_bench::client::Subscribe;
use beacon_bench::stream::Ready;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// How the scripted server frames its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Chunked, opened by `beacon.connected`, events named `bench.tick`.
    Beacon,
    /// Until close, opened by a `:hi` comment, unnamed events.
    Nchan,
}

/// What every stream gets after it is ready.
#[derive(Debug, Clone)]
pub enum Send {
    /// An event with this publish time.
    Event(u64),
    /// A raw frame.
    Frame(String),
    /// End the stream.
    Close,
}

pub struct Scripted {
    pub addr: SocketAddr,
    pub sends: broadcast::Sender<Send>,
}

/// Starts a server that answers every `GET` with `status`, then `opening`
/// (when the status is 200), then whatever is sent.
pub async fn start(shape: Shape, status: u16, opening: &str) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (sends, _) = broadcast::channel(64);
    let tx = sends.clone();
    let opening = opening.to_owned();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let rx = tx.subscribe();
            tokio::spawn(serve(socket, shape, status, opening.clone(), rx));
        }
    });
    Scripted { addr, sends }
}

async fn serve(
    mut socket: TcpStream,
    shape: Shape,
    status: u16,
    opening: String,
    mut rx: broadcast::Receiver<Send>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    if status != 200 {
        let body = r#"{"error":"unauthorized"}"#;
        let answer = format!(
            "HTTP/1.1 {status} Nope\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(answer.as_bytes()).await;
        return;
    }
    let framing = match shape {
        Shape::Beacon => "transfer-encoding: chunked\r\n",
        Shape::Nchan => "connection: close\r\n",
    };
    let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{framing}\r\n");
    if socket.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let mut seq = 0u64;
    let write = |text: String| match shape {
        Shape::Beacon => format!("{:x}\r\n{text}\r\n", text.len()).into_bytes(),
        Shape::Nchan => text.into_bytes(),
    };
    if socket.write_all(&write(opening)).await.is_err() {
        return;
    }
    while let Ok(send) = rx.recv().await {
        let text = match send {
            Send::Close => break,
            Send::Frame(text) => text,
            Send::Event(ts) => {
                seq += 1;
                let data =
                    format!(r#"{{"type":"bench.tick","data":{{"bench_ts":{ts},"seq":{seq}}}}}"#);
                match shape {
                    Shape::Beacon => format!("id: e_{seq}-0\nevent: bench.tick\ndata: {data}\n\n"),
                    Shape::Nchan => format!("id: {seq}:0\ndata: {data}\n\n"),
                }
            }
        };
        if socket.write_all(&write(text)).await.is_err() {
            return;
        }
    }
    if shape == Shape::Beacon {
        let _ = socket.write_all(b"0\r\n\r\n").await;
    }
}

/// How the bench subscribes to a server of this shape.
pub fn subscribe(shape: Shape, addr: SocketAddr) -> Subscribe {
    let (ready, control_prefix, overflow_event) = match shape {
        Shape::Beacon => (
            Ready::Event {
                name: "beacon.connected".into(),
                control_prefix: "beacon.".into(),
            },
            Some("beacon.".into()),
            Some("beacon.overflow".into()),
        ),
        Shape::Nchan => (Ready::Comment, None, None),
    };
    Subscribe {
        addr,
        ready,
        control_prefix,
        overflow_event,
        open_concurrency: 4,
        open_timeout: std::time::Duration::from_secs(10),
    }
}

/// The opening of a Beacon stream.
pub const BEACON_OPENING: &str =
    ": beacon\n\nretry: 2000\n\nid: e_0-0\nevent: beacon.connected\ndata: {}\n\n";
/// The opening of an Nchan EventSource stream.
pub const NCHAN_OPENING: &str = ":hi\n\n";
