//! The logistics service: a shipment per shipped sub-order, tracking events
//! from carriers, delivery propagated to the order.
//!
//! Routes (under `/api/logistics`): `POST /carrier/updates` (carriers,
//! authenticated by the `x-carrier-secret` header), `GET /orders/{order}`
//! (the buyer's own tracking). Internal: `POST /internal/logistics/shipments`.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use meridian_common::clients::OrdersClient;
use meridian_common::internal::InternalSecret;

pub mod domain;
mod routes;
pub mod store;

use store::ShipmentStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn ShipmentStore>,
    pub orders: OrdersClient,
    pub carrier_secret: InternalSecret,
    pub region: String,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/carrier/updates", post(routes::carrier_update))
        .route("/orders/{order}", get(routes::tracking))
        .with_state(state)
}

pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route("/shipments", post(routes::open))
        .with_state(state)
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(routes::carrier_update, routes::tracking), tags((name = "logistics", description = "Shipments and tracking")))]
    struct Doc;
    Doc::openapi()
}
