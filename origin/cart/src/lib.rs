//! The cart service: guest carts (cookie `meridian_cart`) and user carts,
//! re-priced and stock-checked against the catalog on every read; a guest
//! cart merges into the user's cart once the shopper is signed in.
//!
//! Routes (under `/api/cart`): `GET /`, `DELETE /`, `POST /items`,
//! `PUT|DELETE /items/{product_id}`, `POST /merge`. Internal (under
//! `/internal/cart`): a user's lines for checkout, and removing bought lines.

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;
use meridian_common::clients::CatalogClient;

pub mod domain;
mod routes;
pub mod store;

use store::CartStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn CartStore>,
    pub catalog: CatalogClient,
    pub region: String,
    pub cookie_secure: bool,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(routes::view).delete(routes::clear))
        .route("/items", post(routes::add_item))
        .route(
            "/items/{product_id}",
            put(routes::set_item).delete(routes::remove_item),
        )
        .route("/merge", post(routes::merge))
        .with_state(state)
}

pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route("/users/{user}", get(routes::user_lines))
        .route("/users/{user}/checked-out", post(routes::checked_out))
        .route("/users/{user}/merge", post(routes::merge_guest))
        .with_state(state)
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(routes::view, routes::add_item, routes::set_item, routes::remove_item, routes::clear, routes::merge), tags((name = "cart", description = "Guest and user carts")))]
    struct Doc;
    Doc::openapi()
}
