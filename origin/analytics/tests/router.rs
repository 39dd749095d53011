//! The analytics service's own router, through `oneshot`: a shop's own
//! figures from one paid order, the ops credential on platform figures,
//! and ranges checked before any query.

use std::sync::Arc;

use meridian_analytics::domain::decode;
use meridian_analytics::store::memory::MemoryAnalyticsStore;
use meridian_analytics::store::AnalyticsStore;
use meridian_analytics::AppState;
use meridian_common::clients::{SellersClient, ShopRef};
use meridian_common::events::EventEnvelope;
use meridian_common::internal::InternalSecret;
use meridian_common::testing::router::{call, sellers_knowing};
use meridian_common::{SellerId, UserId};
use serde_json::json;

const OPS_TOKEN: &str = "ops-token-0123456789";

#[tokio::test]
async fn a_shop_sees_its_sales_and_operators_need_their_token() {
    let (seller, owner) = (SellerId::new(), UserId::new());
    let store = Arc::new(MemoryAnalyticsStore::new());
    let usd = |amount: i64| json!({ "amount": amount, "currency": "USD" });
    let mut paid = EventEnvelope::new(
        "chicago",
        "orders.order.paid",
        1,
        "o1",
        json!({ "order_id": "o1", "buyer_id": "b", "status": "paid", "total": usd(7300), "failure": null,
                "sub_orders": [{ "sub_order_id": "s1", "seller_id": seller, "total": usd(7300),
                                 "lines": [{ "product_id": "p1", "quantity": 2, "unit_price": usd(3400) }] }] }),
    );
    paid.occurred_at = "2026-11-30T12:00:00Z".parse().unwrap();
    let record = decode("test/o1", None, None, &serde_json::to_vec(&paid).unwrap());
    store.ingest(&[record]).await.unwrap();
    let api = meridian_analytics::router(AppState {
        store,
        sellers: SellersClient(sellers_knowing(
            owner,
            ShopRef {
                seller_id: seller,
                name: "Clay".into(),
                slug: "clay".into(),
            },
        )),
        admin_token: InternalSecret::new(OPS_TOKEN),
    });
    let range = "from=2026-11-01&to=2026-11-30";

    let me = owner.to_string();
    let mine = call(
        &api,
        "GET",
        &format!("/seller/summary?{range}"),
        &[("x-user-id", &me)],
        None,
    )
    .await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.header("cache-control"), "private, no-store");
    assert_eq!(mine.json["sales"]["totals"][0]["gross_cents"], 7300);
    assert_eq!(mine.json["sales"]["totals"][0]["orders"], 1);
    let anonymous = call(&api, "GET", &format!("/seller/summary?{range}"), &[], None).await;
    assert_eq!(anonymous.status, 401);
    let shopper = UserId::new().to_string();
    let no_shop = call(
        &api,
        "GET",
        &format!("/seller/summary?{range}"),
        &[("x-user-id", &shopper)],
        None,
    )
    .await;
    assert_eq!(no_shop.status, 403);

    let backwards = call(
        &api,
        "GET",
        "/seller/summary?from=2026-11-30&to=2026-11-01",
        &[("x-user-id", &me)],
        None,
    )
    .await;
    assert_eq!(
        (backwards.status, backwards.code()),
        (422, "validation_failed")
    );
    let unknown = call(
        &api,
        "GET",
        "/seller/summary?fro=2026-11-01",
        &[("x-user-id", &me)],
        None,
    )
    .await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);

    let platform = format!("/platform/summary?{range}");
    assert_eq!(call(&api, "GET", &platform, &[], None).await.status, 401);
    assert_eq!(
        call(&api, "GET", &platform, &[("x-admin-token", "guess")], None)
            .await
            .status,
        403
    );
    let ops = call(
        &api,
        "GET",
        &platform,
        &[("x-admin-token", OPS_TOKEN)],
        None,
    )
    .await;
    assert_eq!(ops.status, 200, "{}", ops.text);
}
