//! The `ShipmentStore` contract, run against every impl.

use std::sync::Arc;

use chrono::Utc;
use meridian_common::events::{EventEnvelope, MemoryOutbox};
use meridian_common::{SellerId, UserId};
use meridian_logistics::domain::{Shipment, TrackingEvent, TrackingStatus};
use meridian_logistics::store::memory::MemoryShipmentStore;
use meridian_logistics::store::ShipmentStore;
use uuid::Uuid;

fn shipment(order: Uuid, tracking: &str) -> Shipment {
    let now = Utc::now();
    Shipment {
        id: Uuid::now_v7(),
        order_id: order,
        sub_order_id: Uuid::now_v7(),
        seller_id: SellerId::new(),
        buyer_id: UserId::new(),
        carrier: "UPS".into(),
        tracking_number: tracking.into(),
        status: TrackingStatus::LabelCreated,
        events: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

/// A carrier scan to `status`, now, as a store change.
fn scan(
    status: TrackingStatus,
) -> impl Fn(&mut Shipment) -> Result<Vec<EventEnvelope>, String> + Send + Sync {
    move |s: &mut Shipment| {
        s.record(TrackingEvent {
            status,
            at: Utc::now(),
            location: None,
            note: None,
        })?;
        Ok(Vec::new())
    }
}

async fn shipment_store_contract(store: Arc<dyn ShipmentStore>) {
    store.ping().await.unwrap();
    let order = Uuid::now_v7();
    let a = shipment(order, "1Z1");
    assert_eq!(store.open(&a, Vec::new()).await.unwrap(), a);
    // One shipment per sub-order.
    let mut dup = shipment(order, "1Z2");
    dup.sub_order_id = a.sub_order_id;
    assert_eq!(store.open(&dup, Vec::new()).await.unwrap(), a);
    assert_eq!(
        store.by_tracking("ups", "1Z1").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.by_tracking("UPS", "nope").await.unwrap(), None);
    let b = shipment(order, "1Z3");
    store.open(&b, Vec::new()).await.unwrap();
    assert_eq!(store.by_order(order).await.unwrap().len(), 2);

    let moved = store
        .update(a.id, &scan(TrackingStatus::Delivered))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(moved.events.len(), 1);
    let refused = store
        .update(a.id, &scan(TrackingStatus::InTransit))
        .await
        .unwrap()
        .unwrap();
    assert!(refused.is_err());
    assert_eq!(
        store
            .by_tracking("UPS", "1Z1")
            .await
            .unwrap()
            .unwrap()
            .status,
        TrackingStatus::Delivered
    );
    assert!(store
        .update(Uuid::now_v7(), &scan(TrackingStatus::InTransit))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn memory_shipment_store() {
    shipment_store_contract(Arc::new(MemoryShipmentStore::new(MemoryOutbox::new()))).await;
}

#[cfg(feature = "cassandra")]
#[tokio::test]
async fn cassandra_shipment_store() {
    use meridian_common::events::OutboxReader;
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use meridian_logistics::store::cassandra::{CassandraShipmentStore, Replication};

    let Some(node) = backend_endpoint("MERIDIAN_TEST_CASSANDRA") else {
        return;
    };
    let keyspace = unique_namespace("logistics");
    let store = Arc::new(
        CassandraShipmentStore::connect(&[node], &keyspace, &Replication::Simple(1), None)
            .await
            .unwrap(),
    );
    shipment_store_contract(store.clone()).await;

    // The history reads back in time order, and events go out once.
    let outbox = store.outbox();
    let before = outbox.backlog().await.unwrap();
    let s = shipment(Uuid::now_v7(), "1Z9");
    let opened = EventEnvelope::new("test", "logistics.shipment.opened", 1, s.id, 1);
    store.open(&s, vec![opened.clone()]).await.unwrap();
    for status in [TrackingStatus::InTransit, TrackingStatus::OutForDelivery] {
        let change = move |x: &mut Shipment| {
            x.record(TrackingEvent {
                status,
                at: Utc::now(),
                location: Some("Dallas".into()),
                note: None,
            })?;
            Ok(Vec::new())
        };
        store.update(s.id, &change).await.unwrap().unwrap().unwrap();
    }
    let read = store.by_tracking("ups", "1Z9").await.unwrap().unwrap();
    let statuses: Vec<_> = read.events.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [TrackingStatus::InTransit, TrackingStatus::OutForDelivery]
    );
    assert_eq!(read.buyer_id, s.buyer_id);
    assert_eq!(outbox.backlog().await.unwrap(), before + 1);
    let pending = outbox.pending(1000).await.unwrap();
    assert!(pending.contains(&opened));
    let ids: Vec<_> = pending.iter().map(|e| e.id).collect();
    outbox.mark_published(&ids).await.unwrap();
    assert_eq!(outbox.backlog().await.unwrap(), 0);
}

/// The distributed edition's settings: a keyspace replicated per data
/// center (NetworkTopologyStrategy) and queries sent to the region's own
/// data center first. The local CQL server is one node in `datacenter1`;
/// the contract holds there as on any node of such a cluster.
#[cfg(feature = "cassandra")]
#[tokio::test]
async fn cassandra_store_per_datacenter() {
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use meridian_logistics::store::cassandra::{CassandraShipmentStore, Replication};

    let Some(node) = backend_endpoint("MERIDIAN_TEST_CASSANDRA") else {
        return;
    };
    let keyspace = unique_namespace("logistics_dc");
    let replication = Replication::PerDatacenter([("datacenter1".to_owned(), 1)].into());
    let store =
        CassandraShipmentStore::connect(&[node], &keyspace, &replication, Some("datacenter1"))
            .await
            .unwrap();
    shipment_store_contract(Arc::new(store)).await;
}

/// Two origins recording on one shipment at once: Cassandra has no
/// compare-and-set here, so both may read the same state and the last
/// state row written wins; the status comes from the history, where both
/// recordings are kept, and settles the same for every reader. A parcel
/// delivered while another origin recorded an exception ends delivered,
/// whichever write landed last (the state row alone said "exception" when
/// the exception's write came second).
#[cfg(feature = "cassandra")]
#[tokio::test]
async fn cassandra_concurrent_origins_converge() {
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use meridian_logistics::store::cassandra::{CassandraShipmentStore, Replication};

    let Some(node) = backend_endpoint("MERIDIAN_TEST_CASSANDRA") else {
        return;
    };
    let keyspace = unique_namespace("logistics_race");
    let connect = || {
        CassandraShipmentStore::connect(
            std::slice::from_ref(&node),
            &keyspace,
            &Replication::Simple(1),
            None,
        )
    };
    // Two stores: two origins, each with its own per-shipment locks.
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    let (mut both_recorded, rounds) = (0, 20);
    for n in 0..rounds {
        let s = shipment(Uuid::now_v7(), &format!("1ZRACE{n}"));
        a.open(&s, Vec::new()).await.unwrap();
        a.update(s.id, &scan(TrackingStatus::InTransit))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let (delivered, exception) = (
            scan(TrackingStatus::Delivered),
            scan(TrackingStatus::Exception),
        );
        let (first, second) = tokio::join!(a.update(s.id, &delivered), b.update(s.id, &exception));
        first.unwrap().unwrap().unwrap();
        if second.unwrap().unwrap().is_ok() {
            both_recorded += 1;
        }
        for store in [&a, &b] {
            let read = store
                .by_tracking("ups", &s.tracking_number)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                read.status,
                TrackingStatus::Delivered,
                "round {n}: {:?}",
                read.events
            );
        }
    }
    // Both recorded on the same InTransit state at least once: the race
    // this test is about happened.
    assert!(both_recorded > 0, "no round raced ({rounds} rounds)");
}
