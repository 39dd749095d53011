//! The region's event path: relays from every outbox (to the in-process
//! bus, or Kafka then the bus), and the analytics feed (the bus, or the
//! Kafka → ClickHouse loader).

use std::sync::Arc;
use std::time::Duration;

use meridian_common::events::{relay_in_process, relay_polling, EventBus, RelayMetrics};
use meridian_common::metrics::Metrics;

use crate::config::RegionConfig;
use crate::stores::Stores;

/// Starts one relay per outbox. Embedded: memory outboxes wake their relay
/// and everything goes to the in-process bus. Kafka: every outbox is drained
/// into Kafka (acknowledged before marking published), then the bus.
pub async fn spawn_relays(
    config: &RegionConfig,
    stores: &Stores,
    bus: &EventBus,
    metrics: &RelayMetrics,
) -> anyhow::Result<()> {
    let interval = Duration::from_millis(100);
    let sink: Arc<dyn meridian_common::events::EventSink> = match &config.events {
        crate::config::EventsConfig::Memory => {
            for (service, outbox) in &stores.outboxes {
                tokio::spawn(relay_in_process(
                    outbox.clone(),
                    bus.clone(),
                    metrics.service(service),
                ));
            }
            Arc::new(bus.clone())
        }
        #[cfg(feature = "kafka")]
        crate::config::EventsConfig::Kafka {
            brokers,
            partitions,
            replication_factor,
            topic_prefix,
        } => {
            let sink = meridian_common::kafka::KafkaSink::connect(
                brokers,
                meridian_common::kafka::TopicLayout {
                    partitions: *partitions,
                    replication: *replication_factor,
                },
                topic_prefix,
                Some(bus.clone()),
            )
            .await
            .map_err(|e| anyhow::anyhow!("events: connecting to Kafka: {e}"))?;
            let sink: Arc<dyn meridian_common::events::EventSink> = Arc::new(sink);
            for (service, outbox) in &stores.outboxes {
                tokio::spawn(relay_polling(
                    outbox.clone(),
                    sink.clone(),
                    interval,
                    metrics.service(service),
                ));
            }
            sink
        }
        #[cfg(not(feature = "kafka"))]
        crate::config::EventsConfig::Kafka { .. } => anyhow::bail!(
            "events: this origin was built without the `kafka` cargo feature; \
             rebuild with `--features kafka` or choose backend = \"memory\""
        ),
    };
    for (service, outbox) in &stores.polled_outboxes {
        tokio::spawn(relay_polling(
            outbox.clone(),
            sink.clone(),
            interval,
            metrics.service(service),
        ));
    }
    Ok(())
}

/// Feeds the analytics store. ClickHouse with Kafka events: this origin
/// joins the loader group (unless `analytics.loader = false`, when another
/// process loads). Otherwise the region's own events come off the
/// in-process bus.
pub async fn spawn_analytics_feed(
    config: &RegionConfig,
    stores: &Stores,
    bus: &EventBus,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    use crate::config::{EventsConfig, StoreConfig};
    let stats = meridian_analytics::feed::LoadStats::registered(metrics.registry());
    match (&config.stores.analytics, &config.events) {
        #[cfg(feature = "kafka")]
        (
            StoreConfig::Clickhouse { .. },
            EventsConfig::Kafka {
                brokers,
                partitions,
                replication_factor,
                topic_prefix,
            },
        ) => {
            if config.analytics.loader {
                let settings = meridian_analytics::loader::LoaderSettings {
                    brokers: brokers.clone(),
                    group: config.analytics.loader_group.clone(),
                    topic_prefix: topic_prefix.clone(),
                    layout: meridian_common::kafka::TopicLayout {
                        partitions: *partitions,
                        replication: *replication_factor,
                    },
                    batch_max_events: config.analytics.batch_max_events,
                    batch_max_wait: Duration::from_millis(config.analytics.batch_max_wait_ms),
                };
                let loader = meridian_analytics::loader::KafkaLoader::connect(
                    settings,
                    stores.analytics.clone(),
                    stats,
                )
                .await
                .map_err(|e| anyhow::anyhow!("analytics loader: {e}"))?;
                tokio::spawn(loader.run());
            }
        }
        _ => {
            meridian_analytics::feed::spawn_bus_feed(bus, stores.analytics.clone(), stats);
        }
    }
    Ok(())
}
