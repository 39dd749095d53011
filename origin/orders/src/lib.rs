//! The orders service: checkout and the order lifecycle.
//!
//! Shoppers (under `/api/orders`): `POST /checkout` (requires an
//! `Idempotency-Key`), `GET /`, `GET /{id}`; anyone: `POST /quote`. Sellers (session of the shop
//! owner, or an API key with `orders:read` / `orders:write`):
//! `GET /seller`, `POST /{id}/sub-orders/{sub}/ship`, `…/cancel`, `…/refunds`.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use meridian_common::clients::{
    CartClient, CatalogClient, LogisticsClient, PaymentsClient, SellersClient,
};

pub mod admission;
mod checkout;
pub mod domain;
mod internal;
mod pricing;
mod routes;
mod seller;
pub mod store;
pub mod sweeper;

use domain::Pricing;
use store::OrderStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn OrderStore>,
    pub catalog: CatalogClient,
    pub cart: CartClient,
    pub payments: PaymentsClient,
    pub sellers: SellersClient,
    pub logistics: LogisticsClient,
    pub pricing: Pricing,
    pub region: String,
    /// Checkout slots and the key lease of this origin.
    pub admission: admission::Admission,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/checkout", post(checkout::checkout))
        .route("/quote", post(pricing::quote))
        .route("/", get(routes::my_orders))
        .route("/seller", get(seller::seller_orders))
        .route("/{id}", get(routes::my_order))
        .route("/{id}/sub-orders/{sub}/ship", post(seller::ship))
        .route("/{id}/sub-orders/{sub}/cancel", post(seller::cancel))
        .route("/{id}/sub-orders/{sub}/refunds", post(seller::refund))
        .with_state(state)
}

/// Service-to-service routes, relative to `/internal/orders`.
pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/{id}/sub-orders/{sub}/delivered",
            post(internal::delivered),
        )
        .route("/purchases/{user}/{product}", get(internal::purchase))
        .with_state(state)
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(checkout::checkout, pricing::quote, routes::my_orders, routes::my_order, seller::seller_orders, seller::ship, seller::cancel, seller::refund), tags((name = "orders", description = "Checkout and order lifecycle")))]
    struct Doc;
    Doc::openapi()
}
