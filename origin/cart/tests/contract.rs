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
        Err(CartError::Quantity)
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
