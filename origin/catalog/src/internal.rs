//! Service-to-service routes: product snapshots and stock reservations.

use axum::extract::State;
use axum::http::StatusCode;
use meridian_common::clients::{ProductSnapshot, ReleaseRequest, ReserveRequest};
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{Id, Json};
use meridian_common::{ApiError, FieldError, ProductId};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::{Product, ReserveError, ReserveLine};
use crate::AppState;

meridian_common::typed_id!(
    /// A stock reservation (the checkout's id for it).
    ReservationId,
    "reservation id"
);

/// Largest batch or reservation accepted.
const MAX_LINES: usize = 200;

fn snapshot(p: &Product) -> ProductSnapshot {
    ProductSnapshot {
        id: p.id,
        seller_id: p.seller_id,
        seller_name: p.seller_name.clone(),
        title: p.title.clone(),
        price: p.price,
        stock: p.stock,
        active: p.is_active(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    ids: Vec<ProductId>,
}

pub async fn batch(
    State(state): State<AppState>,
    Json(body): Json<Batch>,
) -> Result<axum::Json<Value>, ApiError> {
    if body.ids.len() > MAX_LINES {
        return Err(ApiError::validation(vec![FieldError::new(
            "ids",
            format!("at most {MAX_LINES} ids"),
        )]));
    }
    let products = state.products.get_many(&body.ids).await?;
    let items: Vec<ProductSnapshot> = products.iter().map(snapshot).collect();
    Ok(axum::Json(json!({ "items": items })))
}

pub async fn reserve(
    State(state): State<AppState>,
    Json(body): Json<ReserveRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    if body.lines.is_empty()
        || body.lines.len() > MAX_LINES
        || body.lines.iter().any(|l| l.quantity == 0)
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "lines",
            format!("1 to {MAX_LINES} lines, each with a positive quantity"),
        )]));
    }
    let lines: Vec<ReserveLine> = body
        .lines
        .iter()
        .map(|l| ReserveLine {
            product_id: l.product_id,
            quantity: l.quantity,
        })
        .collect();
    let event = EventEnvelope::new(
        &state.region,
        "catalog.stock.reserved",
        1,
        body.reservation_id,
        json!({ "reservation_id": body.reservation_id, "lines": body.lines }),
    );
    match state
        .products
        .reserve(body.reservation_id, &lines, vec![event])
        .await?
    {
        Ok(()) => Ok(axum::Json(json!({ "reservation_id": body.reservation_id }))),
        Err(ReserveError::OutOfStock(ids)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "out_of_stock",
            format!("not enough stock for {}", join(&ids)),
        )),
        Err(ReserveError::Unavailable(ids)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unavailable_products",
            format!("no longer sold: {}", join(&ids)),
        )),
    }
}

fn join(ids: &[ProductId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn release(
    State(state): State<AppState>,
    Id(ReservationId(id)): Id<ReservationId>,
    Json(body): Json<ReleaseRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let event = EventEnvelope::new(
        &state.region,
        "catalog.stock.released",
        1,
        id,
        json!({ "reservation_id": id, "products": body.products }),
    );
    let released = state
        .products
        .release(id, body.products.as_deref(), vec![event])
        .await?;
    Ok(axum::Json(json!({ "released": released })))
}
