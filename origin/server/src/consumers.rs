//! In-process event consumers (the embedded stand-in for Kafka consumer
//! groups): projections other services keep from one service's events.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use meridian_catalog::store::ProductStore;
use meridian_common::events::EventBus;
use meridian_common::ProductId;
use tokio::sync::broadcast::error::RecvError;

/// How many recent event ids a consumer remembers to drop redeliveries.
const DEDUP_WINDOW: usize = 100_000;

/// Keeps the catalog's denormalised rating summary in step with reviews.
/// Subscribes before returning, so no event published afterwards is missed.
pub fn spawn_rating_projection(bus: &EventBus, products: Arc<dyn ProductStore>) {
    let mut events = bus.subscribe();
    tokio::spawn(async move {
        let mut seen = HashSet::new();
        let mut order = VecDeque::new();
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::error!(
                        missed = n,
                        "rating projection lagged; summaries may be stale"
                    );
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if event.event_type != "reviews.review.submitted" || !seen.insert(event.id) {
                continue;
            }
            order.push_back(event.id);
            if order.len() > DEDUP_WINDOW {
                if let Some(old) = order.pop_front() {
                    seen.remove(&old);
                }
            }
            let p = &event.payload;
            let product: Option<ProductId> = p["product_id"].as_str().and_then(|s| s.parse().ok());
            let stars = |v: &serde_json::Value| v.as_u64().and_then(|n| u8::try_from(n).ok());
            let (Some(product), new) = (product, stars(&p["rating"])) else {
                tracing::warn!(event_id = %event.id, "malformed review event skipped");
                continue;
            };
            if let Err(e) = products
                .apply_rating(product, stars(&p["old_rating"]), new)
                .await
            {
                tracing::error!(event_id = %event.id, error = %e, "could not apply a rating");
            }
        }
    });
}
