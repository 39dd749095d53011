//! The catalog service: products and categories.
//!
//! Public routes (under `/api/catalog`): `GET /products` (cursor pagination,
//! category filter, sort by price or newest), `GET /products/{id}`,
//! `GET /categories`. Seller routes (session of the shop owner or an API key
//! with `catalog:write`): `POST /products`, `PATCH /products/{id}`,
//! `PUT /products/{id}/stock`, `POST /products/{id}/archive`.
//! Internal (under `/internal/catalog`): product batches for carts and
//! checkout, and all-or-nothing stock reservations.

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;
use meridian_common::clients::{SearchClient, SellersClient};

pub mod demo;
pub mod domain;
mod internal;
mod limits;
mod routes;
pub mod store;
mod write_schema;
mod writes;

use store::ProductStore;

#[derive(Clone)]
pub struct AppState {
    pub products: Arc<dyn ProductStore>,
    pub sellers: SellersClient,
    /// Every change is pushed to search (a direct call, as designed).
    pub search: SearchClient,
    pub region: String,
}

/// Public and seller routes, relative to `/api/catalog`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/products",
            get(routes::list_products).post(writes::create_product),
        )
        .route(
            "/products/{id}",
            get(routes::get_product).patch(writes::update_product),
        )
        .route("/products/{id}/stock", put(writes::set_stock))
        .route("/products/{id}/archive", post(writes::archive_product))
        .route("/categories", get(routes::categories))
        .with_state(state)
}

/// Service-to-service routes, relative to `/internal/catalog`.
pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route("/products/batch", post(internal::batch))
        .route("/reservations", post(internal::reserve))
        .route("/reservations/{id}/release", post(internal::release))
        .with_state(state)
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    const PATCH_BODIES: meridian_common::openapi::AtLeastOneField =
        meridian_common::openapi::AtLeastOneField(&["EditProduct"]);
    #[derive(OpenApi)]
    #[openapi(
        paths(
            routes::list_products, routes::get_product, routes::categories,
            writes::create_product, writes::update_product, writes::set_stock, writes::archive_product
        ),
        modifiers(&PATCH_BODIES),
        tags((name = "catalog", description = "Products and categories"))
    )]
    struct Doc;
    Doc::openapi()
}
