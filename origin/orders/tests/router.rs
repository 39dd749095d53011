//! The orders service's own router, through `oneshot`: quotes priced from
//! a stub catalog, a buyer's orders, and checkout's Idempotency-Key rule
//! (other services are stubs that know nothing).

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use meridian_common::clients::{
    CartClient, CatalogClient, LogisticsClient, PaymentsClient, ProductSnapshot, SellersClient,
};
use meridian_common::events::MemoryOutbox;
use meridian_common::testing::router::{call, stub_client};
use meridian_common::{Currency, Money, ProductId, SellerId, UserId};
use meridian_orders::admission::{Admission, CheckoutLimits};
use meridian_orders::domain::Pricing;
use meridian_orders::store::memory::MemoryOrderStore;
use meridian_orders::store::OrderStore;
use meridian_orders::AppState;
use serde_json::{json, Value};

struct World {
    api: Router,
    store: Arc<MemoryOrderStore>,
    /// (product, seller, unit price) the stub catalog sells.
    products: Vec<(ProductId, SellerId, i64)>,
}

fn world() -> World {
    let products = vec![
        (ProductId::new(), SellerId::new(), 3400),
        (ProductId::new(), SellerId::new(), 1000),
    ];
    let known = products.clone();
    let catalog = Router::new().route(
        "/internal/catalog/products/batch",
        post(move |axum::Json(body): axum::Json<Value>| async move {
            let items: Vec<ProductSnapshot> = known
                .iter()
                .filter(|(id, ..)| body["ids"].as_array().unwrap().contains(&json!(id)))
                .map(|&(id, seller_id, price)| ProductSnapshot {
                    id,
                    seller_id,
                    seller_name: format!("shop {seller_id}"),
                    title: "Thing".into(),
                    price: Money::new(price, Currency::Usd),
                    stock: 50,
                    active: true,
                })
                .collect();
            axum::Json(json!({ "items": items }))
        }),
    );
    let nobody = |service| stub_client(service, Router::new());
    let store = Arc::new(MemoryOrderStore::new(MemoryOutbox::new()));
    let api = meridian_orders::router(AppState {
        store: store.clone(),
        catalog: CatalogClient(stub_client("catalog", catalog)),
        cart: CartClient(nobody("cart")),
        payments: PaymentsClient(nobody("payments")),
        sellers: SellersClient(nobody("sellers")),
        logistics: LogisticsClient(nobody("logistics")),
        pricing: Pricing {
            tax_rate_bp: 825,
            shipping_per_seller: 599,
            free_shipping_over: 5000,
        },
        region: "portland".into(),
        admission: Admission::new(CheckoutLimits::default()),
    });
    World {
        api,
        store,
        products,
    }
}

#[tokio::test]
async fn a_quote_prices_each_sellers_part_and_adds_up() {
    let w = world();
    let lines = json!({ "lines": [
        { "product_id": w.products[0].0, "quantity": 2 },
        { "product_id": w.products[1].0, "quantity": 1 }
    ]});
    let quote = call(&w.api, "POST", "/quote", &[], Some(lines)).await;
    assert_eq!(quote.status, 200, "{}", quote.text);
    let amount = |v: &Value| v["amount"].as_i64().unwrap();
    let q = &quote.json;
    assert_eq!(amount(&q["items"]), 7800);
    // Over the free-shipping threshold the first shop ships free; the second pays.
    let shipping: Vec<i64> = q["sellers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| amount(&s["shipping"]))
        .collect();
    assert_eq!(shipping.iter().sum::<i64>(), 599);
    assert!(shipping.contains(&0));
    // 8.25 % of each shop's items, rounded half up.
    assert_eq!(amount(&q["tax"]), 561 + 83);
    assert_eq!(amount(&q["total"]), 7800 + 599 + 644);
    assert_eq!(quote.header("cache-control"), "no-store");

    let empty = call(&w.api, "POST", "/quote", &[], Some(json!({ "lines": [] }))).await;
    assert_eq!((empty.status, empty.code()), (422, "validation_failed"));
}

#[tokio::test]
async fn orders_are_the_buyers_own_and_checkout_needs_a_key() {
    let w = world();
    let anonymous = call(&w.api, "GET", "/", &[], None).await;
    assert_eq!((anonymous.status, anonymous.code()), (401, "unauthorized"));
    let buyer = UserId::new();
    let me = buyer.to_string();
    let mine = call(&w.api, "GET", "/", &[("x-user-id", &me)], None).await;
    assert_eq!((mine.status, &mine.json), (200, &json!({ "items": [] })));
    let bad = call(&w.api, "GET", "/not-an-order", &[("x-user-id", &me)], None).await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_id"));
    let unknown = call(
        &w.api,
        "GET",
        &format!("/{}", uuid::Uuid::now_v7()),
        &[("x-user-id", &me)],
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);

    let body = json!({
        "shipping_address": { "name": "Ann", "line1": "1 Main St", "city": "Portland", "state": "OR", "postal_code": "97201", "country": "US" },
        "payment_token": "tok_visa"
    });
    let no_key = call(
        &w.api,
        "POST",
        "/checkout",
        &[("x-user-id", &me)],
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (no_key.status, no_key.code()),
        (400, "idempotency_key_required")
    );
    let empty_key = call(
        &w.api,
        "POST",
        "/checkout",
        &[("x-user-id", &me), ("idempotency-key", "")],
        Some(body),
    )
    .await;
    assert_eq!(
        (empty_key.status, empty_key.code()),
        (400, "invalid_idempotency_key")
    );
    assert!(w.store.by_buyer(buyer, 10).await.unwrap().is_empty());
}
