//! The cart's own router, through `oneshot`, with the embedded store and a
//! stub catalog that knows one product on sale and one archived.

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use meridian_cart::store::memory::MemoryCartStore;
use meridian_cart::AppState;
use meridian_common::clients::{CatalogClient, ProductSnapshot};
use meridian_common::events::MemoryOutbox;
use meridian_common::testing::router::{call, stub_client};
use meridian_common::{Currency, Money, ProductId, SellerId};
use serde_json::{json, Value};

fn snapshot(id: ProductId, active: bool) -> ProductSnapshot {
    ProductSnapshot {
        id,
        seller_id: SellerId::new(),
        seller_name: "Clay & Co".into(),
        title: "Speckled teapot".into(),
        price: Money::new(3400, Currency::Usd),
        stock: 7,
        active,
    }
}

fn cart(on_sale: ProductId, archived: ProductId) -> Router {
    let catalog = Router::new().route(
        "/internal/catalog/products/batch",
        post(move |axum::Json(body): axum::Json<Value>| async move {
            let items: Vec<ProductSnapshot> = body["ids"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|id| {
                    let id: ProductId = id.as_str()?.parse().ok()?;
                    (id == on_sale || id == archived).then(|| snapshot(id, id == on_sale))
                })
                .collect();
            axum::Json(json!({ "items": items }))
        }),
    );
    meridian_cart::router(AppState {
        store: Arc::new(MemoryCartStore::new(MemoryOutbox::new())),
        catalog: CatalogClient(stub_client("catalog", catalog)),
        region: "dallas".into(),
        cookie_secure: true,
    })
}

#[tokio::test]
async fn a_guest_cart_lives_behind_its_cookie() {
    let (teapot, old) = (ProductId::new(), ProductId::new());
    let api = cart(teapot, old);
    let add = json!({ "product_id": teapot, "quantity": 2 });
    let added = call(&api, "POST", "/items", &[], Some(add)).await;
    assert_eq!(added.status, 200, "{}", added.text);
    let cookie = added
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("meridian_cart="), "{cookie}");

    let view = call(&api, "GET", "/", &[("cookie", &cookie)], None).await;
    assert_eq!(view.status, 200);
    assert_eq!(view.json["items"][0]["product_id"], teapot.to_string());
    assert_eq!(view.json["items"][0]["quantity"], 2);
    assert_eq!(view.json["items"][0]["line_total"]["amount"], 6800);
    // Without the cookie it is somebody else's (empty) cart.
    let stranger = call(&api, "GET", "/", &[], None).await;
    assert_eq!(stranger.json["items"], json!([]));

    let set = call(
        &api,
        "PUT",
        &format!("/items/{teapot}"),
        &[("cookie", &cookie)],
        Some(json!({ "quantity": 5 })),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let view = call(&api, "GET", "/", &[("cookie", &cookie)], None).await;
    assert_eq!(view.json["items"][0]["quantity"], 5);
}

#[tokio::test]
async fn lines_the_cart_cannot_hold_are_refused_and_nothing_changes() {
    let (teapot, old) = (ProductId::new(), ProductId::new());
    let api = cart(teapot, old);
    let user = meridian_common::UserId::new().to_string();
    let me = [("x-user-id", user.as_str())];
    let too_many = call(
        &api,
        "POST",
        "/items",
        &me,
        Some(json!({ "product_id": teapot, "quantity": 100 })),
    )
    .await;
    assert_eq!(
        (too_many.status, too_many.code()),
        (422, "validation_failed")
    );
    let archived = call(
        &api,
        "POST",
        "/items",
        &me,
        Some(json!({ "product_id": old, "quantity": 1 })),
    )
    .await;
    assert_eq!(
        (archived.status, archived.code()),
        (409, "unavailable_product")
    );
    let unknown = call(
        &api,
        "POST",
        "/items",
        &me,
        Some(json!({ "product_id": ProductId::new(), "quantity": 1 })),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let bad_id = call(&api, "DELETE", "/items/teapot", &me, None).await;
    assert_eq!((bad_id.status, bad_id.code()), (400, "invalid_id"));
    let view = call(&api, "GET", "/", &me, None).await;
    assert_eq!(view.json["items"], json!([]), "{}", view.text);
}
