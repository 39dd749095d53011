//! The payments service: a card processor behind `PaymentGateway` (a
//! simulator by default), idempotent authorize / capture / void / refund,
//! and a ledger of every movement. Called by checkout through internal
//! routes (under `/internal/payments`).

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub mod domain;
pub mod gateway;
mod routes;
pub mod store;

use gateway::PaymentGateway;
use store::PaymentStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn PaymentStore>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub region: String,
}

pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route("/authorizations", post(routes::authorize))
        .route("/authorizations/{key}", get(routes::by_authorization))
        .route("/payments/{id}", get(routes::show))
        .route("/payments/{id}/capture", post(routes::capture))
        .route("/payments/{id}/void", post(routes::void))
        .route("/payments/{id}/refunds", post(routes::refund))
        .with_state(state)
}

/// The service's (internal) OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(
        paths(routes::authorize, routes::by_authorization, routes::capture, routes::void, routes::refund, routes::show),
        tags((name = "payments", description = "Internal: card processing for checkout"))
    )]
    struct Doc;
    Doc::openapi()
}
