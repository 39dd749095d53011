//! The logistics service's own router, through `oneshot`: a shipment opened
//! by orders, scans from the carrier (secret-checked), tracking for the
//! buyer only, and the delivered scan told to a stub orders service.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::Router;
use meridian_common::clients::{NewShipment, OrdersClient};
use meridian_common::events::MemoryOutbox;
use meridian_common::internal::InternalSecret;
use meridian_common::testing::router::{call, stub_client};
use meridian_common::{SellerId, UserId};
use meridian_logistics::store::memory::MemoryShipmentStore;
use meridian_logistics::AppState;
use serde_json::json;
use uuid::Uuid;

const CARRIER_SECRET: &str = "carrier-secret-0123456789";

#[tokio::test]
async fn scans_move_a_shipment_forward_and_only_its_buyer_tracks_it() {
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let told = delivered.clone();
    let orders = Router::new().route(
        "/internal/orders/{order}/sub-orders/{sub}/delivered",
        post(
            move |axum::extract::Path((o, s)): axum::extract::Path<(String, String)>| {
                let told = told.clone();
                async move {
                    told.lock().unwrap().push((o, s));
                    axum::Json(json!({}))
                }
            },
        ),
    );
    let state = AppState {
        store: Arc::new(MemoryShipmentStore::new(MemoryOutbox::new())),
        orders: OrdersClient(stub_client("orders", orders)),
        carrier_secret: InternalSecret::new(CARRIER_SECRET),
        region: "virginia".into(),
    };
    let api = meridian_logistics::router(state.clone());
    let internal = meridian_logistics::internal_router(state);
    let (order, sub, buyer) = (Uuid::now_v7(), Uuid::now_v7(), UserId::new());
    let shipment = NewShipment {
        order_id: order,
        sub_order_id: sub,
        seller_id: SellerId::new(),
        buyer_id: buyer,
        carrier: "UPS".into(),
        tracking_number: "1Z999".into(),
    };
    let opened = call(
        &internal,
        "POST",
        "/shipments",
        &[],
        Some(serde_json::to_value(&shipment).unwrap()),
    )
    .await;
    assert_eq!(opened.status, 201, "{}", opened.text);

    let scan =
        |status: &str| json!({ "carrier": "UPS", "tracking_number": "1Z999", "status": status });
    let forged = call(
        &api,
        "POST",
        "/carrier/updates",
        &[("x-carrier-secret", "guess")],
        Some(scan("delivered")),
    )
    .await;
    assert_eq!((forged.status, forged.code()), (401, "unauthorized"));
    let secret = [("x-carrier-secret", CARRIER_SECRET)];
    let moving = call(
        &api,
        "POST",
        "/carrier/updates",
        &secret,
        Some(scan("in_transit")),
    )
    .await;
    assert_eq!(
        (moving.status, moving.json["status"].as_str()),
        (200, Some("in_transit")),
        "{}",
        moving.text
    );
    assert!(delivered.lock().unwrap().is_empty());
    let done = call(
        &api,
        "POST",
        "/carrier/updates",
        &secret,
        Some(scan("delivered")),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(
        *delivered.lock().unwrap(),
        vec![(order.to_string(), sub.to_string())]
    );
    let back = call(
        &api,
        "POST",
        "/carrier/updates",
        &secret,
        Some(scan("in_transit")),
    )
    .await;
    assert_eq!((back.status, back.code()), (409, "illegal_transition"));

    let path = format!("/orders/{order}");
    let mine = call(
        &api,
        "GET",
        &path,
        &[("x-user-id", &buyer.to_string())],
        None,
    )
    .await;
    assert_eq!(mine.status, 200);
    let statuses: Vec<&str> = mine.json["items"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["label_created", "in_transit", "delivered"]);
    let other = call(
        &api,
        "GET",
        &path,
        &[("x-user-id", &UserId::new().to_string())],
        None,
    )
    .await;
    assert_eq!(other.status, 404);
    let bad = call(
        &api,
        "GET",
        "/orders/12",
        &[("x-user-id", &buyer.to_string())],
        None,
    )
    .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_id"));
}
