//! The catalog service: products and categories.
//!
//! Routes (mounted under `/api/catalog`): `GET /products` (cursor pagination,
//! category filter, sort by price or newest), `GET /products/{id}`,
//! `GET /categories`. Writes by sellers arrive with the sellers service.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

pub mod demo;
pub mod domain;
mod routes;
pub mod store;

use store::ProductStore;

#[derive(Clone)]
pub struct AppState {
    pub products: Arc<dyn ProductStore>,
}

/// Public routes, relative to `/api/catalog`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/products", get(routes::list_products))
        .route("/products/{id}", get(routes::get_product))
        .route("/categories", get(routes::categories))
        .with_state(state)
}
