//! The reviews service: verified-buyer reviews (one per user and product,
//! editable), rating summaries, seller replies, helpful votes and reports.
//!
//! Routes (under `/api/reviews`): `GET|POST /products/{product}`,
//! `GET /products/{product}/summary`, `POST /{id}/reply`,
//! `POST /{id}/helpful`, `POST /{id}/reports`.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use meridian_common::clients::{OrdersClient, SellersClient};

pub mod domain;
mod routes;
pub mod store;

use store::ReviewStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn ReviewStore>,
    pub orders: OrdersClient,
    pub sellers: SellersClient,
    pub region: String,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/products/{product}",
            get(routes::list).post(routes::submit),
        )
        .route("/products/{product}/summary", get(routes::summary))
        .route("/products/{product}/mine", get(routes::mine))
        .route("/{id}/reply", post(routes::reply))
        .route("/{id}/helpful", post(routes::helpful))
        .route("/{id}/reports", post(routes::report))
        .with_state(state)
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(routes::submit, routes::list, routes::mine, routes::summary, routes::reply, routes::helpful, routes::report), tags((name = "reviews", description = "Reviews and ratings")))]
    struct Doc;
    Doc::openapi()
}
