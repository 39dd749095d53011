//! The catalog's own router, through `oneshot`, with the embedded store
//! and stubs of the two services it calls: sellers (whose shop is acting)
//! and search (every change is pushed there).

use std::sync::{Arc, Mutex};

use axum::routing::put;
use axum::Router;
use meridian_catalog::store::memory::MemoryProductStore;
use meridian_catalog::AppState;
use meridian_common::clients::{SearchClient, SellersClient, ShopRef};
use meridian_common::events::MemoryOutbox;
use meridian_common::testing::router::{call, sellers_knowing, stub_client};
use meridian_common::{SellerId, UserId};
use serde_json::{json, Value};

struct World {
    api: Router,
    owner: String,
    shop: SellerId,
    /// Product ids the search stub was asked to index.
    indexed: Arc<Mutex<Vec<String>>>,
}

async fn world() -> World {
    let owner = UserId::new();
    let shop = SellerId::new();
    let indexed = Arc::new(Mutex::new(Vec::new()));
    let seen = indexed.clone();
    let search = Router::new().route(
        "/internal/search/products/{id}",
        put(
            move |axum::extract::Path(id): axum::extract::Path<String>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(id);
                    axum::Json(json!({}))
                }
            },
        ),
    );
    let products = Arc::new(MemoryProductStore::new(MemoryOutbox::new()));
    meridian_catalog::demo::seed_if_empty(products.as_ref())
        .await
        .unwrap();
    let state = AppState {
        products,
        sellers: SellersClient(sellers_knowing(
            owner,
            ShopRef {
                seller_id: shop,
                name: "Clay & Co".into(),
                slug: "clay-co".into(),
            },
        )),
        search: SearchClient(stub_client("search", search)),
        region: "chicago".into(),
    };
    World {
        api: meridian_catalog::router(state),
        owner: owner.to_string(),
        shop,
        indexed,
    }
}

fn new_product() -> Value {
    json!({
        "title": "Speckled teapot",
        "price": { "amount": 3400, "currency": "USD" },
        "category": "home-kitchen",
        "stock": 5
    })
}

#[tokio::test]
async fn a_seller_lists_a_product_that_shoppers_then_read() {
    let w = world().await;
    let owner = [("x-user-id", w.owner.as_str())];
    let created = call(&w.api, "POST", "/products", &owner, Some(new_product())).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["seller_id"], w.shop.to_string());
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(*w.indexed.lock().unwrap(), vec![id.clone()]);

    let read = call(&w.api, "GET", &format!("/products/{id}"), &[], None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json["title"], "Speckled teapot");
    assert_eq!(read.json["stock"], 5);
    // Tagged for the edge's purges.
    assert!(read
        .header("surrogate-key")
        .contains(&format!("product:{id}")));

    let stock = call(
        &w.api,
        "PUT",
        &format!("/products/{id}/stock"),
        &owner,
        Some(json!({ "stock": 9 })),
    )
    .await;
    assert_eq!(stock.status, 200, "{}", stock.text);
    let read = call(&w.api, "GET", &format!("/products/{id}"), &[], None).await;
    assert_eq!(read.json["stock"], 9);
}

#[tokio::test]
async fn only_the_owning_seller_writes_and_bad_ids_are_named() {
    let w = world().await;
    let anonymous = call(&w.api, "POST", "/products", &[], Some(new_product())).await;
    assert_eq!((anonymous.status, anonymous.code()), (401, "unauthorized"));
    let shopper = UserId::new().to_string();
    let not_seller = call(
        &w.api,
        "POST",
        "/products",
        &[("x-user-id", &shopper)],
        Some(new_product()),
    )
    .await;
    assert_eq!((not_seller.status, not_seller.code()), (403, "forbidden"));
    assert!(w.indexed.lock().unwrap().is_empty());

    // A demo product belongs to a demo shop, not this seller's.
    let page = call(&w.api, "GET", "/products?limit=2", &[], None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.json["items"].as_array().unwrap().len(), 2);
    assert!(page.json["next_cursor"].is_string());
    let theirs = page.json["items"][0]["id"].as_str().unwrap().to_owned();
    let edit = call(
        &w.api,
        "PATCH",
        &format!("/products/{theirs}"),
        &[("x-user-id", w.owner.as_str())],
        Some(json!({ "title": "Mine now" })),
    )
    .await;
    assert_eq!(edit.status, 403, "{}", edit.text);
    let read = call(&w.api, "GET", &format!("/products/{theirs}"), &[], None).await;
    assert_ne!(read.json["title"], "Mine now");

    let bad = call(&w.api, "GET", "/products/not-a-uuid", &[], None).await;
    assert_eq!(
        (bad.status, bad.json["error"]["message"].as_str()),
        (400, Some("product id must be a UUID"))
    );
    let unknown = call(
        &w.api,
        "GET",
        &format!("/products/{}", uuid::Uuid::now_v7()),
        &[],
        None,
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
}
