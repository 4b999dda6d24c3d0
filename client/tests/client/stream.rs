//! The resuming stream against a real node: events published while the
//! connection is down, the node restarted, or the token expired arrive
//! once each, in order.

use std::time::Duration;

use beacon_client::beacon_protocol::api::tokens::MintToken;
use beacon_client::beacon_protocol::{Control, PublishEvent};
use beacon_client::{
    Backoff, Client, Disconnect, EventStream, MintTokens, PublishOptions, StreamItem, StreamOptions,
};
use beacon_test_support::{Beacon, WAIT};
use futures::StreamExt;
use serde_json::json;

use super::node_with;

/// Quick reconnections, so that a restart costs the test little.
fn quick() -> Backoff {
    Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(500),
    }
}

/// What a stream yielded besides events.
#[derive(Debug, Default)]
struct Seen {
    controls: Vec<String>,
    reconnects: Vec<String>,
}

/// The next `n` event ids, noting what else came.
async fn event_ids(stream: &mut EventStream, n: usize, seen: &mut Seen) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let item = tokio::time::timeout(3 * WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no event in time; so far {ids:?}, {seen:?}"))
            .expect("the stream goes on")
            .unwrap_or_else(|e| panic!("stream error: {e:?}; {seen:?}"));
        match item {
            StreamItem::Event(event) => {
                let envelope = event.envelope.expect("a Beacon envelope");
                assert_eq!(event.id.as_deref(), Some(envelope.id.as_str()));
                ids.push(envelope.id);
            }
            StreamItem::Control { control, .. } => seen.controls.push(control.name().to_owned()),
            StreamItem::Reconnecting(r) => seen.reconnects.push(format!("{:?}", r.cause)),
            other => panic!("unexpected {other:?}"),
        }
    }
    ids
}

/// Waits for `beacon.connected`.
async fn connected(stream: &mut EventStream) {
    loop {
        let item = tokio::time::timeout(3 * WAIT, stream.next())
            .await
            .expect("connected in time")
            .expect("the stream goes on")
            .expect("no error");
        if let StreamItem::Control {
            control: Control::Connected(_),
            ..
        } = item
        {
            return;
        }
    }
}

async fn publish(tenant: &Client, kind: &str, n: usize, from: usize) -> Vec<String> {
    let events: Vec<PublishEvent> = (from..from + n)
        .map(|i| PublishEvent::new(kind, json!({ "n": i })))
        .collect();
    let published = tenant
        .publish_batch(&events, &PublishOptions::default())
        .await
        .expect("published");
    published
        .answer
        .ids()
        .into_iter()
        .map(|id| id.expect("stored").to_owned())
        .collect()
}

#[tokio::test]
async fn a_stream_resumes_across_drops_and_restarts_with_no_loss_and_no_duplicate() {
    let (mut node, _, tenant) = node_with(Beacon::builder()).await;
    let token = tenant
        .mint_token(&MintToken::new("42"))
        .await
        .expect("token")
        .token;
    let mut stream = tenant.stream(StreamOptions::new().token(token).backoff(quick()));
    connected(&mut stream).await;
    let mut seen = Seen::default();
    let mut published = publish(&tenant, "tick", 3, 0).await;
    let mut received = event_ids(&mut stream, 3, &mut seen).await;

    // The node dies without a word; events are published while it is
    // down to no subscriber, after it comes back on the same port.
    node.kill().await;
    node.start_again_on_same_port().await;
    published.extend(publish(&tenant, "tick", 3, 3).await);
    received.extend(event_ids(&mut stream, 3, &mut seen).await);
    assert!(!seen.reconnects.is_empty(), "{seen:?}");

    // A graceful stop says `beacon.shutdown`; the stream comes back too.
    node.terminate().await;
    node.start_again_on_same_port().await;
    published.extend(publish(&tenant, "tick", 2, 6).await);
    received.extend(event_ids(&mut stream, 2, &mut seen).await);
    assert!(
        seen.controls.iter().any(|c| c == "beacon.shutdown"),
        "{seen:?}"
    );
    assert!(
        seen.reconnects
            .iter()
            .any(|c| c == &format!("{:?}", Disconnect::Shutdown)),
        "{seen:?}"
    );
    assert_eq!(received, published, "every event once, in order");
}

#[tokio::test]
async fn an_expired_token_is_replaced_and_the_stream_resumes() {
    // Token expiry is checked at each heartbeat (one second here).
    let (_node, _, tenant) = node_with(Beacon::builder()).await;
    let mut request = MintToken::new("42");
    request.ttl_s = Some(1);
    let token = tenant.mint_token(&request).await.expect("token").token;
    let source = MintTokens {
        client: tenant.clone(),
        request,
    };
    let options = StreamOptions::new()
        .token(token)
        .token_source(source)
        .backoff(quick());
    let mut stream = tenant.stream(options);
    connected(&mut stream).await;
    let mut seen = Seen::default();
    let mut published = Vec::new();
    let mut received = Vec::new();
    for round in 0..3 {
        published.extend(publish(&tenant, "tick", 2, 2 * round).await);
        received.extend(event_ids(&mut stream, 2, &mut seen).await);
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
    assert_eq!(received, published, "every event once, in order");
    assert!(
        seen.controls.iter().any(|c| c == "beacon.token_expired"),
        "{seen:?}"
    );
    assert!(
        seen.reconnects
            .iter()
            .any(|c| c == &format!("{:?}", Disconnect::TokenRefreshed)),
        "{seen:?}"
    );
}
