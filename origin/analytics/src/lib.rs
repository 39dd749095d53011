//! The analytics service: sellers' sales and best sellers, and platform-wide
//! figures for operators (sales by day and region, the cart → checkout →
//! paid funnel, ratings over time, delivery times, parked events).
//!
//! Fed by the event stream: the Kafka loader into ClickHouse in production
//! (`loader`), the region's in-process bus into memory when embedded
//! (`feed`). Routes (under `/api/analytics`): `GET /seller/summary`,
//! `GET /seller/top-products`, `GET /platform/summary`,
//! `GET /platform/top-products`, `GET /platform/dead-letters`.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use meridian_common::clients::SellersClient;
use meridian_common::internal::InternalSecret;

pub mod domain;
pub mod feed;
#[cfg(feature = "kafka")]
pub mod loader;
mod routes;
pub mod store;

use store::AnalyticsStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn AnalyticsStore>,
    pub sellers: SellersClient,
    /// Ops credential (`x-admin-token`); empty disables platform figures.
    pub admin_token: InternalSecret,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/seller/summary", get(routes::seller_summary))
        .route("/seller/top-products", get(routes::seller_top_products))
        .route("/platform/summary", get(routes::platform_summary))
        .route("/platform/top-products", get(routes::platform_top_products))
        .route("/platform/dead-letters", get(routes::dead_letters))
        .with_state(state)
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(
        paths(
            routes::seller_summary,
            routes::seller_top_products,
            routes::platform_summary,
            routes::platform_top_products,
            routes::dead_letters
        ),
        tags((name = "analytics", description = "Sales and platform analytics"))
    )]
    struct Doc;
    Doc::openapi()
}
