//! The `CartStore` contract, run against every impl.

use std::sync::Arc;

use chrono::Utc;
use meridian_cart::domain::{Cart, CartError, CartKey};
use meridian_cart::store::memory::MemoryCartStore;
use meridian_cart::store::CartStore;
use meridian_common::events::{MemoryOutbox, OutboxReader};
use meridian_common::{Currency, Money, ProductId, UserId};

fn usd(n: i64) -> Money {
    Money::new(n, Currency::Usd)
}

async fn cart_store_contract(store: Arc<dyn CartStore>, outbox: Arc<dyn OutboxReader>) {
    store.ping().await.unwrap();
    let user = CartKey::User(UserId::new());
    let guest = CartKey::new_guest();
    assert_eq!(store.get(&user).await.unwrap(), Cart::default());
    let (a, b) = (ProductId::new(), ProductId::new());

    let add = |p: ProductId, q: u32| {
        move |c: &mut Cart| {
            c.add(p, q, usd(100), Utc::now())?;
            Ok(Vec::new())
        }
    };
    let cart = store.update(&user, &add(a, 2)).await.unwrap().unwrap();
    assert_eq!(cart.lines.len(), 1);
    // A refused change stores nothing.
    assert_eq!(
        store.update(&user, &add(a, 98)).await.unwrap(),
        Err(CartError::LineFull)
    );
    assert_eq!(store.get(&user).await.unwrap().lines[0].quantity, 2);

    store.update(&guest, &add(a, 3)).await.unwrap().unwrap();
    store.update(&guest, &add(b, 1)).await.unwrap().unwrap();
    let merged = store.merge(&guest, &user, Vec::new()).await.unwrap();
    let qty = |c: &Cart, p| {
        c.lines
            .iter()
            .find(|l| l.product_id == p)
            .map(|l| l.quantity)
    };
    assert_eq!((qty(&merged, a), qty(&merged, b)), (Some(5), Some(1)));
    assert_eq!(
        store.get(&guest).await.unwrap(),
        Cart::default(),
        "guest cart gone"
    );
    assert_eq!(store.get(&user).await.unwrap(), merged);

    // Concurrent adds all land.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let user = user.clone();
            tokio::spawn(async move {
                let change = move |c: &mut Cart| {
                    c.add(b, 1, usd(100), Utc::now())?;
                    Ok(Vec::new())
                };
                store.update(&user, &change).await.unwrap().unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(qty(&store.get(&user).await.unwrap(), b), Some(21));
    let _ = outbox.backlog().await.unwrap();
}

#[tokio::test]
async fn memory_cart_store() {
    let outbox = MemoryOutbox::new();
    cart_store_contract(Arc::new(MemoryCartStore::new(outbox.clone())), outbox).await;
}

#[cfg(feature = "redis-cluster")]
#[tokio::test]
async fn redis_cluster_cart_store() {
    use meridian_cart::store::cluster::ClusterCartStore;
    use meridian_common::events::EventEnvelope;
    use meridian_common::testing::{backend_endpoint, unique_namespace};

    let Some(nodes) = backend_endpoint("MERIDIAN_TEST_REDIS_CLUSTER") else {
        return;
    };
    let nodes: Vec<String> = nodes.split(',').map(str::to_owned).collect();
    let prefix = format!("{}:", unique_namespace("cart"));
    let store = ClusterCartStore::connect(&nodes, &prefix, std::time::Duration::from_secs(600))
        .await
        .unwrap();
    let outbox = Arc::new(store.outbox());
    let store = Arc::new(store);
    cart_store_contract(store.clone(), outbox.clone()).await;

    // Events land with the change, on the cart's slot, and drain once.
    let user = CartKey::User(UserId::new());
    let p = ProductId::new();
    let event = EventEnvelope::new("test", "cart.item.added", 1, user.id(), p);
    let emitted = event.clone();
    let change = move |c: &mut Cart| {
        c.add(p, 1, usd(100), Utc::now())?;
        Ok(vec![emitted.clone()])
    };
    store.update(&user, &change).await.unwrap().unwrap();
    let pending = outbox.pending(100).await.unwrap();
    assert_eq!(pending, vec![event.clone()]);
    outbox.mark_published(&[event.id]).await.unwrap();
    assert!(outbox.pending(100).await.unwrap().is_empty());
    assert_eq!(outbox.backlog().await.unwrap(), 0);
}
