//! Logistics handlers.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use meridian_common::clients::NewShipment;
use meridian_common::error::text;
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{Id, Json};
use meridian_common::internal::Caller;
use meridian_common::{ApiError, FieldError, OrderId};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::{Shipment, TrackingEvent, TrackingStatus};
use crate::AppState;

fn event(state: &AppState, kind: &str, s: &Shipment) -> EventEnvelope {
    EventEnvelope::new(
        &state.region,
        kind,
        1,
        s.id,
        json!({
            "shipment_id": s.id, "order_id": s.order_id, "sub_order_id": s.sub_order_id,
            "seller_id": s.seller_id, "carrier": s.carrier, "status": s.status,
            "shipped_at": s.created_at, "at": s.updated_at,
        }),
    )
}

pub async fn open(
    State(state): State<AppState>,
    Json(body): Json<NewShipment>,
) -> Result<(StatusCode, axum::Json<Shipment>), ApiError> {
    let now = Utc::now();
    let shipment = Shipment {
        id: Uuid::now_v7(),
        order_id: body.order_id,
        sub_order_id: body.sub_order_id,
        seller_id: body.seller_id,
        buyer_id: body.buyer_id,
        carrier: body.carrier,
        tracking_number: body.tracking_number,
        status: TrackingStatus::LabelCreated,
        events: vec![TrackingEvent {
            status: TrackingStatus::LabelCreated,
            at: now,
            location: None,
            note: None,
        }],
        created_at: now,
        updated_at: now,
    };
    let opened = event(&state, "logistics.shipment.opened", &shipment);
    let stored = state.store.open(&shipment, vec![opened]).await?;
    Ok((StatusCode::CREATED, axum::Json(stored)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierUpdate {
    carrier: String,
    tracking_number: String,
    status: TrackingStatus,
    occurred_at: Option<DateTime<Utc>>,
    location: Option<String>,
    note: Option<String>,
}

/// A carrier's scan. Authenticated by the carrier secret from config.
#[utoipa::path(post, path = "/api/logistics/carrier/updates", security(("carrier_secret" = [])), tag = "logistics", request_body = CarrierUpdate,
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 409, description = "illegal_transition", body = meridian_common::openapi::ErrorBody)))]
pub async fn carrier_update(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Json(body): Json<CarrierUpdate>,
) -> Result<axum::Json<Shipment>, ApiError> {
    let presented = headers
        .get("x-carrier-secret")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !state.carrier_secret.matches(presented) {
        return Err(ApiError::unauthorized(
            "carrier updates need a valid x-carrier-secret",
        ));
    }
    let mut errors = Vec::new();
    let location = match body
        .location
        .as_deref()
        .map(|l| text(l, 1, 200))
        .transpose()
    {
        Ok(l) => l,
        Err(e) => {
            errors.push(FieldError::new("location", e));
            None
        }
    };
    let note = match body.note.as_deref().map(|n| text(n, 1, 500)).transpose() {
        Ok(n) => n,
        Err(e) => {
            errors.push(FieldError::new("note", e));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let shipment = state
        .store
        .by_tracking(&body.carrier, &body.tracking_number)
        .await?
        .ok_or_else(|| ApiError::not_found("no shipment with this carrier and tracking number"))?;
    let scan = TrackingEvent {
        status: body.status,
        at: body.occurred_at.unwrap_or_else(Utc::now),
        location,
        note,
    };
    let s = state.clone();
    let change = move |sh: &mut Shipment| {
        sh.record(scan.clone())?;
        Ok(vec![event(&s, "logistics.shipment.tracked", sh)])
    };
    let updated = match state.store.update(shipment.id, &change).await? {
        Some(Ok(s)) => s,
        Some(Err(m)) => return Err(ApiError::conflict("illegal_transition", m)),
        None => return Err(ApiError::not_found("no such shipment")),
    };
    if updated.status == TrackingStatus::Delivered {
        // The shipment is delivered whatever happens next; the order catches
        // up on the carrier's retry if this call fails.
        state
            .orders
            .delivered(updated.order_id, updated.sub_order_id, &caller.forward())
            .await?;
    }
    Ok(axum::Json(updated))
}

/// The buyer's tracking of their own order; anyone else gets 404.
#[utoipa::path(get, path = "/api/logistics/orders/{order}", security(("session" = [])), tag = "logistics", params(("order" = uuid::Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody)))]
pub async fn tracking(
    State(state): State<AppState>,
    caller: Caller,
    Id(OrderId(order)): Id<OrderId>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = caller.require_user()?;
    let shipments: Vec<Shipment> = state
        .store
        .by_order(order)
        .await?
        .into_iter()
        .filter(|s| s.buyer_id == user)
        .collect();
    if shipments.is_empty() {
        return Err(ApiError::not_found("no tracking for this order"));
    }
    Ok(axum::Json(json!({ "items": shipments })))
}
