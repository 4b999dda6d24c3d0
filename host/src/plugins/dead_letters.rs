//! The dead-letter log: events that failed inside the plugin pipeline
//! after they were accepted, kept with why, so nothing goes silently away.
//!
//! Each tenant's dead letters are one more stream of the event log
//! ([`crate::log::EventLog`]), named `<tenant>/dead-letters` (see
//! [`stream`]). Tenant ids are `[a-z0-9-]`, so that name can never be a
//! tenant's own stream, and both log backends accept it (the embedded log
//! keys streams by the whole name; the Redis log puts it in the hash tag
//! `{t:<tenant>/dead-letters}`). They are durable, shared across nodes
//! like events, and trimmed by the same retention (the node's retention
//! loop includes these streams). Nobody subscribes to them: they are read
//! page by page with [`DeadLetters::list`].

pub use beacon_protocol::api::dead_letters::{DeadLetter, DeadLetterEntry, DeadLetterPage};

use crate::log::{EventMeta, LogError, NewEvent, Offset, Position, SharedLog};

/// What follows the tenant id in the name of its dead-letter stream.
pub const STREAM_SUFFIX: &str = "/dead-letters";

/// Most dead letters one [`DeadLetters::list`] call returns.
pub const MAX_PAGE: usize = beacon_protocol::api::dead_letters::MAX_PAGE;

/// Longest `reason` kept, in bytes; a longer one is cut (at a character
/// boundary).
pub const MAX_REASON_BYTES: usize = 2048;

/// Longest `code` and `plugin` kept, in bytes (both are short names).
pub const MAX_NAME_BYTES: usize = 128;

/// Largest `event` kept, in bytes of compact JSON. A larger one is replaced
/// by `null`, and the reason says so; the rest of the letter is kept.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// The type recorded in the log's routing fields of every dead letter.
const KIND: &str = "beacon.dead-letter";

/// The dead-letter stream of `tenant`.
pub fn stream(tenant: &str) -> String {
    format!("{tenant}{STREAM_SUFFIX}")
}

/// Why a dead-letter call failed.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The cursor is not one this log gave out.
    #[error("invalid cursor: {0}")]
    BadCursor(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Dead letters of every tenant, over the event log.
#[derive(Clone)]
pub struct DeadLetters {
    log: SharedLog,
}

impl DeadLetters {
    pub fn new(log: SharedLog) -> Self {
        DeadLetters { log }
    }

    /// Stores a dead letter durably and returns its id. Over-long fields
    /// are cut to the bounds above rather than refused: a failure is kept
    /// even when its description is not.
    pub async fn put(&self, tenant: &str, letter: DeadLetter) -> Result<String, DeadLetterError> {
        self.put_once(tenant, letter, None).await
    }

    /// Like [`put`](Self::put), but a letter with the same `key` within the
    /// log's idempotency window is stored only once (a retried publish whose
    /// events failed again does not double its dead letters).
    pub async fn put_once(
        &self,
        tenant: &str,
        letter: DeadLetter,
        key: Option<String>,
    ) -> Result<String, DeadLetterError> {
        let envelope = encode(bounded(letter));
        let event = NewEvent {
            meta: EventMeta {
                kind: KIND.to_owned(),
                subject: None,
                audience: Vec::new(),
            },
            envelope,
            dedup_key: key,
        };
        let batch = self.log.append(&stream(tenant), vec![event]).await?;
        let appended = batch.appended.first().ok_or_else(|| {
            DeadLetterError::Log(LogError::internal(
                "append of one dead letter returned nothing",
            ))
        })?;
        Ok(Position {
            epoch: batch.epoch,
            offset: appended.offset,
        }
        .to_string())
    }

    /// Up to `limit` (1 to [`MAX_PAGE`]) dead letters after the cursor
    /// `after` (from the start if `None`), oldest first. A cursor from an
    /// earlier incarnation of the log (its data was lost) reads from the
    /// start of the current one.
    pub async fn list(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DeadLetterPage, DeadLetterError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let after = after
            .map(|cursor| {
                cursor
                    .parse::<Position>()
                    .map_err(|e| DeadLetterError::BadCursor(e.to_string()))
            })
            .transpose()?;
        let stream = stream(tenant);
        let start = after.as_ref().map(|p| p.offset).unwrap_or(Offset::ZERO);
        let mut batch = self.log.read(&stream, start, limit).await?;
        if let Some(after) = &after
            && after.epoch != batch.epoch
        {
            batch = self.log.read(&stream, Offset::ZERO, limit).await?;
        }
        let next = batch
            .events
            .last()
            .filter(|last| last.offset < batch.head)
            .map(|last| {
                Position {
                    epoch: batch.epoch.clone(),
                    offset: last.offset,
                }
                .to_string()
            });
        let mut dead_letters = Vec::with_capacity(batch.events.len());
        for stored in batch.events {
            let id = Position {
                epoch: batch.epoch.clone(),
                offset: stored.offset,
            }
            .to_string();
            match serde_json::from_str::<DeadLetter>(&stored.envelope) {
                Ok(letter) => dead_letters.push(DeadLetterEntry { id, letter }),
                Err(error) => {
                    tracing::warn!(tenant, %id, %error, "unreadable dead letter skipped");
                }
            }
        }
        Ok(DeadLetterPage { dead_letters, next })
    }
}

/// Cuts the letter's fields to their bounds.
fn bounded(mut letter: DeadLetter) -> DeadLetter {
    cut(&mut letter.plugin, MAX_NAME_BYTES);
    cut(&mut letter.code, MAX_NAME_BYTES);
    cut(&mut letter.time, MAX_NAME_BYTES);
    cut(&mut letter.reason, MAX_REASON_BYTES);
    let event_bytes = serde_json::to_string(&letter.event)
        .map(|json| json.len())
        .unwrap_or(usize::MAX);
    if event_bytes > MAX_EVENT_BYTES {
        letter.event = serde_json::Value::Null;
        letter.reason.push_str(&format!(
            " (the event, {event_bytes} bytes, was larger than {MAX_EVENT_BYTES} bytes and was not kept)"
        ));
    }
    letter
}

/// Shortens `s` to at most `max` bytes, at a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn encode(letter: DeadLetter) -> String {
    // A struct of strings, a number and a `Value` always serialises.
    serde_json::to_string(&letter).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::log::DEFAULT_RETENTION;
    use crate::log::embedded::{EmbeddedLog, open_database};

    fn embedded() -> (tempfile::TempDir, SharedLog) {
        let dir = tempfile::tempdir().unwrap();
        let db = open_database(&dir.path().join("d.redb")).unwrap();
        let log = EmbeddedLog::open(db, DEFAULT_RETENTION, Duration::from_secs(60)).unwrap();
        (dir, Arc::new(log))
    }

    fn letter(n: u32) -> DeadLetter {
        DeadLetter {
            event: json!({"type": "order.created", "data": {"n": n, "note": "é\u{0}\"<"}}),
            plugin: "display-amount".into(),
            version: n,
            code: "timeout".into(),
            reason: format!("call {n} ran past 50 ms"),
            time: "2026-01-02T03:04:05.678Z".into(),
        }
    }

    async fn all(letters: &DeadLetters, tenant: &str, page: usize) -> Vec<DeadLetterEntry> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let got = letters.list(tenant, after.as_deref(), page).await.unwrap();
            assert!(got.dead_letters.len() <= page);
            out.extend(got.dead_letters);
            match got.next {
                Some(next) => after = Some(next),
                None => return out,
            }
        }
    }

    #[test]
    fn the_stream_cannot_be_a_tenant() {
        assert_eq!(stream("acme"), "acme/dead-letters");
        assert!(!crate::tenants::valid_tenant_id(&stream("acme")));
    }

    #[tokio::test]
    async fn put_then_list_in_order_and_page_by_page() {
        let (_dir, log) = embedded();
        let letters = DeadLetters::new(log);
        let empty = letters.list("acme", None, 10).await.unwrap();
        assert_eq!(
            empty,
            DeadLetterPage {
                dead_letters: vec![],
                next: None
            }
        );
        let mut ids = Vec::new();
        for n in 1..=5 {
            ids.push(letters.put("acme", letter(n)).await.unwrap());
        }
        let whole = letters.list("acme", None, 10).await.unwrap();
        assert_eq!(whole.next, None);
        let got: Vec<_> = whole
            .dead_letters
            .iter()
            .map(|e| e.letter.clone())
            .collect();
        assert_eq!(got, (1..=5).map(letter).collect::<Vec<_>>());
        assert_eq!(
            whole.dead_letters.iter().map(|e| &e.id).collect::<Vec<_>>(),
            ids.iter().collect::<Vec<_>>()
        );

        let first = letters.list("acme", None, 2).await.unwrap();
        assert_eq!(first.dead_letters.len(), 2);
        assert_eq!(first.next.as_deref(), Some(ids[1].as_str()));
        let second = letters
            .list("acme", first.next.as_deref(), 2)
            .await
            .unwrap();
        assert_eq!(second.dead_letters[0].letter, letter(3));
        let third = letters
            .list("acme", second.next.as_deref(), 2)
            .await
            .unwrap();
        assert_eq!(third.dead_letters.len(), 1);
        assert_eq!(third.next, None);
        // Paging in any page size gives the same letters.
        for page in [1, 3, 5] {
            assert_eq!(all(&letters, "acme", page).await, whole.dead_letters);
        }
        // After the last id: nothing yet, and a later letter shows up.
        let end = letters.list("acme", Some(&ids[4]), 10).await.unwrap();
        assert!(end.dead_letters.is_empty() && end.next.is_none());
        letters.put("acme", letter(6)).await.unwrap();
        let later = letters.list("acme", Some(&ids[4]), 10).await.unwrap();
        assert_eq!(later.dead_letters.len(), 1);
        assert_eq!(later.dead_letters[0].letter, letter(6));
    }

    #[tokio::test]
    async fn page_sizes_are_bounded() {
        let (_dir, log) = embedded();
        let letters = DeadLetters::new(log);
        for n in 0..(MAX_PAGE as u32 + 3) {
            letters.put("acme", letter(n)).await.unwrap();
        }
        let big = letters.list("acme", None, 10_000).await.unwrap();
        assert_eq!(big.dead_letters.len(), MAX_PAGE);
        assert!(big.next.is_some());
        let zero = letters.list("acme", None, 0).await.unwrap();
        assert_eq!(zero.dead_letters.len(), 1);
        assert_eq!(all(&letters, "acme", MAX_PAGE).await.len(), MAX_PAGE + 3);
    }

    #[tokio::test]
    async fn tenants_are_isolated_and_events_are_untouched() {
        let (_dir, log) = embedded();
        let letters = DeadLetters::new(log.clone());
        letters.put("a", letter(1)).await.unwrap();
        letters.put("a", letter(2)).await.unwrap();
        letters.put("b", letter(3)).await.unwrap();
        let of = |page: DeadLetterPage| {
            page.dead_letters
                .into_iter()
                .map(|e| e.letter.version)
                .collect::<Vec<_>>()
        };
        assert_eq!(of(letters.list("a", None, 10).await.unwrap()), [1, 2]);
        assert_eq!(of(letters.list("b", None, 10).await.unwrap()), [3]);
        assert!(
            letters
                .list("c", None, 10)
                .await
                .unwrap()
                .dead_letters
                .is_empty()
        );
        // The tenants' own event streams hold nothing.
        for tenant in ["a", "b"] {
            let read = log.read(tenant, Offset::ZERO, 10).await.unwrap();
            assert!(read.events.is_empty(), "{tenant}");
        }
        // A cursor of one tenant's log is no use in another's: "b" has no
        // letter after "a"'s second.
        let a_ids = all(&letters, "a", 10).await;
        let from_a = letters.list("b", Some(&a_ids[1].id), 10).await.unwrap();
        assert_eq!(of(from_a), [3]);
    }

    #[tokio::test]
    async fn cursors_are_checked_and_a_lost_log_starts_over() {
        let (_dir, log) = embedded();
        let letters = DeadLetters::new(log);
        letters.put("acme", letter(1)).await.unwrap();
        for bad in ["", "12-0", "nope", "ABC_1-0", "abc_1-x"] {
            assert!(
                matches!(
                    letters.list("acme", Some(bad), 10).await,
                    Err(DeadLetterError::BadCursor(_))
                ),
                "{bad:?}"
            );
        }
        // A well-formed cursor of another incarnation of the log.
        let stale = letters
            .list("acme", Some("zzzzzzzzzz_99999999999999-0"), 10)
            .await
            .unwrap();
        assert_eq!(stale.dead_letters.len(), 1);
        assert_eq!(stale.dead_letters[0].letter, letter(1));
    }

    #[tokio::test]
    async fn oversized_fields_are_cut_not_refused() {
        let (_dir, log) = embedded();
        let letters = DeadLetters::new(log);
        let mut big = letter(1);
        big.reason = "é".repeat(MAX_REASON_BYTES);
        big.code = "x".repeat(1000);
        letters.put("acme", big).await.unwrap();
        let mut huge = letter(2);
        huge.event = json!({"data": "y".repeat(MAX_EVENT_BYTES)});
        letters.put("acme", huge).await.unwrap();
        let page = letters.list("acme", None, 10).await.unwrap();
        let first = &page.dead_letters[0].letter;
        assert_eq!(first.reason.len(), MAX_REASON_BYTES);
        assert!(first.reason.chars().all(|c| c == 'é'));
        assert_eq!(first.code.len(), MAX_NAME_BYTES);
        assert_eq!(first.event, letter(1).event);
        let second = &page.dead_letters[1].letter;
        assert_eq!(second.event, serde_json::Value::Null);
        assert!(
            second
                .reason
                .starts_with("call 2 ran past 50 ms (the event,")
        );
        assert_eq!(second.plugin, "display-amount");
    }

    #[test]
    fn entries_serialise_flat() {
        let entry = DeadLetterEntry {
            id: "abc_1-0".into(),
            letter: letter(1),
        };
        let value = serde_json::to_value(&entry).unwrap();
        assert_eq!(value["id"], "abc_1-0");
        assert_eq!(value["code"], "timeout");
        assert_eq!(value["version"], 1);
        let back: DeadLetterEntry = serde_json::from_value(value).unwrap();
        assert_eq!(back, entry);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_redis_log_keeps_dead_letters_too() {
        let redis = beacon_test_support::RedisServer::start().await;
        let log = crate::log::redis::RedisLog::connect(
            &redis.url(),
            "dead-letters-test",
            DEFAULT_RETENTION,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        let log: SharedLog = Arc::new(log);
        let letters = DeadLetters::new(log.clone());
        for n in 1..=3 {
            letters.put("acme", letter(n)).await.unwrap();
        }
        letters.put("other", letter(9)).await.unwrap();
        let got: Vec<_> = all(&letters, "acme", 2)
            .await
            .into_iter()
            .map(|e| e.letter)
            .collect();
        assert_eq!(got, (1..=3).map(letter).collect::<Vec<_>>());
        assert!(
            log.read("acme", Offset::ZERO, 10)
                .await
                .unwrap()
                .events
                .is_empty()
        );
        // Retention applies to the stream by its name.
        assert_eq!(
            log.trim(&stream("acme"), crate::log::now_ms())
                .await
                .unwrap(),
            0
        );
    }
}
