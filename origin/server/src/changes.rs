//! The cache change feed: `GET /internal/cache/changes?after=<seq>&wait_ms=<n>`.
//!
//! The edge follows every region's feed and purges the tags it returns.
//! The region's own event bus (fed by its relays in both the embedded and
//! the Kafka setup) is mapped to surrogate-key tags and kept in a bounded
//! ring of numbered batches; a poll returns everything after `after`,
//! waiting up to `wait_ms` for something new (long poll). A client that
//! fell behind the ring, or who holds another process's `epoch` (the
//! origin restarted), is told to `reset`: purge everything it holds.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use meridian_common::cache_tags::TagMapper;
use meridian_common::events::EventBus;
use meridian_common::wire::internal::Changes;
use meridian_common::ApiError;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// Batches kept for pollers that are a little behind.
const RING: usize = 4096;
const MAX_WAIT_MS: u64 = 30_000;
/// Tags returned per poll at most (the rest on the next poll).
const MAX_TAGS: usize = 2048;

struct Ring {
    /// Sequence number of `batches[0]`; numbers start at 1.
    first: u64,
    batches: VecDeque<Vec<String>>,
}

#[derive(Clone)]
pub struct ChangeFeed {
    ring: Arc<Mutex<Ring>>,
    /// The last sequence number issued.
    latest: watch::Receiver<u64>,
    /// Random per process: a follower holding another epoch's sequence
    /// numbers (this origin restarted) must reset.
    epoch: u64,
}

impl ChangeFeed {
    /// Subscribes to `bus` at once, so no later event is missed.
    pub fn spawn(bus: &EventBus) -> Self {
        let mut events = bus.subscribe();
        let ring = Arc::new(Mutex::new(Ring {
            first: 1,
            batches: VecDeque::new(),
        }));
        let (tx, latest) = watch::channel(0u64);
        let writer = ring.clone();
        tokio::spawn(async move {
            let mut mapper = TagMapper::default();
            loop {
                let tags = match events.recv().await {
                    Ok(event) => mapper.tags(&event),
                    // Missed events: tell pollers to drop everything.
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "cache change feed lagged; edges will reset");
                        vec!["*".to_owned()]
                    }
                    Err(RecvError::Closed) => return,
                };
                if tags.is_empty() {
                    continue;
                }
                let seq = {
                    let mut ring = writer.lock().expect("ring lock is never poisoned");
                    ring.batches.push_back(tags);
                    if ring.batches.len() > RING {
                        ring.batches.pop_front();
                        ring.first += 1;
                    }
                    ring.first + ring.batches.len() as u64 - 1
                };
                let _ = tx.send(seq);
            }
        });
        Self {
            ring,
            latest,
            epoch: rand::random::<u64>() >> 11,
        }
    }

    /// Tags after `after`: `(next, tags, reset)`.
    fn read(&self, after: u64) -> (u64, Vec<String>, bool) {
        let ring = self.ring.lock().expect("ring lock is never poisoned");
        let last = ring.first + ring.batches.len() as u64 - 1;
        if after > last || after + 1 < ring.first {
            return (last, Vec::new(), true);
        }
        let mut tags = Vec::new();
        let mut next = after;
        for batch in ring.batches.iter().skip((after + 1 - ring.first) as usize) {
            if batch.iter().any(|t| t == "*") {
                return (last, Vec::new(), true);
            }
            if tags.len() + batch.len() > MAX_TAGS && !tags.is_empty() {
                break;
            }
            tags.extend(batch.iter().cloned());
            next += 1;
        }
        tags.sort_unstable();
        tags.dedup();
        (next, tags, false)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    after: Option<u64>,
    epoch: Option<u64>,
    wait_ms: Option<u64>,
}

async fn changes(
    State(feed): State<ChangeFeed>,
    Query(poll): Query<Poll>,
) -> Result<axum::Json<Changes>, ApiError> {
    let wait = Duration::from_millis(poll.wait_ms.unwrap_or(0).min(MAX_WAIT_MS));
    let epoch = feed.epoch;
    let Some(after) = poll.after else {
        // A new follower starts from now.
        let latest = *feed.latest.borrow();
        return Ok(axum::Json(Changes {
            next: latest,
            epoch,
            tags: Vec::new(),
            reset: false,
        }));
    };
    if poll.epoch != Some(epoch) {
        let latest = *feed.latest.borrow();
        return Ok(axum::Json(Changes {
            next: latest,
            epoch,
            tags: Vec::new(),
            reset: true,
        }));
    }
    let mut latest = feed.latest.clone();
    if *latest.borrow_and_update() == after && !wait.is_zero() {
        let _ = tokio::time::timeout(wait, latest.changed()).await;
    }
    let (next, tags, reset) = feed.read(after);
    Ok(axum::Json(Changes {
        next,
        epoch,
        tags,
        reset,
    }))
}

pub fn router(feed: ChangeFeed) -> Router {
    Router::new()
        .route("/changes", get(changes))
        .with_state(feed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_common::events::EventEnvelope;
    use serde_json::json;

    async fn settle(feed: &ChangeFeed, seq: u64) {
        let mut latest = feed.latest.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), latest.wait_for(|s| *s >= seq)).await;
    }

    #[tokio::test]
    async fn polls_return_tags_after_a_sequence_and_reset_when_unknown() {
        let bus = EventBus::new();
        let feed = ChangeFeed::spawn(&bus);
        bus.publish(EventEnvelope::new(
            "c",
            "sellers.shop.updated",
            1,
            "s1",
            json!({}),
        ));
        bus.publish(EventEnvelope::new(
            "c",
            "orders.order.placed",
            1,
            "o1",
            json!({}),
        ));
        bus.publish(EventEnvelope::new(
            "c",
            "sellers.shop.updated",
            1,
            "s2",
            json!({}),
        ));
        settle(&feed, 2).await;
        assert_eq!(
            feed.read(0),
            (2, vec!["shop:s1".into(), "shop:s2".into()], false)
        );
        assert_eq!(feed.read(1), (2, vec!["shop:s2".into()], false));
        assert_eq!(feed.read(2), (2, vec![], false));
        // A sequence this process never issued (it restarted): reset.
        assert_eq!(feed.read(7), (2, vec![], true));
    }
}
