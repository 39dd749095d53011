//! Kafka as the events sink of the outbox relays.
//!
//! One topic per service, `meridian.<service>.events`, keyed by aggregate
//! id so one aggregate's events stay in one partition, in order. The
//! producer is idempotent with `acks=all`: a batch counts as delivered only
//! when the brokers acknowledged every event, and only then does the relay
//! mark the outbox rows published. While Kafka is unreachable, delivery
//! fails within `message.timeout.ms` and the events wait in their outbox.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use meridian_telemetry::propagation::TRACEPARENT;
use tracing::Span;

use crate::events::{EventBus, EventEnvelope, EventSink};
use crate::telemetry::{message_span, traceparent_of, MessageSpan};

/// The services whose outboxes are relayed, i.e. the topics to create.
pub const SERVICES: [&str; 7] = [
    "catalog",
    "sellers",
    "cart",
    "orders",
    "payments",
    "logistics",
    "reviews",
];

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// `<prefix>.<service>.events`; the prefix is `meridian` in production
/// (tests and staging use their own).
pub fn topic(prefix: &str, service: &str) -> String {
    format!("{prefix}.{service}.events")
}

/// Every service topic under `prefix`.
pub fn topics(prefix: &str) -> Vec<String> {
    SERVICES.iter().map(|s| topic(prefix, s)).collect()
}

pub struct KafkaSink {
    producer: FutureProducer,
    prefix: String,
    /// Also published here once Kafka acknowledged (the region's own
    /// projections).
    then: Option<EventBus>,
}

impl KafkaSink {
    /// A producer for `brokers`; creates the topics (laid out as `layout`)
    /// when missing.
    pub async fn connect(
        brokers: &str,
        layout: TopicLayout,
        prefix: &str,
        then: Option<EventBus>,
    ) -> Result<Self, String> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            );
        create_topics(&config, &topics(prefix), layout).await?;
        let producer: FutureProducer = config
            .create()
            .map_err(|e| format!("kafka producer: {e}"))?;
        Ok(Self {
            producer,
            prefix: prefix.to_owned(),
            then,
        })
    }
}

/// Partitions and replicas of the topics the origin creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLayout {
    pub partitions: i32,
    pub replication: i32,
}

/// Creates `names` (laid out as `layout`) where missing.
pub async fn create_topics(
    config: &ClientConfig,
    names: &[String],
    layout: TopicLayout,
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> =
        config.create().map_err(|e| format!("kafka admin: {e}"))?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                layout.partitions,
                TopicReplication::Fixed(layout.replication),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(DELIVERY_TIMEOUT));
    let results = admin
        .create_topics(&topics, &options)
        .await
        .map_err(|e| format!("kafka: creating topics: {e}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("kafka: creating {name}: {code}")),
        }
    }
    Ok(())
}

#[async_trait]
impl EventSink for KafkaSink {
    async fn deliver(&self, batch: &[EventEnvelope]) -> Result<(), String> {
        let encoded: Vec<(String, String)> = batch
            .iter()
            .map(|e| {
                (
                    topic(&self.prefix, e.service()),
                    serde_json::to_string(e).expect("events serialise"),
                )
            })
            .collect();
        // A traced event's publish span (kept open until the brokers
        // acknowledged) is the parent its consumers continue, through the
        // message's `traceparent` header.
        let spans: Vec<Option<Span>> = batch
            .iter()
            .zip(&encoded)
            .map(|(e, (topic, _))| message_span(MessageSpan::Publish, e.trace.as_deref(), topic))
            .collect();
        // Enqueued in order (the idempotent producer keeps that order per
        // partition), then awaited together.
        let sends = batch
            .iter()
            .zip(&encoded)
            .zip(&spans)
            .map(|((e, (topic, payload)), span)| {
                let mut headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "event-type",
                        value: Some(e.event_type.as_str()),
                    })
                    .insert(Header {
                        key: "event-id",
                        value: Some(e.id.to_string().as_str()),
                    });
                if let Some(parent) = span.as_ref().and_then(traceparent_of) {
                    headers = headers.insert(Header {
                        key: TRACEPARENT,
                        value: Some(parent.as_str()),
                    });
                }
                self.producer.send(
                    FutureRecord::to(topic)
                        .key(e.aggregate_id.as_str())
                        .payload(payload.as_str())
                        .headers(headers),
                    DELIVERY_TIMEOUT,
                )
            });
        for (result, span) in futures::future::join_all(sends)
            .await
            .into_iter()
            .zip(&spans)
        {
            if let (Err(_), Some(span)) = (&result, span) {
                span.record("otel.status_code", "ERROR");
            }
            result.map_err(|(e, _)| format!("kafka: {e}"))?;
        }
        drop(spans);
        if let Some(bus) = &self.then {
            bus.deliver(batch).await?;
        }
        Ok(())
    }
}
