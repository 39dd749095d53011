//! The sellers service: shops, seller API keys and product images.
//!
//! Routes (under `/api/sellers`): `POST /shops`, `GET /shops/{slug}`,
//! `GET|PATCH /me`, `POST|GET /me/keys`, `DELETE /me/keys/{id}`,
//! `POST /me/images` (multipart), `GET /images/{id}`. Edge-only (under
//! `/internal/sellers`): `POST /keys/introspect`, `GET /by-owner/{user}`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;

pub mod demo;
pub mod domain;
pub mod images;
#[cfg(feature = "s3")]
pub mod images_s3;
pub mod keys;
mod routes;
pub mod store;

use images::ImageStore;
use store::SellerStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn SellerStore>,
    pub images: Arc<dyn ImageStore>,
    pub region: String,
}

/// Multipart overhead on top of the largest image.
const UPLOAD_BODY_LIMIT: usize = images::MAX_IMAGE_BYTES + 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/shops", post(routes::open_shop))
        .route("/shops/{slug}", get(routes::public_shop))
        .route("/me", get(routes::my_shop).patch(routes::update_shop))
        .route("/me/keys", post(routes::create_key).get(routes::list_keys))
        .route("/me/keys/{id}", delete(routes::revoke_key))
        .route(
            "/me/images",
            post(routes::upload_image).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/images/{id}", get(routes::get_image))
        .with_state(state)
}

pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route("/keys/introspect", post(routes::introspect_key))
        .route("/by-owner/{user}", get(routes::shop_of_owner))
        .route("/shops/{id}", get(routes::shop_ref))
        .with_state(state)
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    const PATCH_BODIES: meridian_common::openapi::AtLeastOneField =
        meridian_common::openapi::AtLeastOneField(&["UpdateShop"]);
    #[derive(OpenApi)]
    #[openapi(paths(routes::open_shop, routes::public_shop, routes::my_shop, routes::update_shop, routes::create_key, routes::list_keys, routes::revoke_key, routes::upload_image, routes::get_image), modifiers(&PATCH_BODIES), tags((name = "sellers", description = "Shops, API keys and images")))]
    struct Doc;
    Doc::openapi()
}
