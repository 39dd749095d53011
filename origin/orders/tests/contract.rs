//! The `OrderStore` contract, run against every impl.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use meridian_common::events::MemoryOutbox;
use meridian_common::{Currency, Money, ProductId, SellerId, UserId};
use meridian_orders::domain::{
    Address, Line, Order, OrderError, OrderId, Pricing, Status, SubOrder,
};
use meridian_orders::store::memory::MemoryOrderStore;
use meridian_orders::store::{Begin, OrderStore, StoredResponse};

fn order(buyer: UserId, seller: SellerId) -> Order {
    let pricing = Pricing {
        tax_rate_bp: 825,
        shipping_per_seller: 599,
        free_shipping_over: 5000,
    };
    let line = Line {
        product_id: ProductId::new(),
        title: "Teapot".into(),
        unit_price: Money::new(2500, Currency::Usd),
        quantity: 1,
        refunded_quantity: 0,
    };
    let subs = vec![SubOrder::priced(seller, "Shop".into(), vec![line], pricing).unwrap()];
    let (items, shipping, tax, total) = Order::totals(&subs).unwrap();
    Order {
        id: OrderId(uuid::Uuid::now_v7()),
        buyer_id: buyer,
        status: Status::PendingPayment,
        sub_orders: subs,
        items,
        shipping,
        tax,
        total,
        refunded: Money::zero(Currency::Usd),
        payment_id: None,
        shipping_address: Address {
            name: "Ann".into(),
            line1: "1 Main St".into(),
            line2: String::new(),
            city: "Portland".into(),
            state: "OR".into(),
            postal_code: "97201".into(),
            country: "US".into(),
        },
        failure: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

const LEASE: Duration = Duration::from_secs(60);

/// A claim whose checkout died (no answer, lease run out) is taken over by
/// one retry of the same request, never by a different one, and a live
/// claim is not.
async fn checkout_leases(store: &Arc<dyn OrderStore>, buyer: UserId) {
    let short = Duration::from_millis(200);
    assert_eq!(
        store.begin(buyer, "lease", "fp", short).await.unwrap(),
        Begin::Started
    );
    assert!(matches!(
        store.begin(buyer, "lease", "fp", short).await.unwrap(),
        Begin::Existing { response: None, .. }
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        matches!(
            store.begin(buyer, "lease", "different", short).await.unwrap(),
            Begin::Existing { response: None, ref fingerprint } if fingerprint == "fp"
        ),
        "a different request does not take a stranded key"
    );
    let retries: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.begin(buyer, "lease", "fp", LEASE).await.unwrap() })
        })
        .collect();
    let mut took_over = 0;
    for r in retries {
        took_over += usize::from(r.await.unwrap() == Begin::Started);
    }
    assert_eq!(took_over, 1, "one retry takes over the stranded claim");
    assert!(
        matches!(
            store.begin(buyer, "lease", "fp", LEASE).await.unwrap(),
            Begin::Existing { response: None, .. }
        ),
        "the taken-over claim holds its new lease"
    );
}

/// The sweeper's claims: keys without an answer that nobody has held for
/// `idle`, each to one claimer, held for the claim's lease.
async fn stale_claims(store: &Arc<dyn OrderStore>) {
    let buyer = UserId::new();
    let claim = |idle: Duration| {
        let store = store.clone();
        async move {
            let mut keys: Vec<String> = store
                .claim_stale(idle, LEASE, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|(b, k)| {
                    assert_eq!(b, buyer, "only this test's keys are idle");
                    k
                })
                .collect();
            keys.sort();
            keys
        }
    };
    for key in ["gone", "answered", "live", "recent"] {
        store.begin(buyer, key, "fp", LEASE).await.unwrap();
    }
    store.abandon(buyer, "gone").await.unwrap();
    let answer = StoredResponse {
        status: 201,
        body: serde_json::json!({}),
    };
    store.finish(buyer, "answered", &answer).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store.abandon(buyer, "recent").await.unwrap();
    assert!(claim(Duration::from_secs(3600)).await.is_empty());
    assert_eq!(claim(Duration::from_secs(1)).await, ["gone"]);
    // "gone" is held now; answered and live keys are never claimed.
    assert_eq!(claim(Duration::ZERO).await, ["recent"]);
    assert!(claim(Duration::ZERO).await.is_empty());
    // A claimed key is held like any claim: its retry waits.
    assert_eq!(
        store.begin(buyer, "gone", "fp", LEASE).await.unwrap(),
        Begin::Existing {
            fingerprint: "fp".into(),
            response: None
        }
    );

    // Two sweepers at once split the idle keys between them.
    let keys: Vec<String> = (0..20).map(|i| format!("idle-{i:02}")).collect();
    for key in &keys {
        store.begin(buyer, key, "fp", LEASE).await.unwrap();
        store.abandon(buyer, key).await.unwrap();
    }
    let (a, b) = tokio::join!(claim(Duration::ZERO), claim(Duration::ZERO));
    let mut both = [a.clone(), b.clone()].concat();
    both.sort();
    assert_eq!(both, keys, "every idle key claimed once: {a:?} {b:?}");
}

async fn order_store_contract(store: Arc<dyn OrderStore>) {
    store.ping().await.unwrap();
    let buyer = UserId::new();
    // Idempotency keys: one winner, then the answer for everyone.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.begin(buyer, "key-1", "fp", LEASE).await.unwrap() })
        })
        .collect();
    let mut started = 0;
    for t in tasks {
        if t.await.unwrap() == Begin::Started {
            started += 1;
        }
    }
    assert_eq!(started, 1);
    let response = StoredResponse {
        status: 201,
        body: serde_json::json!({ "id": 1 }),
    };
    store.finish(buyer, "key-1", &response).await.unwrap();
    assert_eq!(
        store.begin(buyer, "key-1", "other", LEASE).await.unwrap(),
        Begin::Existing {
            fingerprint: "fp".into(),
            response: Some(response)
        }
    );
    // Keys are per buyer.
    assert_eq!(
        store
            .begin(UserId::new(), "key-1", "fp", LEASE)
            .await
            .unwrap(),
        Begin::Started
    );
    store.begin(buyer, "key-2", "fp", LEASE).await.unwrap();
    store.abandon(buyer, "key-2").await.unwrap();
    // An abandoned key still belongs to its request: another is told so.
    assert_eq!(
        store.begin(buyer, "key-2", "other", LEASE).await.unwrap(),
        Begin::Existing {
            fingerprint: "fp".into(),
            response: None
        }
    );
    assert_eq!(
        store.begin(buyer, "key-2", "fp", LEASE).await.unwrap(),
        Begin::Started
    );
    // An answered key is not abandoned, and its first answer stays.
    store.abandon(buyer, "key-1").await.unwrap();
    let other = StoredResponse {
        status: 402,
        body: serde_json::json!({ "id": 2 }),
    };
    store.finish(buyer, "key-1", &other).await.unwrap();
    assert!(matches!(
        store.begin(buyer, "key-1", "fp", LEASE).await.unwrap(),
        Begin::Existing { response: Some(r), .. } if r.status == 201
    ));
    checkout_leases(&store, buyer).await;
    stale_claims(&store).await;

    // Orders.
    let seller = SellerId::new();
    let a = order(buyer, seller);
    store.insert(&a, Vec::new()).await.unwrap();
    assert_eq!(store.get(a.id).await.unwrap().as_ref(), Some(&a));
    let b = order(UserId::new(), seller);
    store.insert(&b, Vec::new()).await.unwrap();
    assert_eq!(store.by_buyer(buyer, 10).await.unwrap(), vec![a.clone()]);
    assert!(
        store.by_seller(seller, 10).await.unwrap().is_empty(),
        "unpaid orders are not the seller's yet"
    );
    assert!(store
        .by_seller(SellerId::new(), 10)
        .await
        .unwrap()
        .is_empty());

    let sub = a.sub_orders[0].id;
    let ship = move |o: &mut Order| {
        o.sub_order_mut(sub)?.transition(Status::Shipped)?;
        Ok(Vec::new())
    };
    let refused = store.update(a.id, &ship).await.unwrap().unwrap();
    assert!(matches!(refused, Err(OrderError::IllegalTransition(_))));
    assert_eq!(
        store.get(a.id).await.unwrap().unwrap(),
        a,
        "refused change stored nothing"
    );
    let pay = move |o: &mut Order| {
        o.sub_order_mut(sub)?.transition(Status::Paid)?;
        o.derive_status();
        Ok(Vec::new())
    };
    let paid = store.update(a.id, &pay).await.unwrap().unwrap().unwrap();
    assert_eq!(paid.status, Status::Paid);
    assert_eq!(
        store.by_seller(seller, 10).await.unwrap(),
        vec![paid.clone()]
    );
    // A failed checkout never shows up for the seller.
    let failed = move |o: &mut Order| {
        let sub = o.sub_orders[0].id;
        o.sub_order_mut(sub)?.transition(Status::Cancelled)?;
        o.failure = Some("payment_declined".into());
        o.derive_status();
        Ok(Vec::new())
    };
    store.update(b.id, &failed).await.unwrap().unwrap().unwrap();
    assert_eq!(store.by_seller(seller, 10).await.unwrap().len(), 1);
    assert!(store
        .update(OrderId(uuid::Uuid::now_v7()), &pay)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn memory_order_store() {
    order_store_contract(Arc::new(MemoryOrderStore::new(MemoryOutbox::new()))).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_order_store() {
    use meridian_common::pg::PgSettings;
    use meridian_common::testing::{backend_endpoint, drop_pg_schema, unique_namespace};
    use meridian_orders::store::postgres::PostgresOrderStore;

    let Some(url) = backend_endpoint("MERIDIAN_TEST_POSTGRES") else {
        return;
    };
    let schema = unique_namespace("orders_test");
    let settings = PgSettings {
        schema: Some(schema.clone()),
        ..PgSettings::new("orders", &url)
    };
    let store = Arc::new(PostgresOrderStore::connect(&settings).await.unwrap());
    order_store_contract(store.clone()).await;

    // Concurrent changes of one order serialize (with retries): none is lost.
    let seller = SellerId::new();
    let o = order(UserId::new(), seller);
    store.insert(&o, Vec::new()).await.unwrap();
    let sub = o.sub_orders[0].id;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let change = move |o: &mut Order| {
                    o.sub_order_mut(sub)?.refund_keys.push(format!("k{i}"));
                    Ok(Vec::new())
                };
                store.update(o.id, &change).await.unwrap().unwrap().unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stored = store.get(o.id).await.unwrap().unwrap();
    assert_eq!(stored.sub_orders[0].refund_keys.len(), 10);

    // Every statement's wait for a connection was measured, under the
    // pool's role; the memory store has no pool.
    let pool = store.pool_metrics().expect("a PostgreSQL store pools");
    let families = pool.collect();
    let waits = families
        .iter()
        .find(|f| f.name() == "meridian_store_pool_wait_seconds")
        .expect("the wait histogram");
    let histogram = waits.get_metric()[0].get_histogram();
    assert!(histogram.get_sample_count() >= 20, "{histogram:?}");
    assert_eq!(waits.get_metric()[0].get_label()[0].value(), "orders");
    assert!(families
        .iter()
        .any(|f| f.name() == "meridian_store_pool_connections"));
    assert!(MemoryOrderStore::new(MemoryOutbox::new())
        .pool_metrics()
        .is_none());
    drop_pg_schema(&url, &schema).await;
}
