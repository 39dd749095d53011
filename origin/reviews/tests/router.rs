//! The reviews service's own router, through `oneshot`: only a buyer whose
//! order was delivered may review (a stub orders service knows one), the
//! summary follows, and only the product's seller replies.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use meridian_common::clients::{OrdersClient, SellersClient, ShopRef};
use meridian_common::events::MemoryOutbox;
use meridian_common::testing::router::{call, sellers_knowing, stub_client};
use meridian_common::{ProductId, SellerId, UserId};
use meridian_reviews::store::memory::MemoryReviewStore;
use meridian_reviews::AppState;
use serde_json::json;

#[tokio::test]
async fn buyers_review_what_they_received_and_the_seller_replies() {
    let (buyer, product, seller, owner) = (
        UserId::new(),
        ProductId::new(),
        SellerId::new(),
        UserId::new(),
    );
    let orders = Router::new().route(
        "/internal/orders/purchases/{user}/{product}",
        get(
            move |axum::extract::Path((u, p)): axum::extract::Path<(String, String)>| async move {
                let bought = u == buyer.to_string() && p == product.to_string();
                axum::Json(json!({ "seller_id": bought.then_some(seller) }))
            },
        ),
    );
    let api = meridian_reviews::router(AppState {
        store: Arc::new(MemoryReviewStore::new(MemoryOutbox::new())),
        orders: OrdersClient(stub_client("orders", orders)),
        sellers: SellersClient(sellers_knowing(
            owner,
            ShopRef {
                seller_id: seller,
                name: "Clay".into(),
                slug: "clay".into(),
            },
        )),
        region: "new-york".into(),
    });
    let path = format!("/products/{product}");
    let as_user = |u: UserId| u.to_string();

    let stranger = as_user(UserId::new());
    let refused = call(
        &api,
        "POST",
        &path,
        &[("x-user-id", &stranger)],
        Some(json!({ "rating": 5 })),
    )
    .await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    let me = as_user(buyer);
    let out_of_range = call(
        &api,
        "POST",
        &path,
        &[("x-user-id", &me)],
        Some(json!({ "rating": 6 })),
    )
    .await;
    assert_eq!(
        (out_of_range.status, out_of_range.code()),
        (422, "validation_failed")
    );
    let written = call(
        &api,
        "POST",
        &path,
        &[("x-user-id", &me)],
        Some(json!({ "rating": 4, "text": "Lovely glaze" })),
    )
    .await;
    assert_eq!(written.status, 201, "{}", written.text);
    let review = written.json["id"].as_str().unwrap().to_owned();
    // Submitting again edits the one review.
    let edited = call(
        &api,
        "POST",
        &path,
        &[("x-user-id", &me)],
        Some(json!({ "rating": 2 })),
    )
    .await;
    assert_eq!(edited.status, 200, "{}", edited.text);

    let summary = call(&api, "GET", &format!("{path}/summary"), &[], None).await;
    assert_eq!(summary.json["count"], 1, "{}", summary.text);
    assert_eq!(summary.json["histogram"], json!([0, 1, 0, 0, 0]));

    let reply = json!({ "text": "Thank you!" });
    let not_theirs = call(
        &api,
        "POST",
        &format!("/{review}/reply"),
        &[("x-user-id", &me)],
        Some(reply.clone()),
    )
    .await;
    assert_eq!(not_theirs.status, 403);
    let answered = call(
        &api,
        "POST",
        &format!("/{review}/reply"),
        &[("x-user-id", &as_user(owner))],
        Some(reply),
    )
    .await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    let listed = call(&api, "GET", &path, &[], None).await;
    assert_eq!(
        listed.json["items"][0]["reply"]["text"], "Thank you!",
        "{}",
        listed.text
    );
    let bad = call(&api, "POST", "/nope/helpful", &[("x-user-id", &me)], None).await;
    assert_eq!(
        (bad.status, bad.json["error"]["message"].as_str()),
        (400, Some("review id must be a UUID"))
    );
}
