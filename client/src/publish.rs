//! `POST /v1/events`: one event or an all-or-nothing batch, with a tenant
//! API key (`publish` scope).

use beacon_protocol::PublishEvent;
use beacon_protocol::api::publish::{
    IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, NotStored, PartiallyPublished, Published, PublishedBatch,
};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::client::{Body, Call};
use crate::{Client, ClientError};

/// How a publish request is made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Sent as `Idempotency-Key`: a retry of the request with the same key
    /// gets the same ids and stores nothing twice (event `i` of a batch
    /// gets the key `<key>/<i>` unless it has its own `key`).
    pub idempotency_key: Option<String>,
    /// For a batch: store the valid events even if others are refused
    /// (`?partial=true`; the answer is then [`PublishAnswer::Partial`]).
    pub partial: bool,
}

impl PublishOptions {
    /// A request safe to retry with `key`.
    pub fn idempotency_key(key: impl Into<String>) -> Self {
        PublishOptions {
            idempotency_key: Some(key.into()),
            partial: false,
        }
    }
}

/// The node's answer to a publish request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub answer: PublishAnswer,
    /// The node had already accepted this `Idempotency-Key`: nothing new
    /// was stored, the ids are those of the first request.
    pub replayed: bool,
}

/// The answers of `POST /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishAnswer {
    /// One event, stored (201).
    Stored(Published),
    /// One event that a plugin dropped or sent to the dead letters (200).
    NotStored(NotStored),
    /// A batch (201): an id per event, `None` for those plugins kept out.
    Batch(PublishedBatch),
    /// A `partial` batch of which some events were refused (207).
    Partial(PartiallyPublished),
}

impl PublishAnswer {
    /// One entry per event of the request, in order: its id, or `None`
    /// when it was not stored.
    pub fn ids(&self) -> Vec<Option<&str>> {
        match self {
            PublishAnswer::Stored(p) => vec![Some(p.id.as_str())],
            PublishAnswer::NotStored(_) => vec![None],
            PublishAnswer::Batch(b) => b.ids.iter().map(Option::as_deref).collect(),
            PublishAnswer::Partial(p) => p.ids.iter().map(Option::as_deref).collect(),
        }
    }
}

impl Serialize for PublishAnswer {
    /// As the node wrote it.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PublishAnswer::Stored(a) => a.serialize(serializer),
            PublishAnswer::NotStored(a) => a.serialize(serializer),
            PublishAnswer::Batch(a) => a.serialize(serializer),
            PublishAnswer::Partial(a) => a.serialize(serializer),
        }
    }
}

impl Client {
    /// Publishes one event.
    pub async fn publish(
        &self,
        event: &PublishEvent,
        options: &PublishOptions,
    ) -> Result<Publication, ClientError> {
        self.publish_json(event, options).await
    }

    /// Publishes a batch: every event is stored, or none is (unless
    /// `options.partial`).
    pub async fn publish_batch(
        &self,
        events: &[PublishEvent],
        options: &PublishOptions,
    ) -> Result<Publication, ClientError> {
        self.publish_json(events, options).await
    }

    /// Publishes `body` as it is: an event object or an array of them
    /// (say, read from a file), for the node to check and refuse with a
    /// pointer to each problem.
    pub async fn publish_json<B: Serialize + ?Sized>(
        &self,
        body: &B,
        options: &PublishOptions,
    ) -> Result<Publication, ClientError> {
        let mut call = Call::new(Method::POST, &["v1", "events"])
            .body(Body::json(body)?)
            .query("partial", options.partial.then_some("true"));
        if let Some(key) = &options.idempotency_key {
            let value = HeaderValue::from_str(key).map_err(|_| ClientError::Header {
                name: "Idempotency-Key",
                value: key.clone(),
            })?;
            call.headers
                .push((HeaderName::from_static(IDEMPOTENCY_KEY), value));
        }
        let answer = self.send(call).await?;
        let replayed = answer
            .headers
            .get(IDEMPOTENT_REPLAYED)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let answer = match answer.status {
            StatusCode::MULTI_STATUS => PublishAnswer::Partial(answer.json()?),
            StatusCode::OK => PublishAnswer::NotStored(answer.json()?),
            _ => {
                let value: serde_json::Value = answer.json()?;
                if value.get("ids").is_some() {
                    PublishAnswer::Batch(answer.read_value(value)?)
                } else {
                    PublishAnswer::Stored(answer.read_value(value)?)
                }
            }
        };
        Ok(Publication { answer, replayed })
    }
}
