//! The shared SSE vectors (`protocol/vectors/sse.json`), also read by the
//! JavaScript client's parser tests: every input gives the same items
//! whole, one byte at a time, and cut in two anywhere.

use std::time::Duration;

use beacon_protocol::sse::{Item, Message, Parser};
use serde_json::Value;

fn expected(items: &Value) -> Vec<Item> {
    let text = |v: &Value, k: &str| v[k].as_str().expect(k).to_owned();
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|item| match item["type"].as_str().expect("type") {
            "message" => Item::Message(Message {
                event: text(item, "event"),
                data: text(item, "data"),
                last_event_id: item["lastEventId"].as_str().map(str::to_owned),
                has_id: item["hasId"].as_bool().expect("hasId"),
            }),
            "comment" => Item::Comment(text(item, "text")),
            "retry" => Item::Retry(Duration::from_millis(item["ms"].as_u64().expect("ms"))),
            "id" => Item::Id(text(item, "id")),
            other => panic!("unknown item type {other}"),
        })
        .collect()
}

fn parse(resume: Option<&str>, chunks: &[&[u8]]) -> (Vec<Item>, Option<String>) {
    let mut parser = Parser::resuming(resume.map(str::to_owned));
    let mut items = Vec::new();
    for chunk in chunks {
        parser.push(chunk, &mut items).expect("parsed");
    }
    (items, parser.last_event_id().map(str::to_owned))
}

#[test]
fn every_vector_parses_the_same_however_it_is_cut() {
    let doc: Value = serde_json::from_str(include_str!("../vectors/sse.json")).expect("vectors");
    let vectors = doc["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 8);
    for vector in vectors {
        let name = vector["name"].as_str().expect("name");
        let input = vector["input"].as_str().expect("input").as_bytes();
        let resume = vector["resume"].as_str();
        let want = (
            expected(&vector["items"]),
            vector["lastEventId"].as_str().map(str::to_owned),
        );
        assert_eq!(parse(resume, &[input]), want, "{name}: whole");
        let singles: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse(resume, &singles), want, "{name}: byte by byte");
        for cut in 0..input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(parse(resume, &[a, b]), want, "{name}: cut at {cut}");
        }
    }
}
