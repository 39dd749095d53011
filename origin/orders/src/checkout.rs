//! Checkout: cart → priced sub-orders per seller → all-or-nothing stock
//! reservation → payment authorization → capture → paid.
//!
//! Idempotent per (buyer, `Idempotency-Key`): the first request with a key
//! runs; concurrent and later requests with the same key and body get the
//! same answer; a different body with that key gets 422. A definite failure
//! (out of stock, declined) fails the order, releases its stock and leaves
//! the cart untouched. A failure whose outcome is unknown (a store or
//! service that did not answer) answers 503 and frees the key: the retry
//! resumes the same order, and every step it repeats is idempotent by the
//! order's id, so nothing is taken, charged or placed twice. A key whose
//! client never retries is settled by the `sweeper`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use meridian_common::client::ClientError;
use meridian_common::clients::{CartLineRef, ReserveRequest, StockLine};
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{IdempotencyKey, Json};
use meridian_common::internal::Caller;
use meridian_common::{ApiError, FieldError, UserId};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use uuid::Uuid;

use crate::domain::{Address, Order, OrderId, Status};
use crate::pricing;
use crate::store::{Begin, StoredResponse};
use crate::AppState;

#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    shipping_address: Address,
    payment_token: String,
}

/// How long a duplicate request waits for the first one to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(30);

fn replay(response: StoredResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    // A replay of a created order is a 200, not a second 201.
    let status = if status == StatusCode::CREATED {
        StatusCode::OK
    } else {
        status
    };
    (
        status,
        [("idempotent-replayed", "true")],
        axum::Json(response.body),
    )
        .into_response()
}

pub(crate) fn stored(result: &Result<Order, ApiError>) -> StoredResponse {
    match result {
        Ok(order) => StoredResponse {
            status: 201,
            body: serde_json::to_value(order).unwrap_or_default(),
        },
        Err(e) => StoredResponse {
            status: e.status.as_u16(),
            body: json!({ "error": { "code": e.code, "message": e.message } }),
        },
    }
}

#[utoipa::path(post, path = "/api/orders/checkout", security(("session" = [])), tag = "orders", request_body = CheckoutRequest, params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "required; 1-255 visible ASCII characters; a replay returns the same answer")),
    responses((status = 201, body = crate::domain::Order), (status = 200, description = "replay of an earlier answer", body = crate::domain::Order), (status = 400, description = "idempotency_key_required / invalid_idempotency_key / malformed_json", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 402, description = "payment_declined", body = meridian_common::openapi::ErrorBody), (status = 409, description = "out_of_stock / checkout_in_progress / checkout_expired (not completed in time: cancelled, nothing charged) / checkout_failed", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed / empty_cart / unavailable_products / idempotency_mismatch", body = meridian_common::openapi::ErrorBody), (status = 504, description = "payment_timeout", body = meridian_common::openapi::ErrorBody), (status = 503, description = "unavailable", body = meridian_common::openapi::ErrorBody)))]
pub async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    key: Result<IdempotencyKey, ApiError>,
    Json(body): Json<CheckoutRequest>,
) -> Result<Response, ApiError> {
    let buyer = caller.require_user()?;
    let IdempotencyKey(key) = key?;
    let mut problems: Vec<FieldError> = body
        .shipping_address
        .validate()
        .into_iter()
        .map(|(f, m)| FieldError::new(f, m))
        .collect();
    if body.payment_token.is_empty() || body.payment_token.len() > 100 {
        problems.push(FieldError::new("payment_token", "1 to 100 characters"));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let fingerprint = hex::encode(Sha256::digest(
        serde_json::to_vec(&body).map_err(ApiError::internal)?,
    ));

    let slot = match state.admission.admit().await {
        Ok(slot) => slot,
        Err(refused) => return Ok(refused),
    };
    let lease = state.admission.limits().lease;
    match state.store.begin(buyer, &key, &fingerprint, lease).await? {
        Begin::Started => {}
        Begin::Existing { fingerprint: f, .. } if f != fingerprint => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_mismatch",
                "this Idempotency-Key was used with a different request",
            ))
        }
        Begin::Existing {
            response: Some(r), ..
        } => return Ok(replay(r)),
        Begin::Existing { response: None, .. } => {
            // Waiting runs nothing: the slot is for checkouts that run.
            drop(slot);
            return wait_for_first(&state, buyer, &key, &fingerprint, lease).await;
        }
    }

    // Detached from the request: a client that hangs up (or an edge that
    // gives up) must not cancel a checkout halfway and strand its key; the
    // answer is recorded for the retry either way. It stays in the
    // request's span (its logs keep the request id, its trace its parent).
    let task = tokio::spawn(
        async move {
            let _slot = slot;
            let result = run(&state, &caller, buyer, &key, &body).await;
            // Outcome unknown: end the key's lease so the client's retry
            // resumes this order.
            if matches!(&result, Err(e) if transient(e)) {
                state.store.abandon(buyer, &key).await?;
            } else {
                state.store.finish(buyer, &key, &stored(&result)).await?;
            }
            result.map(|o| (StatusCode::CREATED, axum::Json(o)).into_response())
        }
        .instrument(tracing::Span::current()),
    );
    task.await.map_err(ApiError::internal)?
}

async fn wait_for_first(
    state: &AppState,
    buyer: UserId,
    key: &str,
    fingerprint: &str,
    lease: Duration,
) -> Result<Response, ApiError> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    let mut pause = Duration::from_millis(10);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
        match state.store.begin(buyer, key, fingerprint, lease).await? {
            Begin::Existing {
                response: Some(r), ..
            } => return Ok(replay(r)),
            Begin::Existing { response: None, .. } => continue,
            // The first attempt was abandoned (transient failure) or its
            // lease ran out, and this request now holds the key: free it and
            // tell the client to retry, which runs the checkout.
            Begin::Started => {
                state.store.abandon(buyer, key).await?;
                break;
            }
        }
    }
    Err(ApiError::conflict(
        "checkout_in_progress",
        "a checkout with this Idempotency-Key is still running; retry shortly",
    ))
}

fn event(state: &AppState, kind: &str, order: &Order) -> EventEnvelope {
    EventEnvelope::new(
        &state.region,
        kind,
        1,
        order.id,
        json!({
            "order_id": order.id,
            "buyer_id": order.buyer_id,
            "status": order.status,
            "total": order.total,
            "sub_orders": order.sub_orders.iter().map(|s| json!({
                "sub_order_id": s.id, "seller_id": s.seller_id, "total": s.total,
                "lines": s.lines.iter().map(|l| json!({ "product_id": l.product_id, "quantity": l.quantity, "unit_price": l.unit_price })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "failure": order.failure,
        }),
    )
}

/// Marks a pending order failed (every sub-order cancelled).
pub(crate) async fn fail(state: &AppState, id: OrderId, reason: &str) -> Result<(), ApiError> {
    let s = state.clone();
    let reason = reason.to_owned();
    let change = move |o: &mut Order| {
        for sub in &mut o.sub_orders {
            sub.transition(Status::Cancelled)?;
        }
        o.failure = Some(reason.clone());
        o.derive_status();
        o.updated_at = Utc::now();
        Ok(vec![event(&s, "orders.order.checkout_failed", o)])
    };
    state.store.update(id, &change).await?;
    Ok(())
}

/// The order a checkout key places: the same for every attempt with the
/// key, so an attempt after a transient failure (or after the process
/// running the first one died) resumes that order rather than placing a
/// second one. Every step after the insert is idempotent by this id.
pub(crate) fn order_id_of(buyer: UserId, key: &str) -> OrderId {
    const CHECKOUTS: Uuid = Uuid::from_u128(0x6d65_7269_6469_616e_2d63_6865_636b_6f75);
    OrderId(Uuid::new_v5(
        &CHECKOUTS,
        format!("{}/{key}", buyer.0).as_bytes(),
    ))
}

/// A dependency's failure as the checkout's. Its decisions (4xx) keep their
/// meaning; anything else leaves the outcome unknown, which is a 503: the
/// key is freed and the client's retry resumes the same order.
fn dependency(e: ClientError) -> ApiError {
    match e {
        ClientError::Api { status, .. } if (400..500).contains(&status) => e.into(),
        other => {
            tracing::warn!(error = %other, "checkout dependency failed; a retry resumes the order");
            ApiError::unavailable(
                "a service the checkout needs did not answer; retry with the same Idempotency-Key",
            )
        }
    }
}

/// A failure whose outcome is unknown (the key is freed for a retry).
fn transient(e: &ApiError) -> bool {
    e.status == StatusCode::SERVICE_UNAVAILABLE
}

/// Why the sweeper cancelled a checkout its client left (`sweeper`).
pub(crate) const EXPIRED: &str = "checkout_expired";

pub(crate) fn expired() -> ApiError {
    ApiError::conflict(
        EXPIRED,
        "this checkout was not completed in time and was cancelled; nothing was charged",
    )
}

/// The answer for a key whose earlier attempt failed the order for good
/// but could not record its answer.
pub(crate) fn earlier_failure(order: &Order) -> ApiError {
    let reason = order.failure.as_deref().unwrap_or("checkout_failed");
    if reason == EXPIRED {
        return expired();
    }
    let (status, code) = match reason {
        "payment_declined" => (StatusCode::PAYMENT_REQUIRED, "payment_declined"),
        "payment_timeout" => (StatusCode::GATEWAY_TIMEOUT, "payment_timeout"),
        "out_of_stock" => (StatusCode::CONFLICT, "out_of_stock"),
        _ => (StatusCode::CONFLICT, "checkout_failed"),
    };
    ApiError::new(status, code, format!("this checkout failed: {reason}"))
}

/// A new pending order from the buyer's cart, priced now.
async fn place(
    state: &AppState,
    id: OrderId,
    buyer: UserId,
    body: &CheckoutRequest,
    headers: &[(axum::http::HeaderName, axum::http::HeaderValue)],
) -> Result<Order, ApiError> {
    let lines: Vec<CartLineRef> = state.cart.lines(buyer, headers).await.map_err(dependency)?;
    if lines.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_cart",
            "your cart is empty",
        ));
    }
    let subs = pricing::price(state, &lines, headers).await?;
    let (items, shipping, tax, total) = pricing::totals(&subs)?;
    let now = Utc::now();
    let order = Order {
        id,
        buyer_id: buyer,
        status: Status::PendingPayment,
        sub_orders: subs,
        items,
        shipping,
        tax,
        total,
        refunded: meridian_common::Money::zero(total.currency),
        payment_id: None,
        shipping_address: body.shipping_address.clone(),
        failure: None,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .insert(&order, vec![event(state, "orders.order.placed", &order)])
        .await?;
    Ok(order)
}

async fn run(
    state: &AppState,
    caller: &Caller,
    buyer: UserId,
    key: &str,
    body: &CheckoutRequest,
) -> Result<Order, ApiError> {
    let headers = caller.forward();
    let id = order_id_of(buyer, key);
    let mut order = match state.store.get(id).await? {
        // An earlier attempt with this key got this far.
        Some(earlier) => earlier,
        None => place(state, id, buyer, body, &headers).await?,
    };
    match order.status {
        Status::PendingPayment => {}
        Status::Cancelled => return Err(earlier_failure(&order)),
        // Paid by an earlier attempt whose answer was lost.
        _ => return Ok(order),
    }
    let lines: Vec<CartLineRef> = order
        .sub_orders
        .iter()
        .flat_map(|s| &s.lines)
        .map(|l| CartLineRef {
            product_id: l.product_id,
            quantity: l.quantity,
        })
        .collect();

    // All or nothing across every line; a retry of a reservation that was
    // made is a success, so resuming takes no stock twice.
    let reservation = ReserveRequest {
        reservation_id: order.id.0,
        lines: lines
            .iter()
            .map(|l| StockLine {
                product_id: l.product_id,
                quantity: l.quantity,
            })
            .collect(),
    };
    if let Err(e) = state.catalog.reserve(&reservation, &headers).await {
        let e = dependency(e);
        if !transient(&e) {
            fail(state, order.id, e.code).await?;
        }
        return Err(e);
    }

    // From here on, a definite failure must put the stock back.
    match pay(state, &headers, &order, key, &body.payment_token).await {
        Ok(payment_id) => {
            let s = state.clone();
            let change = move |o: &mut Order| {
                for sub in &mut o.sub_orders {
                    sub.transition(Status::Paid)?;
                }
                o.payment_id = Some(payment_id);
                o.derive_status();
                o.updated_at = Utc::now();
                Ok(vec![event(&s, "orders.order.paid", o)])
            };
            order = match state.store.update(order.id, &change).await? {
                Some(Ok(o)) => o,
                _ => return Err(ApiError::internal("order vanished during checkout")),
            };
        }
        Err(e) if transient(&e) => return Err(e),
        Err(e) => {
            // Failed first, released after: a retry that finds the order
            // failed never pays against a released reservation.
            fail(state, order.id, e.code).await?;
            if let Err(release) = state.catalog.release(order.id.0, None, &headers).await {
                // The reservation stays taken: surface it loudly for repair.
                tracing::error!(order_id = %order.id, error = %release, "could not release stock of a failed checkout");
            }
            return Err(e);
        }
    }

    // Bought lines leave the cart; the order stands even if this fails.
    if let Err(e) = state.cart.remove(buyer, &lines, &headers).await {
        tracing::warn!(order_id = %order.id, error = %e, "could not clear bought lines from the cart");
    }
    tracing::info!(order_id = %order.id, total = order.total.amount, "order paid");
    Ok(order)
}

/// Authorizes and captures the total; voids the authorization if capture fails.
async fn pay(
    state: &AppState,
    headers: &[(axum::http::HeaderName, axum::http::HeaderValue)],
    order: &Order,
    key: &str,
    token: &str,
) -> Result<Uuid, ApiError> {
    let reference = order.id.to_string();
    let auth_key = format!("{}:authorize", order.id);
    let payment = match state
        .payments
        .authorize(&auth_key, &reference, order.total, token, headers)
        .await
    {
        Ok(p) => p,
        Err(ClientError::Api {
            status: 402,
            message,
            ..
        }) => {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                message,
            ))
        }
        Err(ClientError::Api { status: 504, .. }) => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "payment_timeout",
                "the card processor did not answer; you were not charged",
            ))
        }
        Err(ClientError::Api {
            status: 422,
            message,
            ..
        }) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "payment_token",
                message,
            )]))
        }
        Err(e) => return Err(dependency(e)),
    };
    let capture_key = format!("{}:capture", order.id);
    match state
        .payments
        .capture(&capture_key, payment.id, order.total, headers)
        .await
        .map_err(dependency)
    {
        Ok(_) => Ok(payment.id),
        // Unknown whether it was captured: the retry captures again under
        // the same key, so the authorization must stay.
        Err(e) if transient(&e) => Err(e),
        Err(e) => {
            let void_key = format!("{}:void", order.id);
            if let Err(v) = state.payments.void(&void_key, payment.id, headers).await {
                tracing::error!(order_id = %order.id, idempotency_key = key, error = %v, "capture failed and void failed");
            }
            Err(e)
        }
    }
}
