//! The `ProductStore` contract, run against every implementation. The
//! DynamoDB store joins this list with the real-stores work.

use std::collections::HashSet;
use std::sync::Arc;

use meridian_catalog::demo;
use meridian_catalog::domain::{
    Category, ListFilter, ListQuery, ProductPatch, ProductStatus, ReserveError, ReserveLine, Sort,
};
use meridian_catalog::store::memory::MemoryProductStore;
use meridian_catalog::store::ProductStore;
use meridian_common::ProductId;

async fn walk(
    store: &dyn ProductStore,
    category: Option<&str>,
    sort: Sort,
    limit: u32,
) -> Vec<ProductId> {
    walk_filtered(store, category, sort, limit, ListFilter::default()).await
}

async fn walk_filtered(
    store: &dyn ProductStore,
    category: Option<&str>,
    sort: Sort,
    limit: u32,
    filter: ListFilter,
) -> Vec<ProductId> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = ListQuery::parse(category, Some(sort), Some(limit), cursor.as_deref()).unwrap();
        let q = ListQuery {
            filter: filter.clone(),
            ..q
        };
        let page = store.list(&q).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        out.extend(page.items.iter().map(|p| p.id));
        match page.next {
            Some(c) => cursor = Some(c.encode()),
            None => break,
        }
    }
    out
}

async fn product_store_contract(store: Arc<dyn ProductStore>) {
    store.ping().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);
    let seeded = demo::seed_if_empty(store.as_ref()).await.unwrap();
    assert_eq!(seeded, 240);
    assert_eq!(
        demo::seed_if_empty(store.as_ref()).await.unwrap(),
        0,
        "seeding is idempotent"
    );
    let all = demo::products();

    // get
    let first = &all[0];
    assert_eq!(store.get(first.id).await.unwrap().as_ref(), Some(first));
    assert_eq!(store.get(ProductId::new()).await.unwrap(), None);

    // Every sort visits every product exactly once, in order, across pages.
    for sort in [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc] {
        let ids = walk(store.as_ref(), None, sort, 17).await;
        assert_eq!(ids.len(), all.len(), "{sort:?}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), all.len());
        let keys: Vec<i64> = ids
            .iter()
            .map(|id| sort.key(all.iter().find(|p| p.id == *id).unwrap()))
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "{sort:?} out of order"
        );
    }

    // Category filter.
    let books = walk(store.as_ref(), Some("books"), Sort::PriceAsc, 5).await;
    let expected = all.iter().filter(|p| p.category.slug() == "books").count();
    assert_eq!(books.len(), expected);
    // Filters: every page holds only admitted products, the walk finds
    // exactly the admitted ones, in order.
    let seller = all[3].seller_id.to_string();
    let filter =
        ListFilter::parse(Some(&seller), Some(1_000), Some(20_000), None, Some(true)).unwrap();
    let expected: Vec<ProductId> = {
        let mut admitted: Vec<_> = all
            .iter()
            .filter(|p| p.category.slug() == "books" && filter.admits(p))
            .collect();
        admitted.sort_by_key(|p| (Sort::PriceAsc.key(p), p.id));
        admitted.iter().map(|p| p.id).collect()
    };
    assert!(!expected.is_empty() && expected.len() < books.len());
    let filtered = walk_filtered(store.as_ref(), Some("books"), Sort::PriceAsc, 2, filter).await;
    assert_eq!(filtered, expected);
    let nothing = ListFilter::parse(None, Some(i64::MAX), None, None, None).unwrap();
    assert!(
        walk_filtered(store.as_ref(), None, Sort::Newest, 10, nothing)
            .await
            .is_empty()
    );

    let categories = store.categories().await.unwrap();
    assert_eq!(categories.len(), 10);
    assert!(categories.iter().all(|c| c.product_count == 24));

    // put replaces and re-indexes.
    let mut changed = first.clone();
    changed.price.amount = 1;
    changed.category = Category::parse("garden").unwrap();
    store.put(&changed, Vec::new()).await.unwrap();
    assert_eq!(store.get(first.id).await.unwrap(), Some(changed.clone()));
    let cheapest = store
        .list(&ListQuery::parse(None, Some(Sort::PriceAsc), Some(1), None).unwrap())
        .await
        .unwrap();
    assert_eq!(cheapest.items[0].id, changed.id);
    assert_eq!(store.count().await.unwrap(), 240);
    let garden = walk(store.as_ref(), Some("garden"), Sort::Newest, 50).await;
    assert_eq!(garden.len(), 25);
}

fn line(product_id: ProductId, quantity: u32) -> ReserveLine {
    ReserveLine {
        product_id,
        quantity,
    }
}

async fn stock_of(store: &dyn ProductStore, id: ProductId) -> u32 {
    store.get(id).await.unwrap().unwrap().stock
}

/// Writes, reservations and ratings on a seeded store.
async fn write_contract(store: Arc<dyn ProductStore>) {
    demo::seed_if_empty(store.as_ref()).await.unwrap();
    let all = demo::products();
    let a = all.iter().find(|p| p.stock >= 10).unwrap().id;
    let b = all.iter().filter(|p| p.stock >= 10).nth(1).unwrap().id;
    let sold_out = all.iter().find(|p| p.stock == 0).unwrap().id;

    let got = store.get_many(&[a, b, a, ProductId::new()]).await.unwrap();
    assert_eq!(got.len(), 2);

    // Edits never touch stock; set_stock sets it outright.
    let before = stock_of(store.as_ref(), a).await;
    let patch = ProductPatch {
        title: Some("Renamed".into()),
        ..ProductPatch::default()
    };
    let edited = store
        .update(a, &patch, chrono::Utc::now(), Vec::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((edited.title.as_str(), edited.stock), ("Renamed", before));
    assert!(store
        .update(ProductId::new(), &patch, chrono::Utc::now(), Vec::new())
        .await
        .unwrap()
        .is_none());
    store
        .set_stock(a, 10, chrono::Utc::now(), Vec::new())
        .await
        .unwrap()
        .unwrap();
    store
        .set_stock(b, 10, chrono::Utc::now(), Vec::new())
        .await
        .unwrap()
        .unwrap();

    // All or nothing: one short line reserves nothing.
    let r1 = uuid::Uuid::new_v4();
    let outcome = store
        .reserve(r1, &[line(a, 3), line(sold_out, 1)], Vec::new())
        .await
        .unwrap();
    assert_eq!(outcome, Err(ReserveError::OutOfStock(vec![sold_out])));
    assert_eq!(stock_of(store.as_ref(), a).await, 10);
    // Duplicate lines count together.
    let outcome = store
        .reserve(r1, &[line(a, 6), line(a, 6)], Vec::new())
        .await
        .unwrap();
    assert_eq!(outcome, Err(ReserveError::OutOfStock(vec![a])));
    let unknown = ProductId::new();
    let outcome = store
        .reserve(r1, &[line(unknown, 1)], Vec::new())
        .await
        .unwrap();
    assert_eq!(outcome, Err(ReserveError::Unavailable(vec![unknown])));

    store
        .reserve(r1, &[line(a, 3), line(b, 4)], Vec::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stock_of(store.as_ref(), a).await,
            stock_of(store.as_ref(), b).await
        ),
        (7, 6)
    );
    // Idempotent by reservation id.
    store
        .reserve(r1, &[line(a, 3), line(b, 4)], Vec::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stock_of(store.as_ref(), a).await, 7);

    // Partial release, then full; each line restocked once.
    assert!(store.release(r1, Some(&[b]), Vec::new()).await.unwrap());
    assert_eq!(stock_of(store.as_ref(), b).await, 10);
    assert!(!store.release(r1, Some(&[b]), Vec::new()).await.unwrap());
    assert!(store.release(r1, None, Vec::new()).await.unwrap());
    assert_eq!(
        (
            stock_of(store.as_ref(), a).await,
            stock_of(store.as_ref(), b).await
        ),
        (10, 10)
    );
    assert!(!store.release(r1, None, Vec::new()).await.unwrap());
    assert!(!store
        .release(uuid::Uuid::new_v4(), None, Vec::new())
        .await
        .unwrap());

    // Concurrent reservations never oversell.
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve(uuid::Uuid::new_v4(), &[line(a, 1)], Vec::new())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            won += 1;
        }
    }
    assert_eq!(won, 10);
    assert_eq!(stock_of(store.as_ref(), a).await, 0);

    // Archived: not listed, not reservable, still readable.
    let archive = ProductPatch {
        status: Some(ProductStatus::Archived),
        ..ProductPatch::default()
    };
    store
        .update(b, &archive, chrono::Utc::now(), Vec::new())
        .await
        .unwrap()
        .unwrap();
    let outcome = store
        .reserve(uuid::Uuid::new_v4(), &[line(b, 1)], Vec::new())
        .await
        .unwrap();
    assert_eq!(outcome, Err(ReserveError::Unavailable(vec![b])));
    let ids = walk(store.as_ref(), None, Sort::Newest, 100).await;
    assert!(!ids.contains(&b));
    assert_eq!(ids.len(), all.len() - 1);
    assert_eq!(
        store.get(b).await.unwrap().unwrap().status,
        ProductStatus::Archived
    );

    // Ratings: add, change, remove.
    store.apply_rating(a, None, Some(5)).await.unwrap();
    store.apply_rating(a, None, Some(4)).await.unwrap();
    store.apply_rating(a, Some(4), Some(2)).await.unwrap();
    let rating = store.get(a).await.unwrap().unwrap().rating;
    assert_eq!((rating.count, rating.histogram), (2, [0, 1, 0, 0, 1]));
    assert_eq!(rating.average_centi(), 350);
    store.apply_rating(a, Some(5), None).await.unwrap();
    assert_eq!(store.get(a).await.unwrap().unwrap().rating.count, 1);
}

#[tokio::test]
async fn memory_product_store() {
    product_store_contract(Arc::new(MemoryProductStore::default())).await;
    write_contract(Arc::new(MemoryProductStore::default())).await;
}

mod stock_properties {
    use super::*;
    use proptest::prelude::*;

    /// A reserved line in the model: (product index, quantity, released).
    type Held = (usize, u32, bool);

    #[derive(Debug, Clone)]
    enum Op {
        Reserve(Vec<(usize, u32)>),
        Release(usize, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            proptest::collection::vec((0usize..3, 1u32..6), 1..4).prop_map(Op::Reserve),
            (0usize..20, any::<bool>()).prop_map(|(i, all)| Op::Release(i, all)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever mix of reservations and (partial) releases happens,
        /// stock plus what is still reserved equals the starting stock, and
        /// a reservation either takes every line or nothing.
        #[test]
        fn stock_is_conserved_and_never_oversold(ops in proptest::collection::vec(op(), 1..30)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let store = MemoryProductStore::default();
                demo::seed_if_empty(&store).await.unwrap();
                let ids: Vec<ProductId> = demo::products().iter().take(3).map(|p| p.id).collect();
                for id in &ids {
                    store.set_stock(*id, 10, chrono::Utc::now(), Vec::new()).await.unwrap();
                }
                let mut held: Vec<(uuid::Uuid, Vec<Held>)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Reserve(lines) => {
                            let before: Vec<u32> = futures_stock(&store, &ids).await;
                            let r = uuid::Uuid::new_v4();
                            let req: Vec<ReserveLine> = lines.iter().map(|(i, q)| line(ids[*i], *q)).collect();
                            match store.reserve(r, &req, Vec::new()).await.unwrap() {
                                Ok(()) => held.push((r, lines.iter().map(|(i, q)| (*i, *q, false)).collect())),
                                Err(_) => assert_eq!(futures_stock(&store, &ids).await, before, "failed reservation took stock"),
                            }
                        }
                        Op::Release(n, all) if !held.is_empty() => {
                            let k = n % held.len();
                            let (r, lines) = &mut held[k];
                            let first = ids[lines[0].0];
                            let only = if all { None } else { Some(vec![first]) };
                            store.release(*r, only.as_deref(), Vec::new()).await.unwrap();
                            for l in lines.iter_mut() {
                                if all || ids[l.0] == first {
                                    l.2 = true;
                                }
                            }
                        }
                        Op::Release(..) => {}
                    }
                    let stock = futures_stock(&store, &ids).await;
                    for (i, s) in stock.iter().enumerate() {
                        let outstanding: u32 = held
                            .iter()
                            .flat_map(|(_, ls)| ls.iter())
                            .filter(|(j, _, released)| *j == i && !released)
                            .map(|(_, q, _)| *q)
                            .sum();
                        assert_eq!(s + outstanding, 10, "product {i}");
                    }
                }
            });
        }
    }

    async fn futures_stock(store: &MemoryProductStore, ids: &[ProductId]) -> Vec<u32> {
        let mut out = Vec::new();
        for id in ids {
            out.push(store.get(*id).await.unwrap().unwrap().stock);
        }
        out
    }
}

/// The DynamoDB store, with and without its Redis read-through cache.
#[cfg(feature = "dynamodb")]
mod dynamodb {
    use super::*;
    use meridian_catalog::store::cache::ProductCache;
    use meridian_catalog::store::dynamo::DynamoProductStore;
    use meridian_common::events::{EventEnvelope, OutboxReader};
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use std::time::Duration;

    async fn store(endpoint: &str, cache: Option<ProductCache>) -> DynamoProductStore {
        let table = unique_namespace("products");
        DynamoProductStore::connect(Some(endpoint), "us-east-1", &table, cache)
            .await
            .unwrap()
    }

    async fn cache() -> Option<ProductCache> {
        let url = backend_endpoint("MERIDIAN_TEST_REDIS")?;
        let prefix = format!("{}:", unique_namespace("catalog"));
        Some(
            ProductCache::connect(&url, &prefix, Duration::from_secs(60))
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn dynamodb_product_store() {
        let Some(endpoint) = backend_endpoint("MERIDIAN_TEST_DYNAMODB") else {
            return;
        };
        product_store_contract(Arc::new(store(&endpoint, None).await)).await;
        write_contract(Arc::new(store(&endpoint, None).await)).await;
    }

    #[tokio::test]
    async fn dynamodb_product_store_behind_redis_cache() {
        let Some(endpoint) = backend_endpoint("MERIDIAN_TEST_DYNAMODB") else {
            return;
        };
        let Some(c) = cache().await else { return };
        product_store_contract(Arc::new(store(&endpoint, Some(c)).await)).await;
        let Some(c) = cache().await else { return };
        write_contract(Arc::new(store(&endpoint, Some(c)).await)).await;
    }

    /// Events are written with the change and drained in order.
    #[tokio::test]
    async fn dynamodb_outbox_commits_with_the_change() {
        let Some(endpoint) = backend_endpoint("MERIDIAN_TEST_DYNAMODB") else {
            return;
        };
        let store = store(&endpoint, None).await;
        let outbox = store.outbox();
        let product = demo::products().remove(0);
        let events: Vec<EventEnvelope> = (0..3)
            .map(|i| EventEnvelope::new("test", "catalog.product.created", 1, i, i))
            .collect();
        store.put(&product, events.clone()).await.unwrap();
        // A refused reservation writes no event.
        let outcome = store
            .reserve(
                uuid::Uuid::new_v4(),
                &[line(product.id, product.stock + 1)],
                events[..1].to_vec(),
            )
            .await
            .unwrap();
        assert!(outcome.is_err());
        assert_eq!(outbox.backlog().await.unwrap(), 3);
        let pending = outbox.pending(10).await.unwrap();
        assert_eq!(pending, events);
        let ids: Vec<_> = pending.iter().map(|e| e.id).collect();
        outbox.mark_published(&ids).await.unwrap();
        assert_eq!(outbox.backlog().await.unwrap(), 0);
    }

    /// A write is visible through the cache at once (invalidation), and a
    /// storm of reads of a cold product fills the cache once.
    #[tokio::test]
    async fn cache_is_invalidated_on_write_and_filled_once() {
        let Some(endpoint) = backend_endpoint("MERIDIAN_TEST_DYNAMODB") else {
            return;
        };
        let Some(c) = cache().await else { return };
        let store = Arc::new(store(&endpoint, Some(c)).await);
        let product = demo::products().remove(3);
        store.put(&product, Vec::new()).await.unwrap();
        let reads: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.get(product.id).await.unwrap().unwrap() })
            })
            .collect();
        for r in reads {
            assert_eq!(r.await.unwrap(), product);
        }
        store
            .set_stock(product.id, 77, chrono::Utc::now(), Vec::new())
            .await
            .unwrap();
        assert_eq!(store.get(product.id).await.unwrap().unwrap().stock, 77);
        store
            .reserve(uuid::Uuid::new_v4(), &[line(product.id, 7)], Vec::new())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(store.get(product.id).await.unwrap().unwrap().stock, 70);
    }
}
