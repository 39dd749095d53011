//! The Kafka → analytics loader: a consumer group over every service topic,
//! writing batches (bounded by size and time) and committing offsets only
//! after the store took the batch. A crash between write and commit
//! redelivers the batch; the store skips the ids it already has, so every
//! event counts once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use meridian_common::kafka::{create_topics, topics, TopicLayout};
use meridian_common::telemetry::{message_span, MessageSpan};
use meridian_telemetry::propagation::TRACEPARENT;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::domain::decode;
use crate::feed::{ingest_until_done, LoadStats};
use crate::store::{AnalyticsStore, Ingested};

#[derive(Debug, Clone)]
pub struct LoaderSettings {
    pub brokers: String,
    pub group: String,
    /// Topics are `<topic_prefix>.<service>.events`.
    pub topic_prefix: String,
    /// Layout of a topic the loader has to create.
    pub layout: TopicLayout,
    pub batch_max_events: usize,
    pub batch_max_wait: Duration,
}

pub struct KafkaLoader {
    consumer: StreamConsumer,
    store: Arc<dyn AnalyticsStore>,
    settings: LoaderSettings,
    stats: LoadStats,
}

/// A batch written to the store whose offsets are not committed yet.
pub struct Loaded {
    pub messages: usize,
    pub ingested: Ingested,
    offsets: TopicPartitionList,
}

impl KafkaLoader {
    pub async fn connect(
        settings: LoaderSettings,
        store: Arc<dyn AnalyticsStore>,
        stats: LoadStats,
    ) -> Result<Self, String> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &settings.brokers);
        let names = topics(&settings.topic_prefix);
        // Subscribing to a missing topic logs errors until a producer
        // creates it; creating them first keeps start order free.
        create_topics(&config, &names, settings.layout).await?;
        let consumer: StreamConsumer = config
            .set("group.id", &settings.group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .create()
            .map_err(|e| format!("kafka consumer: {e}"))?;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .map_err(|e| format!("kafka subscribe: {e}"))?;
        Ok(Self {
            consumer,
            store,
            settings,
            stats,
        })
    }

    /// Waits for the next message, gathers more until the batch is full or
    /// `batch_max_wait` passed, decodes them and writes them to the store
    /// (retrying until it succeeds). The offsets are not committed yet.
    pub async fn load_batch(&self) -> Result<Loaded, String> {
        let mut records = Vec::new();
        let mut spans = Vec::new();
        let mut next: HashMap<(String, i32), i64> = HashMap::new();
        let mut deadline = None;
        while records.len() < self.settings.batch_max_events {
            let received = match deadline {
                None => self.consumer.recv().await,
                Some(at) => match tokio::time::timeout_at(at, self.consumer.recv()).await {
                    Ok(received) => received,
                    Err(_) => break,
                },
            };
            let message = match received {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, "kafka receive failed");
                    if records.is_empty() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    break;
                }
            };
            deadline
                .get_or_insert_with(|| tokio::time::Instant::now() + self.settings.batch_max_wait);
            let source = format!(
                "{}/{}/{}",
                message.topic(),
                message.partition(),
                message.offset()
            );
            let parent = message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == TRACEPARENT))
                .and_then(|h| std::str::from_utf8(h.value?).ok());
            spans.extend(message_span(MessageSpan::Consume, parent, message.topic()));
            records.push(decode(
                &source,
                Some(message.topic()),
                message.key(),
                message.payload().unwrap_or_default(),
            ));
            next.insert(
                (message.topic().to_owned(), message.partition()),
                message.offset() + 1,
            );
        }
        let ingested = ingest_until_done(self.store.as_ref(), &records, &self.stats).await;
        // Each traced message's span lasts until its batch is written.
        drop(spans);
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            offsets
                .add_partition_offset(&topic, partition, Offset::Offset(offset))
                .map_err(|e| format!("kafka offsets: {e}"))?;
        }
        Ok(Loaded {
            messages: records.len(),
            ingested,
            offsets,
        })
    }

    /// Commits a written batch's offsets. A failed commit (say, during a
    /// rebalance) only means the batch is read again and skipped.
    pub fn commit(&self, loaded: &Loaded) -> Result<(), String> {
        self.consumer
            .commit(&loaded.offsets, CommitMode::Sync)
            .map_err(|e| format!("kafka commit: {e}"))
    }

    /// Loads until the process ends.
    pub async fn run(self) {
        loop {
            match self.load_batch().await {
                Ok(loaded) => {
                    if let Err(e) = self.commit(&loaded) {
                        tracing::warn!(error = %e, "offsets not committed; the batch will be redelivered and skipped");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "analytics loader batch failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}
