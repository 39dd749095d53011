//! A checkout's world for tests: the orders service on its memory store,
//! and the services it calls as stubs that keep what they were asked and
//! fail a step on demand.

// Each test binary (resume, sweeper) uses part of this world.
#![allow(dead_code)]

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
use meridian_orders::AppState;
use serde_json::{json, Value};
use uuid::Uuid;

/// What the stub services were asked, and which of their steps fail next.
#[derive(Default)]
pub struct Services {
    /// Reservation id → times reserved.
    pub reserved: Mutex<HashMap<String, u32>>,
    pub released: Mutex<Vec<String>>,
    /// Authorization key → the payment it made.
    pub authorized: Mutex<HashMap<String, Uuid>>,
    /// Each payment's status now.
    pub status: Mutex<HashMap<Uuid, &'static str>>,
    /// Capture keys, one entry per capture that took money.
    pub captured: Mutex<Vec<String>>,
    pub voided: Mutex<Vec<String>>,
    /// Refund keys and amounts.
    pub refunded: Mutex<Vec<(String, i64)>>,
    pub fail_cart: AtomicU32,
    pub fail_reserve: AtomicU32,
    /// Captures that take the money, then fail to answer.
    pub fail_capture: AtomicU32,
    /// Captures that fail to answer before taking anything.
    pub lose_capture: AtomicU32,
    /// Lookups of a payment by its authorization key that fail to answer.
    pub lose_lookup: AtomicU32,
    /// Reserve answers after failing: 503 (unknown) or 409 out of stock.
    pub reserve_failure: Mutex<Option<StatusCode>>,
}

/// Takes one from a "fail the next N" switch.
pub fn failing(switch: &AtomicU32) -> bool {
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

pub struct World {
    pub api: Router,
    pub state: AppState,
    pub store: Arc<MemoryOrderStore>,
    pub services: Arc<Services>,
}

const PRICE: i64 = 2500;

fn catalog(services: &Arc<Services>, product: ProductId, seller: SellerId) -> Router {
    Router::new()
        .route(
            "/internal/catalog/products/batch",
            post(move || async move {
                axum::Json(json!({ "items": [ProductSnapshot {
                    id: product,
                    seller_id: seller,
                    seller_name: "shop".into(),
                    title: "Thing".into(),
                    price: Money::new(PRICE, Currency::Usd),
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
        .with_state(services.clone())
}

fn payment(s: &Services, id: Uuid) -> Response {
    let status = s.status.lock().unwrap()[&id];
    let captured = if status == "authorized" || status == "voided" {
        0
    } else {
        PRICE
    };
    let refunded: i64 = s.refunded.lock().unwrap().iter().map(|r| r.1).sum();
    axum::Json(json!({
        "id": id, "status": status, "amount": { "amount": PRICE, "currency": "USD" },
        "captured": captured, "refunded": refunded,
    }))
    .into_response()
}

/// One step of a payment's life: the money moves (or not), then the stub
/// answers (or fails to).
fn step(s: &Services, id: Uuid, step: &str, key: String, amount: &Value) -> Response {
    match step {
        "capture" => {
            if failing(&s.lose_capture) {
                return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
            }
            let mut captured = s.captured.lock().unwrap();
            if !captured.contains(&key) {
                captured.push(key);
            }
            drop(captured);
            s.status.lock().unwrap().insert(id, "captured");
            if failing(&s.fail_capture) {
                return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
            }
        }
        "void" => {
            s.voided.lock().unwrap().push(key);
            s.status.lock().unwrap().insert(id, "voided");
        }
        _ => {
            let refund = amount["amount"].as_i64().unwrap();
            s.refunded.lock().unwrap().push((key, refund));
            s.status.lock().unwrap().insert(id, "refunded");
        }
    }
    payment(s, id)
}

fn payments(services: &Arc<Services>) -> Router {
    Router::new()
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
                    s.status.lock().unwrap().entry(id).or_insert("authorized");
                    payment(&s, id)
                },
            ),
        )
        .route(
            "/internal/payments/authorizations/{key}",
            get(
                |State(s): State<Arc<Services>>, Path(key): Path<String>| async move {
                    if failing(&s.lose_lookup) {
                        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
                    }
                    let made = s.authorized.lock().unwrap().get(&key).copied();
                    match made {
                        Some(id) => payment(&s, id),
                        None => error(StatusCode::NOT_FOUND, "not_found"),
                    }
                },
            ),
        )
        .route(
            "/internal/payments/payments/{id}/{step}",
            post(
                |State(s): State<Arc<Services>>,
                 Path((id, name)): Path<(Uuid, String)>,
                 axum::Json(body): axum::Json<Value>| async move {
                    let key = body["idempotency_key"].as_str().unwrap().to_owned();
                    step(&s, id, &name, key, &body["amount"])
                },
            ),
        )
        .with_state(services.clone())
}

fn cart(services: &Arc<Services>, product: ProductId) -> Router {
    Router::new()
        .route(
            "/internal/cart/users/{user}",
            get(move |State(s): State<Arc<Services>>| async move {
                if failing(&s.fail_cart) {
                    return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
                }
                axum::Json(json!({ "items": [{ "product_id": product, "quantity": 1 }] }))
                    .into_response()
            }),
        )
        .route(
            "/internal/cart/users/{user}/checked-out",
            post(|| async { StatusCode::NO_CONTENT }),
        )
        .with_state(services.clone())
}

pub fn world() -> World {
    let product = ProductId::new();
    let seller = SellerId::new();
    let services = Arc::new(Services::default());
    let nobody = |service| stub_client(service, Router::new());
    let store = Arc::new(MemoryOrderStore::new(MemoryOutbox::new()));
    let state = AppState {
        store: store.clone(),
        catalog: CatalogClient(stub_client("catalog", catalog(&services, product, seller))),
        cart: CartClient(stub_client("cart", cart(&services, product))),
        payments: PaymentsClient(stub_client("payments", payments(&services))),
        sellers: SellersClient(nobody("sellers")),
        logistics: LogisticsClient(nobody("logistics")),
        pricing: Pricing {
            tax_rate_bp: 0,
            shipping_per_seller: 0,
            free_shipping_over: 0,
        },
        region: "portland".into(),
        admission: Admission::new(CheckoutLimits::default()),
    };
    World {
        api: meridian_orders::router(state.clone()),
        state,
        store,
        services,
    }
}

pub async fn checkout(w: &World, buyer: UserId, key: &str, token: &str) -> Answer {
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
