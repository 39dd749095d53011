//! The `ProductStore` contract, run against every implementation. The
//! DynamoDB store joins this list with the real-stores work.

use std::collections::HashSet;
use std::sync::Arc;

use meridian_catalog::demo;
use meridian_catalog::domain::{Category, ListQuery, Sort};
use meridian_catalog::store::memory::MemoryProductStore;
use meridian_catalog::store::ProductStore;
use meridian_common::ProductId;

async fn walk(
    store: &dyn ProductStore,
    category: Option<&str>,
    sort: Sort,
    limit: u32,
) -> Vec<ProductId> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = ListQuery::parse(category, Some(sort), Some(limit), cursor.as_deref()).unwrap();
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
    let categories = store.categories().await.unwrap();
    assert_eq!(categories.len(), 10);
    assert!(categories.iter().all(|c| c.product_count == 24));

    // put replaces and re-indexes.
    let mut changed = first.clone();
    changed.price.amount = 1;
    changed.category = Category::parse("garden").unwrap();
    store.put(&changed).await.unwrap();
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

#[tokio::test]
async fn memory_product_store() {
    product_store_contract(Arc::new(MemoryProductStore::default())).await;
}
