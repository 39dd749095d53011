//! The Kafka → ClickHouse loader against the real broker and server: a
//! loader killed after writing a batch but before committing its offsets
//! (or aborted anywhere mid-batch) is replaced by another in the same
//! group, which reads the batch again — and every event still counts once.
//! Malformed and unknown-version messages are parked, never dropped, never
//! fatal.
#![cfg(all(feature = "kafka", feature = "clickhouse"))]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use meridian_analytics::domain::DayRange;
use meridian_analytics::feed::LoadStats;
use meridian_analytics::loader::{KafkaLoader, LoaderSettings};
use meridian_analytics::store::clickhouse::ClickhouseAnalyticsStore;
use meridian_analytics::store::AnalyticsStore;
use meridian_common::events::{EventEnvelope, EventSink};
use meridian_common::kafka::{topic, KafkaSink, TopicLayout};

use meridian_common::testing::{backend_endpoint, unique_namespace};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::json;

/// Topics of the test's own prefix: three partitions, one broker.
const LAYOUT: TopicLayout = TopicLayout {
    partitions: 3,
    replication: 1,
};

fn paid(seller: &str, cents: i64) -> EventEnvelope {
    let usd = |amount: i64| json!({ "amount": amount, "currency": "USD" });
    let order = uuid::Uuid::now_v7();
    EventEnvelope::new(
        "chicago",
        "orders.order.paid",
        1,
        order,
        json!({ "order_id": order, "buyer_id": "b", "status": "paid", "total": usd(cents), "failure": null,
                "sub_orders": [{ "sub_order_id": "s", "seller_id": seller, "total": usd(cents),
                                 "lines": [{ "product_id": "p", "quantity": 1, "unit_price": usd(cents) }] }] }),
    )
}

fn settings(brokers: &str, prefix: &str, group: &str) -> LoaderSettings {
    LoaderSettings {
        brokers: brokers.to_owned(),
        group: group.to_owned(),
        topic_prefix: prefix.to_owned(),
        layout: LAYOUT,
        batch_max_events: 16,
        batch_max_wait: Duration::from_millis(200),
    }
}

/// Loads (without committing) until `want` messages were read, or until
/// nothing arrives for `idle`. Returns messages read and events loaded.
async fn read(loader: &KafkaLoader, want: usize, idle: Duration, commit: bool) -> (usize, usize) {
    let (mut messages, mut loaded) = (0, 0);
    while messages < want {
        let Ok(batch) = tokio::time::timeout(idle, loader.load_batch()).await else {
            break;
        };
        let batch = batch.unwrap();
        messages += batch.messages;
        loaded += batch.ingested.loaded;
        if commit {
            loader.commit(&batch).unwrap();
        }
    }
    (messages, loaded)
}

async fn sales_of(store: &dyn AnalyticsStore, seller: &str) -> (u64, i64) {
    let today = Utc::now().date_naive();
    let cells = store
        .sales(
            Some(seller),
            DayRange {
                from: today - chrono::Duration::days(1),
                to: today + chrono::Duration::days(1),
            },
        )
        .await
        .unwrap();
    cells
        .iter()
        .fold((0, 0), |(o, g), c| (o + c.orders, g + c.gross_cents))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loader_killed_before_committing_is_replaced_and_nothing_counts_twice() {
    let (Some(brokers), Some(url)) = (
        backend_endpoint("MERIDIAN_TEST_KAFKA"),
        backend_endpoint("MERIDIAN_TEST_CLICKHOUSE"),
    ) else {
        return;
    };
    let ns = unique_namespace("loader");
    let store: Arc<dyn AnalyticsStore> = Arc::new(
        ClickhouseAnalyticsStore::connect(&url, &ns, None, None, None)
            .await
            .unwrap(),
    );
    let sink = KafkaSink::connect(&brokers, LAYOUT, &ns, None)
        .await
        .unwrap();
    const N: usize = 40;
    let seller = format!("{ns}-seller");
    let events: Vec<EventEnvelope> = (0..N).map(|i| paid(&seller, 100 + i as i64)).collect();
    let gross: i64 = (0..N).map(|i| 100 + i as i64).sum();
    sink.deliver(&events).await.unwrap();
    // Two messages no loader can use.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let mut newer = paid(&seller, 1_000_000);
    newer.version = 2;
    let newer = serde_json::to_string(&newer).unwrap();
    for payload in ["{\"truncated\": ", newer.as_str()] {
        producer
            .send(
                FutureRecord::to(&topic(&ns, "orders"))
                    .key("bad")
                    .payload(payload),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    let group = format!("{ns}-group");
    let idle = Duration::from_secs(5);

    // The first loader writes everything, then dies before committing.
    let first = KafkaLoader::connect(
        settings(&brokers, &ns, &group),
        store.clone(),
        LoadStats::default(),
    )
    .await
    .unwrap();
    let (messages, loaded) = read(&first, N + 2, idle, false).await;
    assert_eq!((messages, loaded), (N + 2, N));
    drop(first);
    assert_eq!(sales_of(store.as_ref(), &seller).await, (N as u64, gross));

    // Its replacement gets the uncommitted batch again: all skipped.
    let second = KafkaLoader::connect(
        settings(&brokers, &ns, &group),
        store.clone(),
        LoadStats::default(),
    )
    .await
    .unwrap();
    let (messages, loaded) = read(&second, N + 2, Duration::from_secs(15), true).await;
    assert_eq!(messages, N + 2, "the whole batch is redelivered");
    assert_eq!(loaded, 0, "and nothing is loaded twice");
    assert_eq!(sales_of(store.as_ref(), &seller).await, (N as u64, gross));
    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(
        letters.len(),
        2,
        "each bad message parked once: {letters:?}"
    );
    assert!(letters
        .iter()
        .any(|l| l.reason.contains("malformed envelope")));
    assert!(letters
        .iter()
        .any(|l| l.reason.contains("unknown version 2")));
    drop(second);

    // Loaders aborted at arbitrary points while more events flow.
    let more: Vec<EventEnvelope> = (0..N).map(|_| paid(&seller, 1)).collect();
    let deliver = tokio::spawn(async move { sink.deliver(&more).await.unwrap() });
    for pause in [5, 40, 120] {
        let loader = KafkaLoader::connect(
            settings(&brokers, &ns, &group),
            store.clone(),
            LoadStats::default(),
        )
        .await
        .unwrap();
        let task = tokio::spawn(loader.run());
        tokio::time::sleep(Duration::from_millis(pause)).await;
        task.abort();
        let _ = task.await;
    }
    deliver.await.unwrap();
    let last = KafkaLoader::connect(
        settings(&brokers, &ns, &group),
        store.clone(),
        LoadStats::default(),
    )
    .await
    .unwrap();
    let task = tokio::spawn(last.run());
    let want = (2 * N as u64, gross + N as i64);
    let mut got = (0, 0);
    for _ in 0..300 {
        got = sales_of(store.as_ref(), &seller).await;
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got, want, "every event once");
    // Settled: a while later, still exact.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sales_of(store.as_ref(), &seller).await, want);
    task.abort();
    let _ = clickhouse::Client::default()
        .with_url(&url)
        .with_validation(false)
        .query(&format!("DROP DATABASE IF EXISTS {ns}"))
        .execute()
        .await;
}
