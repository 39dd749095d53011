//! Versioned event envelopes and the outbox.
//!
//! A service writes its state change and the events describing it in one
//! step (the store appends them to its outbox under the same lock or
//! transaction as the change), and a relay later delivers them: in process
//! for the embedded default, to Kafka in production. Consumers deduplicate by
//! event id, so delivery is at-least-once end to end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

/// The envelope every event travels in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub id: Uuid,
    /// `<service>.<aggregate>.<what happened>`, e.g. `orders.order.placed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Schema version of `payload` for this type.
    pub version: u16,
    pub occurred_at: DateTime<Utc>,
    pub region: String,
    /// The aggregate the event belongs to (ordering key).
    pub aggregate_id: String,
    pub payload: serde_json::Value,
    /// W3C `traceparent` of the span that caused the event (tracing on and
    /// sampled): the relay and the consumers continue that trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl EventEnvelope {
    pub fn new(
        region: &str,
        event_type: &str,
        version: u16,
        aggregate_id: impl ToString,
        payload: impl Serialize,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            version,
            occurred_at: Utc::now(),
            region: region.to_owned(),
            aggregate_id: aggregate_id.to_string(),
            payload: serde_json::to_value(payload).unwrap_or(serde_json::Value::Null),
            trace: crate::telemetry::current_traceparent(),
        }
    }

    /// The service that emitted it (prefix of the type).
    pub fn service(&self) -> &str {
        self.event_type.split('.').next().unwrap_or("")
    }
}

/// The reading side of an outbox, used by relays.
#[async_trait]
pub trait OutboxReader: Send + Sync {
    /// Oldest unpublished events, up to `limit`, in commit order.
    async fn pending(&self, limit: usize) -> Result<Vec<EventEnvelope>, String>;
    /// Marks events published (after the sink acknowledged them).
    async fn mark_published(&self, ids: &[Uuid]) -> Result<(), String>;
    async fn backlog(&self) -> Result<u64, String>;
}

/// Embedded outbox: a queue in memory. Stores push into it while holding
/// their own lock, so the change and its events become visible together.
#[derive(Default)]
pub struct MemoryOutbox {
    queue: Mutex<VecDeque<EventEnvelope>>,
    notify: Notify,
}

impl MemoryOutbox {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn push(&self, events: impl IntoIterator<Item = EventEnvelope>) {
        let mut queue = self.queue.lock().expect("outbox lock");
        queue.extend(events);
        drop(queue);
        self.notify.notify_one();
    }

    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

#[async_trait]
impl OutboxReader for MemoryOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<EventEnvelope>, String> {
        let queue = self.queue.lock().map_err(|e| e.to_string())?;
        Ok(queue.iter().take(limit).cloned().collect())
    }

    async fn mark_published(&self, ids: &[Uuid]) -> Result<(), String> {
        let mut queue = self.queue.lock().map_err(|e| e.to_string())?;
        // Relays publish in order, so published events are at the front.
        while queue.front().is_some_and(|e| ids.contains(&e.id)) {
            queue.pop_front();
        }
        queue.retain(|e| !ids.contains(&e.id));
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, String> {
        Ok(self.queue.lock().map_err(|e| e.to_string())?.len() as u64)
    }
}

/// Most recent events the embedded bus keeps for inspection.
const LOG_CAPACITY: usize = 10_000;

/// In-process event bus: the embedded sink of every outbox relay.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<EventEnvelope>,
    log: Arc<Mutex<Vec<EventEnvelope>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self {
            sender,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventEnvelope> {
        self.sender.subscribe()
    }

    pub fn publish(&self, event: EventEnvelope) {
        if let Ok(mut log) = self.log.lock() {
            // Bounded: the bus is a delivery path, not an archive.
            if log.len() >= LOG_CAPACITY {
                log.drain(..LOG_CAPACITY / 2);
            }
            log.push(event.clone());
        }
        // No subscriber is fine: the event is in the log.
        let _ = self.sender.send(event);
    }

    /// The most recent published events (up to `LOG_CAPACITY`).
    pub fn published(&self) -> Vec<EventEnvelope> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// One outbox relay's numbers: events waiting (the backlog a Kafka outage
/// builds up), delivered, and failed delivery attempts.
#[derive(Clone)]
pub struct RelayStats {
    backlog: IntGauge,
    published: IntCounter,
    failures: IntCounter,
}

impl Default for RelayStats {
    /// Unregistered (tests).
    fn default() -> Self {
        Self {
            backlog: IntGauge::new("backlog", "backlog").expect("static metric"),
            published: IntCounter::new("published", "published").expect("static metric"),
            failures: IntCounter::new("failures", "failures").expect("static metric"),
        }
    }
}

/// The relay metrics of one origin, labelled by service (a fixed set).
#[derive(Clone)]
pub struct RelayMetrics {
    backlog: IntGaugeVec,
    published: IntCounterVec,
    failures: IntCounterVec,
}

impl RelayMetrics {
    pub fn new(registry: &Registry) -> Self {
        let backlog = IntGaugeVec::new(
            Opts::new(
                "meridian_events_outbox_backlog_events",
                "Events written to an outbox and not yet delivered",
            ),
            &["service"],
        )
        .expect("static metric");
        let published = IntCounterVec::new(
            Opts::new(
                "meridian_events_published_total",
                "Events delivered by the outbox relays",
            ),
            &["service"],
        )
        .expect("static metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "meridian_events_delivery_failures_total",
                "Failed delivery attempts of an outbox batch (the events stay queued)",
            ),
            &["service"],
        )
        .expect("static metric");
        for metric in [
            Box::new(backlog.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(published.clone()),
            Box::new(failures.clone()),
        ] {
            registry.register(metric).expect("registered once");
        }
        Self {
            backlog,
            published,
            failures,
        }
    }

    pub fn service(&self, service: &str) -> RelayStats {
        RelayStats {
            backlog: self.backlog.with_label_values(&[service]),
            published: self.published.with_label_values(&[service]),
            failures: self.failures.with_label_values(&[service]),
        }
    }
}

/// Drains `outbox` into `bus` until the process ends.
pub async fn relay_in_process(outbox: Arc<MemoryOutbox>, bus: EventBus, stats: RelayStats) {
    loop {
        let batch = outbox.pending(256).await.unwrap_or_default();
        if batch.is_empty() {
            stats.backlog.set(0);
            outbox.wait().await;
            continue;
        }
        let ids: Vec<Uuid> = batch.iter().map(|e| e.id).collect();
        stats.published.inc_by(ids.len() as u64);
        for event in batch {
            bus.publish(event);
        }
        let _ = outbox.mark_published(&ids).await;
        if let Ok(backlog) = outbox.backlog().await {
            stats.backlog.set(backlog as i64);
        }
    }
}

/// Where a relay delivers events: the in-process bus, or Kafka (then the
/// bus, for the region's own projections).
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Delivers a batch in order; `Ok` only once every event is accepted
    /// (for Kafka: acknowledged by the brokers).
    async fn deliver(&self, batch: &[EventEnvelope]) -> Result<(), String>;
}

#[async_trait]
impl EventSink for EventBus {
    async fn deliver(&self, batch: &[EventEnvelope]) -> Result<(), String> {
        for event in batch {
            self.publish(event.clone());
        }
        Ok(())
    }
}

/// Drains an outbox that cannot signal new rows (a database table) into
/// `sink`, polling every `interval` while it is empty. Events are marked
/// published only after the sink accepted them; while the sink fails they
/// stay in the outbox and are retried in order.
pub async fn relay_polling(
    outbox: Arc<dyn OutboxReader>,
    sink: Arc<dyn EventSink>,
    interval: std::time::Duration,
    stats: RelayStats,
) {
    // The backlog is a count query on a table outbox: once a second is
    // plenty for a gauge. It is counted beside the delivery loop, not in
    // it, so the gauge keeps moving while a delivery hangs on a broker
    // that is down — which is when operators look at it.
    let count = async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Ok(backlog) = outbox.backlog().await {
                stats.backlog.set(backlog as i64);
            }
        }
    };
    let deliver = async {
        let mut failures: u32 = 0;
        loop {
            match outbox.pending(256).await {
                Ok(batch) if !batch.is_empty() => {
                    if let Err(e) = sink.deliver(&batch).await {
                        stats.failures.inc();
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(50) {
                            tracing::warn!(error = %e, backlog = batch.len(), "events not delivered; they wait in the outbox");
                        }
                        tokio::time::sleep(interval * failures.min(20)).await;
                        continue;
                    }
                    failures = 0;
                    stats.published.inc_by(batch.len() as u64);
                    let ids: Vec<Uuid> = batch.iter().map(|e| e.id).collect();
                    if let Err(e) = outbox.mark_published(&ids).await {
                        tracing::warn!(error = %e, "outbox rows not marked published; they will be redelivered");
                    }
                }
                Ok(_) => tokio::time::sleep(interval).await,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox unreadable; retrying");
                    tokio::time::sleep(interval).await;
                }
            }
        }
    };
    tokio::join!(count, deliver);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that refuses while `down` is set.
    struct Flaky {
        down: std::sync::atomic::AtomicBool,
        got: Mutex<Vec<EventEnvelope>>,
    }

    #[async_trait]
    impl EventSink for Flaky {
        async fn deliver(&self, batch: &[EventEnvelope]) -> Result<(), String> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("sink down".into());
            }
            self.got.lock().unwrap().extend_from_slice(batch);
            Ok(())
        }
    }

    #[tokio::test]
    async fn events_wait_in_the_outbox_while_the_sink_is_down_then_drain_in_order() {
        let outbox = MemoryOutbox::new();
        let sink = Arc::new(Flaky {
            down: true.into(),
            got: Mutex::default(),
        });
        tokio::spawn(relay_polling(
            outbox.clone(),
            sink.clone(),
            std::time::Duration::from_millis(5),
            RelayStats::default(),
        ));
        let events: Vec<_> = (0..5)
            .map(|i| EventEnvelope::new("chicago", "orders.order.placed", 1, i, i))
            .collect();
        outbox.push(events.clone());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            outbox.backlog().await.unwrap(),
            5,
            "nothing lost while down"
        );
        assert!(sink.got.lock().unwrap().is_empty());
        sink.down.store(false, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..200 {
            if outbox.backlog().await.unwrap() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(outbox.backlog().await.unwrap(), 0);
        assert_eq!(*sink.got.lock().unwrap(), events, "once each, in order");
    }

    #[tokio::test]
    async fn relay_delivers_in_order_and_empties_outbox() {
        let outbox = MemoryOutbox::new();
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        tokio::spawn(relay_in_process(
            outbox.clone(),
            bus.clone(),
            RelayStats::default(),
        ));
        let events: Vec<_> = (0..3)
            .map(|i| {
                EventEnvelope::new(
                    "chicago",
                    "orders.order.placed",
                    1,
                    i,
                    serde_json::json!({ "n": i }),
                )
            })
            .collect();
        outbox.push(events.clone());
        for expected in &events {
            let got = rx.recv().await.unwrap();
            assert_eq!(&got, expected);
        }
        assert_eq!(events[0].service(), "orders");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert_eq!(outbox.backlog().await.unwrap(), 0);
        assert_eq!(bus.published().len(), 3);
    }
}
