//! The `AnalyticsStore` contract, run against every impl: the rollups add
//! up, a redelivered batch (or a duplicate inside one) counts once, bad
//! messages are parked once, and ranges cut by day.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use meridian_analytics::domain::{decode, DayRange, Funnel, Record};
use meridian_analytics::store::memory::MemoryAnalyticsStore;
use meridian_analytics::store::{AnalyticsStore, Ingested};
use meridian_common::events::EventEnvelope;
use serde_json::{json, Value};

fn at(day: &str) -> DateTime<Utc> {
    format!("{day}T12:00:00Z").parse().unwrap()
}

fn event(kind: &str, day: &str, region: &str, aggregate: &str, payload: Value) -> EventEnvelope {
    let mut e = EventEnvelope::new(region, kind, 1, aggregate, payload);
    e.occurred_at = at(day);
    e
}

fn record(e: &EventEnvelope) -> Record {
    decode(
        &format!("test/{}", e.id),
        None,
        None,
        &serde_json::to_vec(e).unwrap(),
    )
}

fn usd(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "USD" })
}

/// A paid order: `(seller, product, quantity, unit price)` lines, one
/// sub-order per seller with total = items + 500 shipping.
fn paid(order: &str, day: &str, region: &str, lines: &[(&str, &str, u32, i64)]) -> EventEnvelope {
    let mut sellers: Vec<&str> = lines.iter().map(|l| l.0).collect();
    sellers.dedup();
    let subs: Vec<Value> = sellers
        .iter()
        .map(|s| {
            let mine: Vec<_> = lines.iter().filter(|l| l.0 == *s).collect();
            let items: i64 = mine.iter().map(|l| i64::from(l.2) * l.3).sum();
            json!({ "sub_order_id": format!("{order}-{s}"), "seller_id": s, "total": usd(items + 500),
                    "lines": mine.iter().map(|l| json!({ "product_id": l.1, "quantity": l.2, "unit_price": usd(l.3) })).collect::<Vec<_>>() })
        })
        .collect();
    let total: i64 = subs
        .iter()
        .map(|s| s["total"]["amount"].as_i64().unwrap())
        .sum();
    event(
        "orders.order.paid",
        day,
        region,
        order,
        json!({ "order_id": order, "buyer_id": "b", "status": "paid", "total": usd(total), "sub_orders": subs, "failure": null }),
    )
}

fn range(from: &str, to: &str) -> DayRange {
    DayRange {
        from: from.parse::<NaiveDate>().unwrap(),
        to: to.parse::<NaiveDate>().unwrap(),
    }
}

/// `store` must be empty (each run gets its own ClickHouse database);
/// `ns` prefixes ids anyway, so a leftover is easy to tell apart.
async fn analytics_store_contract(store: Arc<dyn AnalyticsStore>, ns: &str) {
    store.ping().await.unwrap();
    let a = format!("{ns}-seller-a");
    let b = format!("{ns}-seller-b");
    let (p1, p2, p3) = (format!("{ns}-p1"), format!("{ns}-p2"), format!("{ns}-p3"));
    let o = |n: u32| format!("{ns}-order-{n}");
    // Carts name the product's seller (events from before they did name
    // none and count for the platform only).
    let cart = |day: &str, region: &str, n: u32, seller: Option<&str>| {
        event(
            "cart.item.added",
            day,
            region,
            &format!("{ns}-cart-{n}"),
            json!({ "product_id": p1, "quantity": 1, "seller_id": seller }),
        )
    };
    let placed = |day: &str, region: &str, order: &str, sellers: &[&str]| {
        let subs: Vec<_> = sellers.iter().map(|s| json!({ "seller_id": s })).collect();
        event(
            "orders.order.placed",
            day,
            region,
            order,
            json!({ "sub_orders": subs }),
        )
    };
    let events = vec![
        cart("2026-03-01", "chicago", 1, Some(&a)),
        cart("2026-03-01", "chicago", 1, Some(&a)),
        cart("2026-03-02", "dallas", 2, Some(&b)),
        cart("2026-03-02", "dallas", 1, None),
        placed("2026-03-01", "chicago", &o(1), &[&a, &b]),
        placed("2026-03-02", "dallas", &o(2), &[&a]),
        event(
            "orders.order.placed",
            "2026-03-02",
            "dallas",
            &o(3),
            json!({}),
        ),
        paid(
            &o(1),
            "2026-03-01",
            "chicago",
            &[(&a, &p1, 2, 1000), (&b, &p3, 1, 700)],
        ),
        paid(&o(2), "2026-03-02", "dallas", &[(&a, &p2, 1, 5000)]),
        event(
            "orders.sub_order.refunded",
            "2026-03-02",
            "chicago",
            &o(1),
            json!({ "seller_id": a, "detail": { "amount": usd(1000) } }),
        ),
        event(
            "reviews.review.submitted",
            "2026-03-02",
            "dallas",
            &p1,
            json!({ "product_id": p1, "seller_id": a, "user_id": "u1", "rating": 4, "old_rating": null }),
        ),
        event(
            "reviews.review.submitted",
            "2026-03-03",
            "dallas",
            &p1,
            json!({ "product_id": p1, "seller_id": a, "user_id": "u1", "rating": 2, "old_rating": 4 }),
        ),
        event(
            "logistics.shipment.tracked",
            "2026-03-03",
            "chicago",
            &format!("{ns}-ship-1"),
            json!({ "seller_id": a, "carrier": format!("{ns}-ups"), "status": "delivered",
                    "shipped_at": "2026-03-01T12:00:00Z", "at": "2026-03-03T00:00:00Z" }),
        ),
        event(
            "sellers.key.created",
            "2026-03-03",
            "chicago",
            &a,
            json!({}),
        ),
    ];
    let records: Vec<Record> = events.iter().map(record).collect();
    let bad = decode(&format!("{ns}/0/1"), None, Some(b"k"), b"{oops");
    let mut batch = records.clone();
    batch.push(bad.clone());
    // A duplicate inside the batch counts once too.
    batch.push(records[0].clone());
    let done = store.ingest(&batch).await.unwrap();
    assert_eq!(
        done,
        Ingested {
            loaded: events.len(),
            duplicates: 1,
            dead: 1
        }
    );
    // Redelivery of the whole batch adds nothing.
    let again = store.ingest(&batch).await.unwrap();
    assert_eq!(
        again,
        Ingested {
            loaded: 0,
            duplicates: events.len() + 1,
            dead: 0
        }
    );

    let march = range("2026-03-01", "2026-03-31");
    let sales_a = store.sales(Some(&a), march).await.unwrap();
    let cells: Vec<(NaiveDate, &str, u64, i64, i64)> = sales_a
        .iter()
        .map(|c| {
            (
                c.day,
                c.region.as_str(),
                c.orders,
                c.gross_cents,
                c.refunded_cents,
            )
        })
        .collect();
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    assert_eq!(
        cells,
        vec![
            (d("2026-03-01"), "chicago", 1, 2500, 0),
            (d("2026-03-02"), "chicago", 0, 0, 1000),
            (d("2026-03-02"), "dallas", 1, 5500, 0),
        ]
    );
    let only_b = store.sales(Some(&b), march).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].gross_cents, 1200);
    let first_day = store
        .sales(Some(&a), range("2026-03-01", "2026-03-01"))
        .await
        .unwrap();
    assert_eq!(first_day.len(), 1, "ranges cut by day");
    assert!(store
        .sales(Some(&a), range("2026-04-01", "2026-04-30"))
        .await
        .unwrap()
        .is_empty());

    let top = store.top_products(Some(&a), march, 10).await.unwrap();
    let top: Vec<(&str, u64, i64)> = top
        .iter()
        .map(|p| (p.product_id.as_str(), p.units, p.gross_cents))
        .collect();
    assert_eq!(top, vec![(p2.as_str(), 1, 5000), (p1.as_str(), 2, 2000)]);
    assert_eq!(
        store.top_products(Some(&a), march, 1).await.unwrap().len(),
        1
    );

    let funnel = |carts, checkouts, paid| Funnel {
        carts,
        checkouts,
        paid,
    };
    let (total, days) = store.funnel(None, march).await.unwrap();
    assert_eq!(total, funnel(2, 3, 2));
    assert_eq!(
        days,
        vec![
            (d("2026-03-01"), funnel(1, 1, 1)),
            (d("2026-03-02"), funnel(2, 2, 1)),
        ]
    );
    // Each seller's own funnel: their carts, their orders.
    let (total_a, days_a) = store.funnel(Some(&a), march).await.unwrap();
    assert_eq!(total_a, funnel(1, 2, 2));
    assert_eq!(
        days_a,
        vec![
            (d("2026-03-01"), funnel(1, 1, 1)),
            (d("2026-03-02"), funnel(0, 1, 1)),
        ]
    );
    let (total_b, days_b) = store.funnel(Some(&b), march).await.unwrap();
    assert_eq!(total_b, funnel(1, 1, 1));
    assert_eq!(
        days_b,
        vec![
            (d("2026-03-01"), funnel(0, 1, 1)),
            (d("2026-03-02"), funnel(1, 0, 0)),
        ]
    );
    let (nobody, _) = store
        .funnel(Some(&format!("{ns}-nobody")), march)
        .await
        .unwrap();
    assert_eq!(nobody, Funnel::default());

    let ratings = store.ratings(march).await.unwrap();
    let ratings: Vec<(NaiveDate, i64, i64)> = ratings
        .iter()
        .map(|r| (r.day, r.ratings, r.stars))
        .collect();
    assert_eq!(
        ratings,
        vec![(d("2026-03-02"), 1, 4), (d("2026-03-03"), 0, -2)],
        "an edit changes the stars, not the count"
    );
    let deliveries = store.deliveries(march).await.unwrap();
    let ups = deliveries
        .iter()
        .find(|c| c.carrier == format!("{ns}-ups"))
        .expect("our carrier");
    assert_eq!((ups.deliveries, ups.seconds), (1, 36 * 3600));

    let letters = store.dead_letters(100).await.unwrap();
    let ours = letters
        .iter()
        .find(|l| l.source == format!("{ns}/0/1"))
        .expect("parked");
    assert!(ours.reason.starts_with("malformed envelope"), "{ours:?}");
    assert_eq!(ours.key.as_deref(), Some("k"));
    assert_eq!(
        letters
            .iter()
            .filter(|l| l.source == format!("{ns}/0/1"))
            .count(),
        1
    );

    let counts = store.event_counts().await.unwrap();
    let count = |kind: &str| counts.iter().find(|(t, _)| t == kind).map_or(0, |c| c.1);
    assert_eq!(count("orders.order.paid"), 2);
    assert_eq!(count("cart.item.added"), 4);
    assert_eq!(count("sellers.key.created"), 1, "kept raw");
}

#[tokio::test]
async fn memory_store_meets_the_contract() {
    analytics_store_contract(Arc::new(MemoryAnalyticsStore::new()), "mem").await;
}

#[cfg(feature = "clickhouse")]
#[tokio::test]
async fn clickhouse_store_meets_the_contract() {
    let Some(url) = meridian_common::testing::backend_endpoint("MERIDIAN_TEST_CLICKHOUSE") else {
        return;
    };
    let db = meridian_common::testing::unique_namespace("analytics");
    clickhouse_contract(&url, &db, None).await;
    drop_database(&url, &db, "").await;
}

/// The distributed edition: on a cluster (one server in the cluster
/// `MERIDIAN_TEST_CLICKHOUSE_CLUSTER` names, with ZooKeeper) every table the
/// migrations make is a replicated one, created `ON CLUSTER`, and the store
/// meets the same contract.
#[cfg(feature = "clickhouse")]
#[tokio::test]
async fn clickhouse_cluster_store_meets_the_contract() {
    use meridian_analytics::store::clickhouse_ddl::Cluster;
    use meridian_common::testing::backend_endpoint;
    let (Some(url), Some(cluster)) = (
        backend_endpoint("MERIDIAN_TEST_CLICKHOUSE"),
        backend_endpoint("MERIDIAN_TEST_CLICKHOUSE_CLUSTER"),
    ) else {
        return;
    };
    let db = meridian_common::testing::unique_namespace("analytics_cluster");
    clickhouse_contract(&url, &db, Some(&Cluster(cluster.clone()))).await;
    let client = clickhouse_client(&url);
    let engines: Vec<(String, String)> = client
        .query("SELECT name, engine FROM system.tables WHERE database = ? AND engine LIKE '%MergeTree' ORDER BY name")
        .bind(&db)
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(engines.len(), 9, "{engines:?}");
    for (table, engine) in &engines {
        assert!(engine.starts_with("Replicated"), "{table}: {engine}");
    }
    let replicas: Vec<String> = client
        .query("SELECT table FROM system.replicas WHERE database = ? ORDER BY table")
        .bind(&db)
        .fetch_all()
        .await
        .unwrap();
    let tables: Vec<String> = engines.into_iter().map(|(t, _)| t).collect();
    assert_eq!(replicas, tables, "every table has its replica in ZooKeeper");
    drop_database(&url, &db, &format!(" ON CLUSTER {cluster}")).await;
}

/// The contract on a ClickHouse database made by the store's migrations;
/// then a second origin connecting to it finds everything in place
/// (migrations are idempotent).
#[cfg(feature = "clickhouse")]
async fn clickhouse_contract(
    url: &str,
    db: &str,
    cluster: Option<&meridian_analytics::store::clickhouse_ddl::Cluster>,
) {
    use meridian_analytics::store::clickhouse::ClickhouseAnalyticsStore;
    let store = ClickhouseAnalyticsStore::connect(url, db, None, None, cluster)
        .await
        .unwrap();
    analytics_store_contract(Arc::new(store), db).await;
    let again = ClickhouseAnalyticsStore::connect(url, db, None, None, cluster)
        .await
        .unwrap();
    again.ping().await.unwrap();
}

#[cfg(feature = "clickhouse")]
fn clickhouse_client(url: &str) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(url)
        .with_validation(false)
}

#[cfg(feature = "clickhouse")]
async fn drop_database(url: &str, db: &str, on_cluster: &str) {
    clickhouse_client(url)
        .query(&format!("DROP DATABASE IF EXISTS {db}{on_cluster}"))
        .execute()
        .await
        .unwrap();
}
