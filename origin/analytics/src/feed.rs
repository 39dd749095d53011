//! Getting events into the store: batching, retrying until the store takes
//! a batch, and the loader metrics. The in-process feed (embedded default)
//! reads the region's event bus; the Kafka loader (`loader`) reads topics.

use std::sync::Arc;
use std::time::Duration;

use meridian_common::events::EventBus;
use prometheus::{IntCounter, Opts, Registry};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::domain::{self, Record};
use crate::store::{AnalyticsStore, Ingested};

/// What the loaders did, for Prometheus.
#[derive(Clone)]
pub struct LoadStats {
    loaded: IntCounter,
    duplicates: IntCounter,
    dead: IntCounter,
    failures: IntCounter,
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::with_opts(Opts::new(name, help)).expect("static metric")
}

impl Default for LoadStats {
    /// Unregistered (tests).
    fn default() -> Self {
        Self {
            loaded: counter("meridian_analytics_events_loaded_total", "Events loaded"),
            duplicates: counter(
                "meridian_analytics_duplicates_skipped_total",
                "Redelivered events skipped because they were already loaded",
            ),
            dead: counter(
                "meridian_analytics_dead_letters_total",
                "Messages parked as dead letters (malformed or unknown version)",
            ),
            failures: counter(
                "meridian_analytics_load_failures_total",
                "Failed attempts to write a batch (retried; offsets not committed)",
            ),
        }
    }
}

impl LoadStats {
    pub fn registered(registry: &Registry) -> Self {
        let stats = Self::default();
        for c in [
            &stats.loaded,
            &stats.duplicates,
            &stats.dead,
            &stats.failures,
        ] {
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
        }
        stats
    }
}

/// Writes `records` into `store`, retrying with backoff until it succeeds:
/// a batch is never skipped, so nothing is lost while the store is down.
pub async fn ingest_until_done(
    store: &dyn AnalyticsStore,
    records: &[Record],
    stats: &LoadStats,
) -> Ingested {
    let mut attempt: u32 = 0;
    loop {
        match store.ingest(records).await {
            Ok(done) => {
                stats.loaded.inc_by(done.loaded as u64);
                stats.duplicates.inc_by(done.duplicates as u64);
                stats.dead.inc_by(done.dead as u64);
                if done.dead > 0 {
                    tracing::warn!(dead = done.dead, "events parked as dead letters");
                }
                return done;
            }
            Err(e) => {
                stats.failures.inc();
                attempt += 1;
                if attempt == 1 || attempt.is_multiple_of(20) {
                    tracing::warn!(error = %e, events = records.len(), attempt, "analytics batch not written; retrying");
                }
                let backoff = Duration::from_millis(100 * u64::from(attempt.min(50)));
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// The in-process feed's batch bounds.
const BUS_BATCH: usize = 500;
const BUS_WAIT: Duration = Duration::from_millis(50);

/// Feeds this region's events from the in-process bus into `store`.
pub fn spawn_bus_feed(
    bus: &EventBus,
    store: Arc<dyn AnalyticsStore>,
    stats: LoadStats,
) -> JoinHandle<()> {
    let mut rx = bus.subscribe();
    tokio::spawn(async move {
        loop {
            let first = match rx.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "analytics feed fell behind the event bus; those events are not counted"
                    );
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + BUS_WAIT;
            while batch.len() < BUS_BATCH {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Ok(event)) => batch.push(event),
                    _ => break,
                }
            }
            // The same checks as Kafka messages, so both paths accept and
            // park exactly the same events.
            let records: Vec<Record> = batch
                .into_iter()
                .map(|event| domain::from_envelope(&format!("bus/{}", event.id), event))
                .collect();
            ingest_until_done(store.as_ref(), &records, &stats).await;
        }
    })
}
