//! The Kafka sink against a real broker: a relay drains an outbox into the
//! service topic, keyed by aggregate, in order, and marks it published.
#![cfg(feature = "kafka")]

use std::sync::Arc;
use std::time::Duration;

use meridian_common::events::{relay_polling, EventEnvelope, MemoryOutbox, OutboxReader};
use meridian_common::kafka::{topic, KafkaSink};
use meridian_common::testing::backend_endpoint;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_delivers_outbox_to_kafka_in_order_per_aggregate() {
    let Some(brokers) = backend_endpoint("MERIDIAN_TEST_KAFKA") else {
        return;
    };
    let sink = KafkaSink::connect(
        &brokers,
        meridian_common::kafka::TopicLayout {
            partitions: 3,
            replication: 1,
        },
        "meridian",
        None,
    )
    .await
    .unwrap();
    let outbox = MemoryOutbox::new();
    let aggregates = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    let events: Vec<EventEnvelope> = (0..20)
        .map(|i| {
            EventEnvelope::new(
                "test",
                "orders.order.placed",
                1,
                aggregates[i % 2],
                serde_json::json!({ "n": i }),
            )
        })
        .collect();
    outbox.push(events.clone());
    let relay = tokio::spawn(relay_polling(
        outbox.clone(),
        Arc::new(sink),
        Duration::from_millis(20),
        meridian_common::events::RelayStats::default(),
    ));

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("test-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic("meridian", "orders")]).unwrap();
    let mut seen: Vec<EventEnvelope> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < events.len() {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .expect("all events within 30 s")
            .unwrap();
        let event: EventEnvelope = serde_json::from_slice(message.payload().unwrap()).unwrap();
        if aggregates
            .iter()
            .any(|a| a.to_string() == event.aggregate_id)
        {
            assert_eq!(
                message.key().unwrap(),
                event.aggregate_id.as_bytes(),
                "keyed by aggregate"
            );
            seen.push(event);
        }
    }
    for aggregate in aggregates {
        let sent: Vec<_> = events
            .iter()
            .filter(|e| e.aggregate_id == aggregate.to_string())
            .collect();
        let got: Vec<_> = seen
            .iter()
            .filter(|e| e.aggregate_id == aggregate.to_string())
            .collect();
        assert_eq!(got, sent, "one aggregate's events arrive in order, once");
    }
    // Marked published only after the acks: the outbox is empty.
    for _ in 0..50 {
        if outbox.backlog().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outbox.backlog().await.unwrap(), 0);
    relay.abort();
}
