//! Sellers' side of orders: their sub-orders only, and the actions on them.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use meridian_common::clients::{NewShipment, ShopRef};
use meridian_common::error::{text, Validator};
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{IdempotencyKey, Ids, Json};
use meridian_common::internal::{Caller, Scope};
use meridian_common::{ApiError, FieldError, ProductId};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::{Order, OrderError, OrderId, Status, SubOrder, SubOrderId};
use crate::AppState;

async fn acting_seller(
    state: &AppState,
    caller: &Caller,
    write: bool,
) -> Result<ShopRef, ApiError> {
    let accepts: &[Scope] = if write {
        &[Scope::OrdersWrite]
    } else {
        &[Scope::OrdersRead, Scope::OrdersWrite]
    };
    state.sellers.acting_seller(caller, accepts).await
}

/// What a seller sees of an order: their sub-orders and where to ship.
fn seller_view(order: &Order, seller: &ShopRef) -> Value {
    let subs: Vec<&SubOrder> = order
        .sub_orders
        .iter()
        .filter(|s| s.seller_id == seller.seller_id)
        .collect();
    json!({
        "order_id": order.id,
        "created_at": order.created_at,
        "shipping_address": order.shipping_address,
        "sub_orders": subs,
    })
}

#[utoipa::path(get, path = "/api/orders/seller", security(("session" = [])), tag = "orders",
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn seller_orders(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    let seller = acting_seller(&state, &caller, false).await?;
    let orders = state.store.by_seller(seller.seller_id, 100).await?;
    let items: Vec<Value> = orders.iter().map(|o| seller_view(o, &seller)).collect();
    Ok(axum::Json(json!({ "items": items })))
}

/// The order and sub-order, if the sub-order is this seller's (404 otherwise).
async fn own_sub_order(
    state: &AppState,
    seller: &ShopRef,
    id: OrderId,
    SubOrderId(sub): SubOrderId,
) -> Result<(Order, SubOrder), ApiError> {
    let order = state
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such sub-order"))?;
    let found = order
        .sub_orders
        .iter()
        .find(|s| s.id == sub && s.seller_id == seller.seller_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("no such sub-order"))?;
    Ok((order, found))
}

fn order_error(e: OrderError) -> ApiError {
    match e {
        OrderError::IllegalTransition(m) => ApiError::conflict("illegal_transition", m),
        OrderError::Invalid(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_refund", m)
        }
        OrderError::NoSubOrder => ApiError::not_found("no such sub-order"),
    }
}

fn sub_event(
    state: &AppState,
    kind: &str,
    order: &Order,
    sub: Uuid,
    extra: Value,
) -> EventEnvelope {
    let s = order.sub_orders.iter().find(|s| s.id == sub);
    EventEnvelope::new(
        &state.region,
        kind,
        1,
        order.id,
        json!({
            "order_id": order.id,
            "buyer_id": order.buyer_id,
            "sub_order_id": sub,
            "seller_id": s.map(|s| s.seller_id),
            "status": s.map(|s| s.status),
            "order_status": order.status,
            "detail": extra,
        }),
    )
}

async fn apply(
    state: &AppState,
    order: &Order,
    sub: Uuid,
    kind: &'static str,
    extra: Value,
    // `Ok(false)`: nothing changed (a replayed refund), so no event either.
    f: impl Fn(&mut SubOrder) -> Result<bool, OrderError> + Send + Sync + 'static,
) -> Result<Order, ApiError> {
    let s = state.clone();
    let change = move |o: &mut Order| {
        if !f(o.sub_order_mut(sub)?)? {
            return Ok(Vec::new());
        }
        o.derive_status();
        o.updated_at = Utc::now();
        Ok(vec![sub_event(&s, kind, o, sub, extra.clone())])
    };
    match state.store.update(order.id, &change).await? {
        Some(Ok(o)) => Ok(o),
        Some(Err(e)) => Err(order_error(e)),
        None => Err(ApiError::not_found("no such order")),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ship {
    carrier: String,
    tracking_number: String,
}

#[utoipa::path(post, path = "/api/orders/{id}/sub-orders/{sub}/ship", security(("session" = [])), tag = "orders", request_body = Ship, params(("id" = uuid::Uuid, Path), ("sub" = uuid::Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 409, description = "illegal_transition", body = meridian_common::openapi::ErrorBody)))]
pub async fn ship(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id, sub): Ids<OrderId, SubOrderId>,
    Json(body): Json<Ship>,
) -> Result<axum::Json<Value>, ApiError> {
    let seller = acting_seller(&state, &caller, true).await?;
    let (order, sub) = own_sub_order(&state, &seller, id, sub).await?;
    let mut v = Validator::default();
    let carrier = v.check("carrier", text(&body.carrier, 1, 50));
    let tracking = v.check(
        "tracking_number",
        text(&body.tracking_number, 1, 64).and_then(|t| {
            if t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                Ok(t)
            } else {
                Err("letters, digits and '-' only".into())
            }
        }),
    );
    v.finish()?;
    let (carrier, tracking) = (carrier.expect("validated"), tracking.expect("validated"));
    if !sub.status.can_become(Status::Shipped) {
        return Err(ApiError::conflict(
            "illegal_transition",
            format!("a {:?} sub-order cannot be shipped", sub.status),
        ));
    }
    let shipment = NewShipment {
        order_id: order.id.0,
        sub_order_id: sub.id,
        seller_id: sub.seller_id,
        buyer_id: order.buyer_id,
        carrier: carrier.clone(),
        tracking_number: tracking.clone(),
    };
    state
        .logistics
        .open_shipment(&shipment, &caller.forward())
        .await?;
    let extra = json!({ "carrier": carrier, "tracking_number": tracking });
    let updated = apply(
        &state,
        &order,
        sub.id,
        "orders.sub_order.shipped",
        extra,
        move |s| {
            s.transition(Status::Shipped)?;
            s.carrier = Some(carrier.clone());
            s.tracking_number = Some(tracking.clone());
            Ok(true)
        },
    )
    .await?;
    Ok(axum::Json(seller_view(&updated, &seller)))
}

/// Cancels a paid, unshipped sub-order: refund its charge, put its stock back.
#[utoipa::path(post, path = "/api/orders/{id}/sub-orders/{sub}/cancel", security(("session" = [])), tag = "orders", params(("id" = uuid::Uuid, Path), ("sub" = uuid::Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 409, description = "illegal_transition", body = meridian_common::openapi::ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id, sub): Ids<OrderId, SubOrderId>,
) -> Result<axum::Json<Value>, ApiError> {
    let seller = acting_seller(&state, &caller, true).await?;
    let (order, sub) = own_sub_order(&state, &seller, id, sub).await?;
    if !sub.status.can_become(Status::Cancelled) || sub.status == Status::PendingPayment {
        return Err(ApiError::conflict(
            "illegal_transition",
            format!("a {:?} sub-order cannot be cancelled", sub.status),
        ));
    }
    let headers = caller.forward();
    let payment = order
        .payment_id
        .ok_or_else(|| ApiError::internal("paid order without payment"))?;
    let outstanding =
        meridian_common::Money::new(sub.total.amount - sub.refunded.amount, sub.total.currency);
    if outstanding.amount > 0 {
        state
            .payments
            .refund(
                &format!("{}:cancel", sub.id),
                payment,
                outstanding,
                &headers,
            )
            .await?;
    }
    let products: Vec<ProductId> = sub.lines.iter().map(|l| l.product_id).collect();
    state
        .catalog
        .release(order.id.0, Some(products), &headers)
        .await?;
    let updated = apply(
        &state,
        &order,
        sub.id,
        "orders.sub_order.cancelled",
        json!({ "refunded": outstanding }),
        move |s| {
            s.transition(Status::Cancelled)?;
            s.refunded.amount += outstanding.amount;
            Ok(true)
        },
    )
    .await?;
    Ok(axum::Json(seller_view(&updated, &seller)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    product_id: ProductId,
    quantity: u32,
}

/// Refunds part of a line (price plus its tax). Needs an Idempotency-Key.
#[utoipa::path(post, path = "/api/orders/{id}/sub-orders/{sub}/refunds", security(("session" = [])), tag = "orders", request_body = Refund, params(("id" = uuid::Uuid, Path), ("sub" = uuid::Uuid, Path), ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "required; 1-255 visible ASCII characters; a replay returns the same answer")),
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id / idempotency_key_required / invalid_idempotency_key", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 409, description = "illegal_transition", body = meridian_common::openapi::ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    key: Result<IdempotencyKey, ApiError>,
    Ids(id, sub): Ids<OrderId, SubOrderId>,
    Json(body): Json<Refund>,
) -> Result<axum::Json<Value>, ApiError> {
    let seller = acting_seller(&state, &caller, true).await?;
    let IdempotencyKey(key) = key?;
    let (order, sub) = own_sub_order(&state, &seller, id, sub).await?;
    if sub.refund_keys.contains(&key) {
        return Ok(axum::Json(seller_view(&order, &seller)));
    }
    // Dry run: the amount, and a clear error before any money moves.
    let mut preview = sub.clone();
    let amount = preview
        .refund_line(body.product_id, body.quantity, state.pricing.tax_rate_bp)
        .map_err(|e| match e {
            OrderError::Invalid(m) => ApiError::validation(vec![FieldError::new("quantity", m)]),
            other => order_error(other),
        })?;
    let payment = order
        .payment_id
        .ok_or_else(|| ApiError::internal("paid order without payment"))?;
    let headers = caller.forward();
    state
        .payments
        .refund(
            &format!("{}:refund:{key}", sub.id),
            payment,
            amount,
            &headers,
        )
        .await?;
    let tax_bp = state.pricing.tax_rate_bp;
    let extra =
        json!({ "product_id": body.product_id, "quantity": body.quantity, "amount": amount });
    let updated = apply(
        &state,
        &order,
        sub.id,
        "orders.sub_order.refunded",
        extra,
        move |s| {
            if s.refund_keys.contains(&key) {
                return Ok(false);
            }
            s.refund_line(body.product_id, body.quantity, tax_bp)?;
            s.refund_keys.push(key.clone());
            Ok(true)
        },
    )
    .await?;
    Ok(axum::Json(seller_view(&updated, &seller)))
}
