//! The `SearchIndex` contract, run against every impl (tantivy now,
//! Elasticsearch with the real stores).

use std::sync::Arc;

use chrono::{Duration, Utc};
use meridian_common::clients::SearchDoc;
use meridian_common::{Currency, Money, ProductId, SellerId};
use meridian_search::index::{SearchIndex, TantivyIndex};
use meridian_search::query::{SearchQuery, SortBy};

fn doc(
    title: &str,
    category: &str,
    price: i64,
    rating: u32,
    in_stock: bool,
    seller: SellerId,
    age_days: i64,
) -> SearchDoc {
    SearchDoc {
        product_id: ProductId::new(),
        seller_id: seller,
        seller_name: "Shop".into(),
        title: title.into(),
        description: format!("A fine {}", title.to_lowercase()),
        attributes: "black steel".into(),
        category: category.into(),
        price: Money::new(price, Currency::Usd),
        rating_centi: rating,
        rating_count: u32::from(rating > 0),
        in_stock,
        image_url: None,
        created_at: Utc::now() - Duration::days(age_days),
    }
}

fn query(text: Option<&str>) -> SearchQuery {
    SearchQuery {
        text: text.map(str::to_owned),
        category: None,
        seller: None,
        min_price: None,
        max_price: None,
        min_rating_centi: None,
        in_stock: false,
        sort: SortBy::Relevance,
        limit: 20,
        offset: 0,
    }
}

fn titles(r: &meridian_search::index::Results) -> Vec<String> {
    r.items.iter().map(|d| d.title.clone()).collect()
}

async fn search_index_contract(index: Arc<dyn SearchIndex>) {
    index.ping().await.unwrap();
    let (a, b) = (SellerId::new(), SellerId::new());
    let docs = vec![
        doc("Wireless Headphones", "electronics", 9999, 450, true, a, 1),
        doc("Studio Headphones", "electronics", 19999, 480, false, b, 2),
        doc("Bluetooth Speaker", "electronics", 4999, 300, true, a, 3),
        doc("Cast Iron Teapot", "home-kitchen", 3499, 500, true, b, 4),
        doc("Headphone Stand", "home-kitchen", 1999, 0, true, a, 5),
    ];
    index.upsert(&docs).await.unwrap();

    // Typo tolerance and relevance: the title matches rank first.
    // "hedphones" is within two edits of "headphones" and "headphone".
    let r = index.search(&query(Some("hedphones"))).await.unwrap();
    assert_eq!(r.total, 3, "{:?}", titles(&r));
    assert!(titles(&r).iter().all(|t| t.contains("Headphone")));
    let r = index.search(&query(Some("headphones"))).await.unwrap();
    assert_eq!(r.items.len(), 3);
    assert!(
        r.items[2].title.contains("Stand"),
        "exact matches rank above fuzzy ones: {:?}",
        titles(&r)
    );
    let r = index.search(&query(Some("teapot iron"))).await.unwrap();
    assert_eq!(titles(&r), ["Cast Iron Teapot"]);
    assert_eq!(
        index.search(&query(Some("xylophone"))).await.unwrap().total,
        0
    );

    // Filters.
    let mut q = query(Some("headphones"));
    q.in_stock = true;
    assert_eq!(
        titles(&index.search(&q).await.unwrap()),
        ["Wireless Headphones", "Headphone Stand"]
    );
    let mut q = query(None);
    q.min_price = Some(3000);
    q.max_price = Some(10000);
    q.sort = SortBy::PriceAsc;
    assert_eq!(
        titles(&index.search(&q).await.unwrap()),
        [
            "Cast Iron Teapot",
            "Bluetooth Speaker",
            "Wireless Headphones"
        ]
    );
    let mut q = query(None);
    q.seller = Some(b);
    assert_eq!(index.search(&q).await.unwrap().total, 2);
    let mut q = query(None);
    q.min_rating_centi = Some(450);
    assert_eq!(index.search(&q).await.unwrap().total, 3);

    // Facets count every category, ignoring the category filter itself.
    let mut q = query(None);
    q.category = Some("electronics".into());
    let r = index.search(&q).await.unwrap();
    assert_eq!(r.total, 3);
    assert_eq!(r.facets.get("electronics"), Some(&3));
    assert_eq!(r.facets.get("home-kitchen"), Some(&2));

    // Sorts and pagination.
    let mut q = query(None);
    q.sort = SortBy::Newest;
    q.limit = 2;
    assert_eq!(
        titles(&index.search(&q).await.unwrap()),
        ["Wireless Headphones", "Studio Headphones"]
    );
    q.offset = 2;
    assert_eq!(
        titles(&index.search(&q).await.unwrap()),
        ["Bluetooth Speaker", "Cast Iron Teapot"]
    );
    let mut q = query(None);
    q.sort = SortBy::PriceDesc;
    q.limit = 1;
    assert_eq!(
        titles(&index.search(&q).await.unwrap()),
        ["Studio Headphones"]
    );
    let mut q = query(None);
    q.sort = SortBy::Rating;
    q.limit = 1;
    assert_eq!(
        titles(&index.search(&q).await.unwrap()),
        ["Cast Iron Teapot"]
    );

    // Upsert replaces; remove deletes.
    let mut renamed = docs[2].clone();
    renamed.title = "Portable Radio".into();
    renamed.description = "AM/FM".into();
    index.upsert(std::slice::from_ref(&renamed)).await.unwrap();
    assert_eq!(
        index.search(&query(Some("speaker"))).await.unwrap().total,
        0
    );
    assert_eq!(index.search(&query(Some("radio"))).await.unwrap().total, 1);
    index.remove(renamed.product_id).await.unwrap();
    assert_eq!(index.search(&query(None)).await.unwrap().total, 4);
}

#[tokio::test]
async fn tantivy_index() {
    search_index_contract(Arc::new(TantivyIndex::in_memory().unwrap())).await;
}

#[cfg(feature = "elasticsearch")]
#[tokio::test]
async fn elasticsearch_index() {
    use meridian_common::testing::{backend_endpoint, unique_namespace};
    use meridian_search::elastic::ElasticIndex;

    let Some(url) = backend_endpoint("MERIDIAN_TEST_ELASTICSEARCH") else {
        return;
    };
    let index = unique_namespace("products");
    search_index_contract(Arc::new(ElasticIndex::connect(&url, &index).await.unwrap())).await;
}
