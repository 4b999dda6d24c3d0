//! tail against a real node, fed by `beacon publish` and `beacon token`
//! (parsed exactly as the binary parses them); and its reconnections
//! against a scripted stream.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Command;
use crate::testing::{Cli, Output, acme, fails, node, ok, order, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_are_tailed_in_order() {
    let node = node("15s").await;
    let key = acme(&node).await;
    let url = node.url.as_str();
    let with_key = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| a.to_string())
            .chain(["--url".into(), url.into(), "--api-key".into(), key.clone()])
            .collect()
    };
    async fn run_ok(args: Vec<String>) -> Output {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&args).await
    }
    async fn run_fails(args: Vec<String>) -> (String, Output) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&args).await
    }

    // A first event: the others are tailed from after it.
    let first = run_ok(with_key(&[
        "publish",
        "order.created",
        "--subject",
        "order/IE-1",
        "--data",
        &order("IE-1", 100).to_string(),
    ]))
    .await;
    let first_id = first.out.trim().to_owned();
    assert_eq!(first.out.lines().count(), 1, "{first:?}");

    // One event from the flags, with every field.
    let single = run_ok(with_key(&[
        "publish",
        "order.created",
        "--subject",
        "order/IE-2",
        "--data",
        &order("IE-2", 200).to_string(),
        "--audience",
        "beacon-tail,42",
        "--version",
        "1",
        "--key",
        "order-IE-2",
        "--source",
        "/shop/checkout",
    ]))
    .await;
    // A batch from a file, and one event object from a file.
    let batch = write(
        node.dir.path(),
        "batch.json",
        &json!([
            {"type": "order.created", "subject": "order/IE-3", "data": order("IE-3", 300)},
            {"type": "chat.message", "subject": "room/1", "data": "hello"}
        ]),
    );
    let batch = run_ok(with_key(&["publish", "--file", &batch])).await;
    let one = write(
        node.dir.path(),
        "one.json",
        &json!({"type": "chat.message", "data": {"text": "bye"}}),
    );
    let one = run_ok(with_key(&[
        "publish",
        "-f",
        &one,
        "--idempotency-key",
        "bye-1",
    ]))
    .await;
    let ids: Vec<String> = [&single, &batch, &one]
        .iter()
        .flat_map(|o| o.out.lines().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 4, "{single:?} {batch:?} {one:?}");
    assert!(ids.iter().all(|id| id.contains('_')), "{ids:?}");

    // The same Idempotency-Key again: the same id, nothing stored twice.
    let again = write(
        node.dir.path(),
        "one.json",
        &json!({"type": "chat.message", "data": {"text": "bye"}}),
    );
    let again = run_ok(with_key(&[
        "publish",
        "-f",
        &again,
        "--idempotency-key",
        "bye-1",
    ]))
    .await;
    assert_eq!(again.out.trim(), ids[3]);
    assert!(again.notes.contains("already accepted"), "{again:?}");

    // Refused: the contract's pointer is shown and nothing is stored.
    let (error, output) = run_fails(with_key(&[
        "publish",
        "order.created",
        "--data",
        r#"{"orderId":"IE-9","total":"lots","currency":"KES"}"#,
    ]))
    .await;
    assert!(error.starts_with("the event was refused: "), "{error}");
    assert!(error.contains("(422 invalid_event)"), "{error}");
    assert!(error.contains("\n  - /data/total: "), "{error}");
    assert_eq!(output.out, "", "nothing on stdout for a refusal");
    let bad_batch = write(
        node.dir.path(),
        "bad.json",
        &json!([
            {"type": "chat.message", "data": 1},
            {"type": "order.created", "data": order("IE-9", -5)}
        ]),
    );
    let (error, _) = run_fails(with_key(&["publish", "--file", &bad_batch])).await;
    assert!(
        error.starts_with("the batch of 2 events was refused"),
        "{error}"
    );
    assert!(error.contains("/1/data/total"), "{error}");
    // The binary's exit status for a refusal is 1.
    let cli = Cli::try_parse_from(
        ["beacon"]
            .into_iter()
            .map(str::to_owned)
            .chain(with_key(&["publish", "--file", &bad_batch])),
    )
    .expect("parsed");
    let Command::Publish(args) = cli.command else {
        unreachable!()
    };
    let code = std::thread::spawn(move || crate::publish::run(args))
        .join()
        .expect("publish ran");
    assert_eq!(code, ExitCode::FAILURE);

    // --partial stores the valid events, shows `-` for the refused one,
    // and still exits 1.
    let (error, partial) =
        run_fails(with_key(&["publish", "--file", &bad_batch, "--partial"])).await;
    assert!(error.starts_with("1 of 2 events refused"), "{error}");
    assert!(error.contains("/1/data/total"), "{error}");
    let partial_ids: Vec<&str> = partial.out.lines().collect();
    assert_eq!(partial_ids.len(), 2, "{partial:?}");
    assert_eq!(partial_ids[1], "-");
    let mut expected = ids.clone();
    expected.push(partial_ids[0].to_owned());

    // Malformed input fails before anything is sent.
    let (error, _) = run_fails(with_key(&["publish", "x", "--data", "not json"])).await;
    assert!(error.contains("--data is not valid JSON"), "{error}");
    let parse_error = Cli::try_parse_from(["beacon", "publish", "x", "--file", "a.json"])
        .err()
        .expect("TYPE and --file conflict");
    assert!(
        parse_error.to_string().contains("cannot be used with"),
        "{parse_error}"
    );

    // Tail from after the first event: exactly the five stored since, in
    // order, as JSON envelopes.
    let tailed = run_ok(with_key(&[
        "tail", "--from", &first_id, "--count", "5", "--json",
    ]))
    .await;
    let envelopes: Vec<Value> = tailed
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let tailed_ids: Vec<&str> = envelopes
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(tailed_ids, expected, "{tailed:?}");
    assert_eq!(envelopes[0]["source"], "/shop/checkout");
    assert_eq!(envelopes[0]["version"], 1);
    assert_eq!(envelopes[2]["data"], "hello");
    assert!(
        tailed.notes.contains(&format!(
            "connected to tenant acme: replaying after {first_id}"
        )),
        "{tailed:?}"
    );

    // From the start, filtered, printed for people: the chat messages.
    let pretty = run_ok(with_key(&[
        "tail", "--from", "start", "--types", "chat.*", "--count", "3",
    ]))
    .await;
    let lines: Vec<&str> = pretty.out.lines().collect();
    assert_eq!(lines.len(), 4, "{pretty:?}");
    // The first connection only learns where the stream starts.
    assert_eq!(
        pretty.notes,
        "-- connected to tenant acme: replaying from the start\n"
    );
    assert!(
        lines[0].starts_with("-- 20") && lines[0].ends_with(" (UTC)"),
        "{pretty:?}"
    );
    let fields: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        fields[0][1..],
        ["chat.message", "room/1", ids[2].as_str(), "\"hello\""]
    );
    assert_eq!(
        fields[1][1..],
        ["chat.message", "-", ids[3].as_str(), "{\"text\":\"bye\"}"]
    );
    assert_eq!(
        fields[2][1..],
        ["chat.message", "-", expected[4].as_str(), "1"]
    );

    // With a token minted by `beacon token`, whose claims narrow the stream.
    let token = run_ok(with_key(&["token", "7", "--types", "order.*"])).await;
    let token = token.out.trim();
    let by_token = ok(&[
        "tail", "--url", url, "--token", token, "--from", &first_id, "--count", "1", "--json",
    ])
    .await;
    let envelope: Value = serde_json::from_str(by_token.out.trim()).expect("JSON");
    // The event for `beacon-tail` and 42 is not for user 7.
    assert_eq!(envelope["subject"], "order/IE-3", "{by_token:?}");

    // Refusals of the stream are final.
    let (error, _) = fails(&["tail", "--url", url, "--token", "not-a-jwt"]).await;
    assert!(error.contains("refused the subscriber token"), "{error}");
    assert!(error.contains("401"), "{error}");
    let (error, _) = run_fails(with_key(&["tail", "--types", "bad type!"])).await;
    assert!(error.contains("invalid_filter"), "{error}");
    let (error, _) = run_fails(with_key(&["tail", "--from", "yesterday"])).await;
    assert!(
        error.contains("--from yesterday: not a Beacon event id"),
        "{error}"
    );
    let (error, _) = fails(&["tail", "--url", url, "--api-key", "", "--token", ""]).await;
    assert!(error.starts_with("no credential"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_mints_a_new_token_when_one_expires() {
    // Token expiry is checked at each heartbeat.
    let node = node("200ms").await;
    let key = acme(&node).await;
    let url = node.url.clone();
    let publish = |n: u32| {
        let (url, key) = (url.clone(), key.clone());
        async move {
            let data = json!({"n": n}).to_string();
            ok(&[
                "publish",
                "tick",
                "--data",
                &data,
                "--url",
                &url,
                "--api-key",
                &key,
            ])
            .await
            .out
            .trim()
            .to_owned()
        }
    };
    let start = publish(0).await;
    // Published while tail runs, slower than the tokens expire.
    let publisher = async {
        let mut ids = Vec::new();
        for n in 1..=3 {
            tokio::time::sleep(Duration::from_millis(1300)).await;
            ids.push(publish(n).await);
        }
        ids
    };
    let tail_args = [
        "tail",
        "--url",
        &node.url,
        "--api-key",
        &key,
        "--token-ttl",
        "1s",
        "--from",
        &start,
        "--count",
        "3",
        "--json",
    ];
    let tail = ok(&tail_args);
    let (published, tailed) = tokio::join!(publisher, tail);
    let ids: Vec<String> = tailed
        .out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON");
            v["id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(ids, published, "{tailed:?}");
    assert!(tailed.notes.contains("-- token_expired"), "{tailed:?}");
    assert!(
        tailed.notes.contains("minted a new token; resuming after"),
        "{tailed:?}"
    );

    // With a fixed token, an expiry ends tail with an explanation.
    let token = ok(&[
        "token",
        "9",
        "--ttl",
        "1s",
        "--url",
        &node.url,
        "--api-key",
        &key,
    ])
    .await;
    let (error, _) = fails(&["tail", "--url", &node.url, "--token", token.out.trim()]).await;
    assert!(
        error.contains("token expired") || error.contains("401"),
        "{error}"
    );
}

/// A scripted event stream: answers the `n`-th request with `bodies[n]`
/// then closes the connection, and records each request's
/// `Last-Event-ID`.
async fn scripted(bodies: Vec<&'static str>) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a local port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for body in bodies {
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
            let head = String::from_utf8_lossy(&head).to_lowercase();
            let last = head
                .lines()
                .find_map(|l| l.strip_prefix("last-event-id:"))
                .map(|v| v.trim().to_owned());
            log.lock().expect("lock").push(last);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}"
            );
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (url, seen)
}

#[tokio::test]
async fn tail_resumes_after_the_last_event_when_the_stream_drops() {
    let (url, seen) = scripted(vec![
        // Dropped without a word after two events.
        ": beacon\n\nretry: 10\n\nid: e_1-0\nevent: beacon.connected\ndata: {\"tenant\":\"acme\",\"resume\":\"none\",\"heartbeat_s\":15}\n\n\
         id: e_2-0\nevent: a\ndata: {\"id\":\"e_2-0\",\"type\":\"a\",\"time\":\"2026-11-23T12:00:00.000Z\",\"data\":1}\n\n\
         id: e_3-0\nevent: b\ndata: {\"id\":\"e_3-0\",\"type\":\"b\",\"time\":\"2026-11-23T12:00:01.000Z\",\"data\":2}\n\n\
         id: e_4-0\nevent: c\ndata: {\"half",
        // A node shutting down: its control event moves no id.
        "retry: 10\n\nid: e_3-0\nevent: beacon.connected\ndata: {\"tenant\":\"acme\",\"resume\":\"exact\",\"last_event_id\":\"e_3-0\",\"heartbeat_s\":15}\n\n\
         event: beacon.shutdown\ndata: {\"reason\":\"server shutting down; reconnect\"}\n\n",
        "retry: 10\n\nid: e_3-0\nevent: beacon.connected\ndata: {\"tenant\":\"acme\",\"resume\":\"exact\",\"last_event_id\":\"e_3-0\",\"heartbeat_s\":15}\n\n\
         event: beacon.gap\ndata: {\"reason\":\"expired\",\"requested\":\"e_3-0\"}\n\n\
         id: e_5-0\nevent: c\ndata: {\"id\":\"e_5-0\",\"type\":\"c\",\"subject\":\"s/1\",\"time\":\"2026-11-23T12:00:02.000Z\",\"data\":3}\n\n",
    ])
    .await;
    let tailed = ok(&["tail", "--url", &url, "--token", "t", "--count", "3"]).await;
    assert_eq!(
        tailed.out,
        "-- 2026-11-23 (UTC)\n\
         12:00:00.000  a  -  e_2-0  1\n\
         12:00:01.000  b  -  e_3-0  2\n\
         12:00:02.000  c  s/1  e_5-0  3\n"
    );
    assert_eq!(
        *seen.lock().expect("lock"),
        [None, Some("e_3-0".to_owned()), Some("e_3-0".to_owned())]
    );
    let notes: Vec<&str> = tailed.notes.lines().collect();
    assert_eq!(notes.len(), 7, "{notes:#?}");
    assert_eq!(
        notes[0],
        "-- connected to tenant acme: new events after e_1-0"
    );
    assert!(
        notes[1].starts_with("-- the stream ended; reconnecting in "),
        "{notes:#?}"
    );
    assert!(notes[1].ends_with("s after e_3-0"), "{notes:#?}");
    assert_eq!(
        notes[2],
        "-- connected to tenant acme: replaying after e_3-0"
    );
    assert_eq!(notes[3], "-- shutdown: the node is shutting down");
    assert!(
        notes[4].starts_with("-- the node is shutting down; reconnecting in "),
        "{notes:#?}"
    );
    assert_eq!(
        notes[5],
        "-- connected to tenant acme: replaying after e_3-0"
    );
    assert!(
        notes[6].starts_with("-- gap: the events after e_3-0 are past retention"),
        "{notes:#?}"
    );

    // A node that closes the stream for good is not reconnected to.
    let (url, seen) = scripted(vec![
        "id: e_1-0\nevent: beacon.connected\ndata: {\"tenant\":\"acme\",\"resume\":\"none\",\"heartbeat_s\":15}\n\n\
         event: beacon.closed\ndata: {\"reason\":\"tenant_deleted\"}\n\n",
    ])
    .await;
    let (error, output) = fails(&["tail", "--url", &url, "--token", "t"]).await;
    assert!(
        error.contains("closed the stream for good (tenant_deleted)"),
        "{error}"
    );
    assert!(
        output.notes.contains("-- closed: tenant_deleted"),
        "{output:?}"
    );
    assert_eq!(seen.lock().expect("lock").len(), 1);

    // Nothing listening at the start: an error at once, not retries.
    let (error, _) = fails(&["tail", "--url", "http://127.0.0.1:9", "--token", "t"]).await;
    assert!(error.contains("cannot reach Beacon at"), "{error}");
}
