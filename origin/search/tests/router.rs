//! The search service's own router, through `oneshot`: the catalog pushes
//! a product in (internal route), shoppers find it, typos included, and
//! the catalog takes it out again.

use std::sync::Arc;

use meridian_common::clients::SearchDoc;
use meridian_common::testing::router::call;
use meridian_common::{Currency, Money, ProductId, SellerId};
use meridian_search::index::TantivyIndex;
use meridian_search::AppState;

fn doc(id: ProductId) -> SearchDoc {
    SearchDoc {
        product_id: id,
        seller_id: SellerId::new(),
        seller_name: "Clay & Co".into(),
        title: "Speckled stoneware teapot".into(),
        description: "Holds four cups.".into(),
        attributes: "glaze speckled".into(),
        category: "home-kitchen".into(),
        price: Money::new(3400, Currency::Usd),
        rating_centi: 450,
        rating_count: 2,
        in_stock: true,
        image_url: None,
        created_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn pushed_products_are_found_and_removed() {
    let state = AppState {
        index: Arc::new(TantivyIndex::in_memory().unwrap()),
    };
    let api = meridian_search::router(state.clone());
    let internal = meridian_search::internal_router(state);
    let id = ProductId::new();
    let path = format!("/products/{id}");
    let pushed = call(
        &internal,
        "PUT",
        &path,
        &[],
        Some(serde_json::to_value(doc(id)).unwrap()),
    )
    .await;
    assert_eq!(pushed.status, 200, "{}", pushed.text);
    // The body must be about the product in the path.
    let other = serde_json::to_value(doc(ProductId::new())).unwrap();
    let mismatch = call(&internal, "PUT", &path, &[], Some(other)).await;
    assert_eq!((mismatch.status, mismatch.code()), (400, "id_mismatch"));

    let found = call(&api, "GET", "/?q=speckld%20teapto", &[], None).await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json["total"], 1);
    assert_eq!(found.json["items"][0]["product_id"], id.to_string());
    assert!(found.header("surrogate-key").contains("search"));
    let bad = call(&api, "GET", "/?limit=0", &[], None).await;
    assert_eq!((bad.status, bad.code()), (422, "validation_failed"));

    let removed = call(&internal, "DELETE", &path, &[], None).await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    let gone = call(&api, "GET", "/?q=teapot", &[], None).await;
    assert_eq!(gone.json["total"], 0);
}
