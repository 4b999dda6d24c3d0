//! The stream against a scripted node on a local port: what it yields,
//! and what each reconnection sends (`Last-Event-ID`, the token).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use beacon_protocol::Control;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// How one request is answered.
enum Reply {
    /// 200 with this event stream, then the connection closes.
    Stream(&'static str),
    /// 200 with this event stream, then silence (the connection stays open).
    Hold(&'static str),
    /// This status, with a `Retry-After` when given, and an error body.
    Status(u16, Option<u64>),
}

/// What one request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    last_event_id: Option<String>,
    authorization: Option<String>,
}

/// A node answering the `n`-th request with `replies[n]`.
async fn scripted(replies: Vec<Reply>) -> (Client, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a local port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        for reply in replies {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
            };
            log.lock().expect("lock").push(Seen {
                last_event_id: header("last-event-id"),
                authorization: header("authorization"),
            });
            let (answer, hold) = match reply {
                Reply::Stream(body) | Reply::Hold(body) => (
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}"
                    ),
                    matches!(reply, Reply::Hold(_)),
                ),
                Reply::Status(status, retry_after) => {
                    let body = r#"{"error":"nope","message":"not now"}"#;
                    let retry = retry_after
                        .map(|s| format!("retry-after: {s}\r\n"))
                        .unwrap_or_default();
                    (
                        format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{retry}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        false,
                    )
                }
            };
            let _ = socket.write_all(answer.as_bytes()).await;
            if hold {
                held.push(socket);
            } else {
                let _ = socket.shutdown().await;
            }
        }
        // Held connections stay open until the test ends.
        std::future::pending::<()>().await;
        drop(held);
    });
    let client = Client::builder(&url).token("t1").build().expect("client");
    (client, seen)
}

/// Short delays, so that reconnections are quick.
fn options() -> StreamOptions {
    StreamOptions::new().backoff(Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    })
}

/// Every item until the stream ends (or `limit` items).
async fn collect(stream: EventStream, limit: usize) -> Vec<Result<StreamItem, ClientError>> {
    tokio::time::timeout(Duration::from_secs(20), stream.take(limit).collect())
        .await
        .expect("the stream ends in time")
}

fn connected(resume: &str) -> String {
    format!(
        r#"{{"connection":"c","tenant":"acme","resume":"{resume}","last_event_id":null,"heartbeat_s":15}}"#
    )
}

/// A compact view of an item, to compare sequences.
fn shown(item: &Result<StreamItem, ClientError>) -> String {
    match item {
        Ok(StreamItem::Event(e)) => format!("event {} {}", e.kind, e.id.as_deref().unwrap_or("-")),
        Ok(StreamItem::Control { control, .. }) => control.name().to_owned(),
        Ok(StreamItem::Unrecognised { event, .. }) => format!("unrecognised {event}"),
        Ok(StreamItem::Heartbeat) => "heartbeat".to_owned(),
        Ok(StreamItem::Reconnecting(r)) => {
            let cause = match &r.cause {
                Disconnect::Ended => "ended".to_owned(),
                Disconnect::Silent(_) => "silent".to_owned(),
                Disconnect::Broken(_) => "broken".to_owned(),
                Disconnect::Overflow => "overflow".to_owned(),
                Disconnect::Shutdown => "shutdown".to_owned(),
                Disconnect::TokenRefreshed => "token refreshed".to_owned(),
                Disconnect::Refused(e) => format!("refused {}", e.status.as_u16()),
                Disconnect::Unreachable(_) => "unreachable".to_owned(),
            };
            format!(
                "reconnecting ({cause}) after {}",
                r.last_event_id.as_deref().unwrap_or("-")
            )
        }
        Err(e) => format!("error {e}"),
    }
}

fn seen_ids(seen: &Mutex<Vec<Seen>>) -> Vec<Option<String>> {
    seen.lock()
        .expect("lock")
        .iter()
        .map(|s| s.last_event_id.clone())
        .collect()
}

#[tokio::test]
async fn a_dropped_stream_resumes_after_its_last_event_and_stops_when_closed() {
    let first = format!(
        ": beacon\n\nretry: 10\n\nid: e_1-0\nevent: beacon.connected\ndata: {}\n\n\
         id: e_2-0\nevent: a\ndata: {{\"id\":\"e_2-0\"}}\n\n\
         id: e_3-0\nevent: b\ndata: {{\"id\":\"e_3-0\"}}\n\n\
         id: e_4-0\nevent: c\ndata: {{\"half",
        connected("none")
    );
    let second = format!(
        "id: e_3-0\nevent: beacon.connected\ndata: {}\n\n\
         event: beacon.shutdown\ndata: {{\"reason\":\"bye\"}}\n\nid: e_9-0\nevent: x\ndata: 1\n\n",
        connected("exact")
    );
    let third = format!(
        "id: e_3-0\nevent: beacon.connected\ndata: {}\n\n\
         id: e_5-0\nevent: presence.joined\ndata: {{\"user\":\"42\",\"seq\":1}}\n\n\
         event: beacon.future_thing\ndata: {{}}\n\n\
         event: beacon.closed\ndata: {{\"reason\":\"tenant_deleted\"}}\n\n",
        connected("exact")
    );
    let (client, seen) = scripted(vec![
        Reply::Stream(Box::leak(first.into_boxed_str())),
        Reply::Stream(Box::leak(second.into_boxed_str())),
        Reply::Stream(Box::leak(third.into_boxed_str())),
    ])
    .await;
    let items = collect(client.stream(options()), 100).await;
    let shown: Vec<String> = items.iter().map(shown).collect();
    assert_eq!(
        shown,
        [
            "beacon.connected",
            "event a e_2-0",
            "event b e_3-0",
            "reconnecting (ended) after e_3-0",
            "beacon.connected",
            "beacon.shutdown",
            "reconnecting (shutdown) after e_3-0",
            "beacon.connected",
            "event presence.joined e_5-0",
            "unrecognised beacon.future_thing",
            "beacon.closed",
        ]
    );
    // Not reconnected after `beacon.closed`; each reconnection resumed
    // after the last event seen, never after one only half received.
    assert_eq!(
        seen_ids(&seen),
        [None, Some("e_3-0".to_owned()), Some("e_3-0".to_owned())]
    );
    let Ok(StreamItem::Control {
        control: Control::Connected(c),
        last_event_id,
    }) = &items[0]
    else {
        panic!("{:?}", items[0]);
    };
    assert_eq!(
        (c.tenant.as_str(), last_event_id.as_deref()),
        ("acme", Some("e_1-0"))
    );
    let Ok(StreamItem::Event(event)) = &items[1] else {
        panic!("{:?}", items[1]);
    };
    // Not a whole envelope: kept raw, unread.
    assert_eq!(
        (event.data.as_str(), event.envelope.is_none()),
        ("{\"id\":\"e_2-0\"}", true)
    );
}

#[tokio::test]
async fn overflow_reconnects_at_once_and_an_expired_token_is_replaced() {
    let first = format!(
        "id: e_1-0\nevent: beacon.connected\ndata: {}\n\n\
         event: beacon.overflow\ndata: {{\"reason\":\"slow_consumer\",\"last_event_id\":\"e_1-0\"}}\n\n",
        connected("none")
    );
    let second = format!(
        "id: e_1-0\nevent: beacon.connected\ndata: {}\n\n\
         id: e_2-0\nevent: a\ndata: {{}}\n\n\
         event: beacon.token_expired\ndata: {{\"reason\":\"expired\",\"last_event_id\":\"e_2-0\"}}\n\n",
        connected("exact")
    );
    let third = format!(
        "id: e_2-0\nevent: beacon.connected\ndata: {}\n\n\
         event: beacon.closed\ndata: {{\"reason\":\"replaced\"}}\n\n",
        connected("exact")
    );
    let (client, seen) = scripted(vec![
        Reply::Stream(Box::leak(first.into_boxed_str())),
        Reply::Stream(Box::leak(second.into_boxed_str())),
        Reply::Stream(Box::leak(third.into_boxed_str())),
    ])
    .await;
    let fetched = Arc::new(AtomicU32::new(0));
    let counter = fetched.clone();
    let source = move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 2;
        async move { Ok::<_, ClientError>(format!("t{n}")) }
    };
    let items = collect(client.stream(options().token_source(source)), 100).await;
    let shown: Vec<String> = items.iter().map(shown).collect();
    assert_eq!(
        shown,
        [
            "beacon.connected",
            "beacon.overflow",
            "reconnecting (overflow) after e_1-0",
            "beacon.connected",
            "event a e_2-0",
            "beacon.token_expired",
            "reconnecting (token refreshed) after e_2-0",
            "beacon.connected",
            "beacon.closed",
        ]
    );
    let Ok(StreamItem::Reconnecting(overflow)) = &items[2] else {
        panic!("{:?}", items[2]);
    };
    assert_eq!(overflow.delay, Duration::ZERO);
    assert_eq!(fetched.load(Ordering::SeqCst), 1);
    let seen = seen.lock().expect("lock").clone();
    let tokens: Vec<&str> = seen
        .iter()
        .map(|s| s.authorization.as_deref().unwrap_or("-"))
        .collect();
    assert_eq!(tokens, ["Bearer t1", "Bearer t1", "Bearer t2"]);
}

#[tokio::test]
async fn without_a_token_source_an_expired_token_ends_the_stream() {
    let body = format!(
        "id: e_1-0\nevent: beacon.connected\ndata: {}\n\n\
         event: beacon.token_expired\ndata: {{\"reason\":\"expired\",\"last_event_id\":\"e_1-0\"}}\n\n",
        connected("none")
    );
    let (client, seen) = scripted(vec![Reply::Stream(Box::leak(body.into_boxed_str()))]).await;
    let items = collect(client.stream(options()), 100).await;
    assert_eq!(
        items.len(),
        3,
        "{:?}",
        items.iter().map(shown).collect::<Vec<_>>()
    );
    match &items[2] {
        Err(ClientError::TokenExpired { last_event_id }) => {
            assert_eq!(last_event_id.as_deref(), Some("e_1-0"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn refusals_are_retried_refreshed_or_final() {
    let body = format!(
        "id: e_1-0\nevent: beacon.connected\ndata: {}\n\nevent: beacon.closed\ndata: {{\"reason\":\"replaced\"}}\n\n",
        connected("none")
    );
    let (client, seen) = scripted(vec![
        Reply::Status(503, Some(0)),
        Reply::Status(401, None),
        Reply::Stream(Box::leak(body.into_boxed_str())),
    ])
    .await;
    let source = || async { Ok::<_, ClientError>("fresh".to_owned()) };
    let items = collect(client.stream(options().token_source(source)), 100).await;
    let shown: Vec<String> = items.iter().map(shown).collect();
    // The 401 is answered with a fresh token, without a word.
    assert_eq!(
        shown,
        [
            "reconnecting (refused 503) after -",
            "beacon.connected",
            "beacon.closed"
        ]
    );
    let Ok(StreamItem::Reconnecting(Reconnect {
        cause: Disconnect::Refused(refusal),
        ..
    })) = &items[0]
    else {
        panic!("{:?}", items[0]);
    };
    assert_eq!(
        (refusal.code(), refusal.retry_after),
        ("nope", Some(Duration::ZERO))
    );
    assert_eq!(
        seen.lock().expect("lock")[2].authorization.as_deref(),
        Some("Bearer fresh")
    );

    // A refusal that no retry mends ends the stream with the node's answer.
    let (client, _) = scripted(vec![Reply::Status(400, None)]).await;
    let items = collect(client.stream(options()), 100).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]
            .as_ref()
            .err()
            .and_then(ClientError::status)
            .map(|s| s.as_u16()),
        Some(400)
    );
    // So does a 401 without a way to get another token.
    let (client, _) = scripted(vec![Reply::Status(401, None)]).await;
    let items = collect(client.stream(options()), 100).await;
    assert_eq!(
        items[0]
            .as_ref()
            .err()
            .and_then(ClientError::status)
            .map(|s| s.as_u16()),
        Some(401)
    );
}

#[tokio::test]
async fn an_unreachable_node_fails_at_once_unless_asked_to_keep_trying() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let client = Client::new(&url).expect("client");
    let items = collect(client.stream(options()), 100).await;
    assert!(
        matches!(items[..], [Err(ClientError::Connect { .. })]),
        "{items:?}"
    );
    let items = collect(client.stream(options().keep_trying(true)), 3).await;
    let shown: Vec<String> = items.iter().map(shown).collect();
    assert_eq!(shown, ["reconnecting (unreachable) after -"; 3]);
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_counts_as_dropped_after_a_few_heartbeats() {
    let body = format!(
        ": beacon\n\nid: e_1-0\nevent: beacon.connected\ndata: {}\n\n:\n\n",
        connected("none").replace("\"heartbeat_s\":15", "\"heartbeat_s\":2")
    );
    let body: &'static str = Box::leak(body.into_boxed_str());
    let (client, seen) = scripted(vec![Reply::Hold(body), Reply::Hold(body)]).await;
    let stream = client.stream(options().heartbeats(true));
    let started = tokio::time::Instant::now();
    let items = collect(stream, 5).await;
    let shown: Vec<String> = items.iter().map(shown).collect();
    assert_eq!(
        shown,
        [
            "heartbeat",
            "beacon.connected",
            "heartbeat",
            "reconnecting (silent) after e_1-0",
            "heartbeat"
        ]
    );
    let Ok(StreamItem::Reconnecting(Reconnect {
        cause: Disconnect::Silent(idle),
        ..
    })) = &items[3]
    else {
        panic!("{:?}", items[3]);
    };
    // Three heartbeats and two seconds.
    assert_eq!(*idle, Duration::from_secs(8));
    assert!(started.elapsed() >= *idle);
    assert_eq!(seen_ids(&seen), [None, Some("e_1-0".to_owned())]);
}
