//! Service-to-service routes: delivery from logistics, purchase checks
//! for reviews.

use axum::extract::State;
use chrono::Utc;
use meridian_common::extract::Ids;
use meridian_common::{ApiError, ProductId, UserId};
use serde_json::{json, Value};

use crate::domain::{Order, OrderId, Status, SubOrderId};
use crate::AppState;

/// Idempotent: an already delivered sub-order stays delivered.
pub async fn delivered(
    State(state): State<AppState>,
    Ids(id, SubOrderId(sub)): Ids<OrderId, SubOrderId>,
) -> Result<axum::Json<Value>, ApiError> {
    let s = state.clone();
    let change = move |o: &mut Order| {
        let so = o.sub_order_mut(sub)?;
        if so.status == Status::Delivered {
            return Ok(Vec::new());
        }
        so.transition(Status::Delivered)?;
        o.derive_status();
        o.updated_at = Utc::now();
        let event = meridian_common::events::EventEnvelope::new(
            &s.region,
            "orders.sub_order.delivered",
            1,
            o.id,
            json!({ "order_id": o.id, "sub_order_id": sub, "buyer_id": o.buyer_id, "order_status": o.status }),
        );
        Ok(vec![event])
    };
    match state.store.update(id, &change).await? {
        Some(Ok(o)) => Ok(axum::Json(json!({ "order_status": o.status }))),
        Some(Err(e)) => Err(ApiError::conflict("illegal_transition", e.to_string())),
        None => Err(ApiError::not_found("no such order")),
    }
}

/// Has `user` received `product` (a delivered, not fully refunded line)?
pub async fn purchase(
    State(state): State<AppState>,
    Ids(user, product): Ids<UserId, ProductId>,
) -> Result<axum::Json<Value>, ApiError> {
    let orders = state.store.by_buyer(user, 1_000).await?;
    let seller = orders.iter().flat_map(|o| &o.sub_orders).find_map(|s| {
        let bought = s.lines.iter().any(|l| l.product_id == product);
        (bought && matches!(s.status, Status::Delivered | Status::Refunded)).then_some(s.seller_id)
    });
    Ok(axum::Json(
        json!({ "delivered": seller.is_some(), "seller_id": seller }),
    ))
}
