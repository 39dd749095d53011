//! Shopper views of their own orders.

use axum::extract::State;
use meridian_common::extract::Id;
use meridian_common::internal::Caller;
use meridian_common::ApiError;
use serde_json::{json, Value};

use crate::domain::{Order, OrderId};
use crate::AppState;

#[utoipa::path(get, path = "/api/orders", security(("session" = [])), tag = "orders",
    responses((status = 200, body = Object), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody)))]
pub async fn my_orders(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    let buyer = caller.require_user()?;
    let orders = state.store.by_buyer(buyer, 100).await?;
    Ok(axum::Json(json!({ "items": orders })))
}

/// Another buyer's order is a 404, not a 403: ids do not leak.
#[utoipa::path(get, path = "/api/orders/{id}", security(("session" = [])), tag = "orders", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::domain::Order), (status = 400, description = "invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody)))]
pub async fn my_order(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<OrderId>,
) -> Result<axum::Json<Order>, ApiError> {
    let buyer = caller.require_user()?;
    let order = state
        .store
        .get(id)
        .await?
        .filter(|o| o.buyer_id == buyer)
        .ok_or_else(|| ApiError::not_found("no such order"))?;
    Ok(axum::Json(order))
}
