//! A checkout whose outcome is unknown (a dependency did not answer) answers
//! 503 and the retry with the same key resumes the same order: one order,
//! one reservation, one capture, whatever step failed. Other services are
//! stubs that keep what they were asked, and fail a step on demand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use meridian_common::clients::{
    CartClient, CatalogClient, LogisticsClient, PaymentsClient, ProductSnapshot, SellersClient,
};
use meridian_common::events::MemoryOutbox;
use meridian_common::testing::router::{call, stub_client, Answer};
use meridian_common::{Currency, Money, ProductId, SellerId, UserId};
use meridian_orders::admission::{Admission, CheckoutLimits};
use meridian_orders::domain::Pricing;
use meridian_orders::store::memory::MemoryOrderStore;
use meridian_orders::store::OrderStore;
use meridian_orders::AppState;
use serde_json::{json, Value};
use uuid::Uuid;

/// What the stub services were asked, and which of their steps fail next.
#[derive(Default)]
struct Services {
    /// Reservation id → times reserved.
    reserved: Mutex<HashMap<String, u32>>,
    released: Mutex<Vec<String>>,
    /// Authorization key → the payment it made.
    authorized: Mutex<HashMap<String, Uuid>>,
    /// Capture keys, one entry per capture that took money.
    captured: Mutex<Vec<String>>,
    voided: Mutex<Vec<String>>,
    fail_reserve: AtomicU32,
    fail_capture: AtomicU32,
    /// Reserve answers after failing: 503 (unknown) or 409 out of stock.
    reserve_failure: Mutex<Option<StatusCode>>,
}

/// Takes one from a "fail the next N" switch.
fn failing(switch: &AtomicU32) -> bool {
    switch
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn error(status: StatusCode, code: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": code } })),
    )
        .into_response()
}

struct World {
    api: Router,
    store: Arc<MemoryOrderStore>,
    services: Arc<Services>,
}

fn world() -> World {
    let product = ProductId::new();
    let seller = SellerId::new();
    let services = Arc::new(Services::default());
    let catalog = Router::new()
        .route(
            "/internal/catalog/products/batch",
            post(move || async move {
                axum::Json(json!({ "items": [ProductSnapshot {
                    id: product,
                    seller_id: seller,
                    seller_name: "shop".into(),
                    title: "Thing".into(),
                    price: Money::new(2500, Currency::Usd),
                    stock: 50,
                    active: true,
                }] }))
            }),
        )
        .route(
            "/internal/catalog/reservations",
            post(
                |State(s): State<Arc<Services>>, axum::Json(body): axum::Json<Value>| async move {
                    let id = body["reservation_id"].as_str().unwrap().to_owned();
                    // A failure after the reservation was made: the caller
                    // cannot tell it from one before.
                    *s.reserved.lock().unwrap().entry(id).or_default() += 1;
                    if failing(&s.fail_reserve) {
                        let status = s.reserve_failure.lock().unwrap().unwrap();
                        let code = if status == StatusCode::CONFLICT {
                            "out_of_stock"
                        } else {
                            "unavailable"
                        };
                        return error(status, code);
                    }
                    StatusCode::NO_CONTENT.into_response()
                },
            ),
        )
        .route(
            "/internal/catalog/reservations/{id}/release",
            post(
                |State(s): State<Arc<Services>>, Path(id): Path<String>| async move {
                    s.released.lock().unwrap().push(id);
                    axum::Json(json!({ "released": true }))
                },
            ),
        )
        .with_state(services.clone());
    let payments = Router::new()
        .route(
            "/internal/payments/authorizations",
            post(
                |State(s): State<Arc<Services>>, axum::Json(body): axum::Json<Value>| async move {
                    let key = body["idempotency_key"].as_str().unwrap().to_owned();
                    let id = *s
                        .authorized
                        .lock()
                        .unwrap()
                        .entry(key)
                        .or_insert_with(Uuid::now_v7);
                    payment(id, body["amount"].clone(), 0)
                },
            ),
        )
        .route(
            "/internal/payments/payments/{id}/{step}",
            post(
                |State(s): State<Arc<Services>>,
                 Path((id, step)): Path<(Uuid, String)>,
                 axum::Json(body): axum::Json<Value>| async move {
                    let key = body["idempotency_key"].as_str().unwrap().to_owned();
                    match step.as_str() {
                        "capture" => {
                            let mut captured = s.captured.lock().unwrap();
                            if !captured.contains(&key) {
                                captured.push(key);
                            }
                            drop(captured);
                            if failing(&s.fail_capture) {
                                return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
                            }
                            payment(id, body["amount"].clone(), 2500).into_response()
                        }
                        _ => {
                            s.voided.lock().unwrap().push(key);
                            payment(id, json!({ "amount": 2500, "currency": "USD" }), 0)
                                .into_response()
                        }
                    }
                },
            ),
        )
        .with_state(services.clone());
    let cart = Router::new()
        .route(
            "/internal/cart/users/{user}",
            get(move || async move {
                axum::Json(json!({ "items": [{ "product_id": product, "quantity": 1 }] }))
            }),
        )
        .route(
            "/internal/cart/users/{user}/checked-out",
            post(|| async { StatusCode::NO_CONTENT }),
        );
    let nobody = |service| stub_client(service, Router::new());
    let store = Arc::new(MemoryOrderStore::new(MemoryOutbox::new()));
    let api = meridian_orders::router(AppState {
        store: store.clone(),
        catalog: CatalogClient(stub_client("catalog", catalog)),
        cart: CartClient(stub_client("cart", cart)),
        payments: PaymentsClient(stub_client("payments", payments)),
        sellers: SellersClient(nobody("sellers")),
        logistics: LogisticsClient(nobody("logistics")),
        pricing: Pricing {
            tax_rate_bp: 0,
            shipping_per_seller: 0,
            free_shipping_over: 0,
        },
        region: "portland".into(),
        admission: Admission::new(CheckoutLimits::default()),
    });
    World {
        api,
        store,
        services,
    }
}

fn payment(id: Uuid, amount: Value, captured: i64) -> axum::Json<Value> {
    axum::Json(json!({
        "id": id, "status": "authorized", "amount": amount, "captured": captured, "refunded": 0,
    }))
}

async fn checkout(w: &World, buyer: UserId, key: &str, token: &str) -> Answer {
    let body = json!({
        "shipping_address": { "name": "Ann", "line1": "1 Main St", "city": "Portland", "state": "OR", "postal_code": "97201", "country": "US" },
        "payment_token": token,
    });
    call(
        &w.api,
        "POST",
        "/checkout",
        &[("x-user-id", &buyer.to_string()), ("idempotency-key", key)],
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_capture_that_did_not_answer_is_resumed_not_repeated() {
    let w = world();
    let buyer = UserId::new();
    w.services.fail_capture.store(1, Ordering::SeqCst);
    let first = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!((first.status, first.code()), (503, "unavailable"));
    // Unknown whether the money moved: nothing is undone.
    assert!(w.services.voided.lock().unwrap().is_empty());
    assert!(w.services.released.lock().unwrap().is_empty());
    let pending = w.store.by_buyer(buyer, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].status,
        meridian_orders::domain::Status::PendingPayment
    );

    // A different request may not take the key over.
    let other = checkout(&w, buyer, "k-1", "tok_mastercard").await;
    assert_eq!((other.status, other.code()), (422, "idempotency_mismatch"));

    let retry = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(retry.status, 201, "{}", retry.json);
    assert_eq!(retry.json["id"], json!(pending[0].id));
    assert_eq!(retry.json["status"], "paid");
    let orders = w.store.by_buyer(buyer, 10).await.unwrap();
    assert_eq!(orders.len(), 1, "one order, not two");
    assert_eq!(w.services.authorized.lock().unwrap().len(), 1);
    assert_eq!(w.services.captured.lock().unwrap().len(), 1);
    // The same reservation asked for twice (the catalog makes it once).
    let reserved = w.services.reserved.lock().unwrap().clone();
    assert_eq!(reserved.len(), 1);
    assert_eq!(reserved.values().sum::<u32>(), 2);
    // And the answer is kept for later retries.
    let replay = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.json["id"], retry.json["id"]);
}

#[tokio::test]
async fn a_reservation_that_did_not_answer_is_resumed_and_a_refusal_fails_the_order() {
    let w = world();
    let buyer = UserId::new();
    *w.services.reserve_failure.lock().unwrap() = Some(StatusCode::SERVICE_UNAVAILABLE);
    w.services.fail_reserve.store(1, Ordering::SeqCst);
    let first = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(first.status, 503);
    let retry = checkout(&w, buyer, "k-1", "tok_visa").await;
    assert_eq!(retry.status, 201, "{}", retry.json);
    assert_eq!(w.store.by_buyer(buyer, 10).await.unwrap().len(), 1);
    assert_eq!(w.services.reserved.lock().unwrap().len(), 1);
    assert!(w.services.released.lock().unwrap().is_empty());

    // A refusal is an answer: the order fails and the key keeps the 409.
    *w.services.reserve_failure.lock().unwrap() = Some(StatusCode::CONFLICT);
    w.services.fail_reserve.store(1, Ordering::SeqCst);
    let refused = checkout(&w, buyer, "k-2", "tok_visa").await;
    assert_eq!((refused.status, refused.code()), (409, "out_of_stock"));
    let again = checkout(&w, buyer, "k-2", "tok_visa").await;
    assert_eq!((again.status, again.code()), (409, "out_of_stock"));
    let orders = w.store.by_buyer(buyer, 10).await.unwrap();
    assert_eq!(orders.len(), 2);
    assert_eq!(
        orders
            .iter()
            .filter(|o| o.status == meridian_orders::domain::Status::Cancelled)
            .count(),
        1
    );
}
