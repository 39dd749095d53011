//! The storefront and seller console: server-rendered pages over the
//! public APIs, hosted by every origin behind the edge.
//!
//! Pages are the same shape as API handlers: extract → typed public-API
//! client (`meridian_common::public_api`) → view model → compile-time
//! template (askama, escaped by default). Every page works without
//! JavaScript (forms post and redirect); `assets/app.js` only enhances.
//!
//! Shopper pages: `/`, `/c/{category}`, `/search`, `/shop/{slug}`,
//! `/p/{id}` (the same for everyone: cached at the edge, tagged for purges),
//! `/cart`, `/checkout`, `/signin`, `/register`, `/account…` (personal,
//! never stored). Seller console: `/sell…`. The personal part of shared
//! pages' header: `/fragments/header`. Assets: `/assets/{hashed name}`.

use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use meridian_common::public_api::PublicApi;

pub mod assets;
pub mod charts;
pub mod chrome;
pub mod error;
pub mod format;
pub mod layout;
mod pages;
pub mod security;
mod sell;
pub mod view;

pub use error::PageError;

#[derive(Clone)]
pub struct AppState {
    pub api: PublicApi,
}

/// Every page route. Unknown paths get the 404 page (`/api/…` and
/// `/internal/…` the JSON one: the origin mounts this beside the APIs).
pub fn router(state: AppState) -> Router {
    use pages::{account, cart, catalog, checkout, orders, reviews};
    Router::new()
        .route("/", get(catalog::home))
        .route("/c/{category}", get(catalog::category))
        .route("/shop/{slug}", get(catalog::shop))
        .route("/search", get(catalog::search))
        .route("/p/{id}", get(catalog::product))
        .route("/cart", get(cart::view))
        .route("/cart/add", post(cart::add))
        .route("/cart/update", post(cart::update))
        .route("/checkout", get(checkout::form).post(checkout::place))
        .route("/signin", get(account::signin_form).post(account::signin))
        .route(
            "/register",
            get(account::register_form).post(account::register),
        )
        .route("/signout", post(account::signout))
        .route(
            "/account",
            get(account::overview).post(account::update_profile),
        )
        .route("/account/orders", get(orders::list))
        .route("/account/orders/{id}", get(orders::detail))
        .route(
            "/account/reviews/{product}",
            get(reviews::form).post(reviews::submit),
        )
        .route("/reviews/{id}/helpful", post(reviews::helpful))
        .route("/fragments/header", get(account::header_fragment))
        .route("/assets/{name}", get(pages::asset_files::serve))
        .nest("/sell", sell::router())
        .fallback(fallback)
        // Set before the origin sets its JSON one, so pages keep theirs.
        .method_not_allowed_fallback(|| async { PageError::MethodNotAllowed })
        .layer(from_fn(security::sign_in_redirects))
        .layer(from_fn(security::refuse_forged_posts))
        .layer(from_fn(security::security_headers))
        .with_state(state)
}

/// Unknown paths: the 404 page, or the JSON error under the API prefixes.
async fn fallback(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") || path.starts_with("/internal/") || path == "/api" {
        return meridian_common::ApiError::not_found("no such route").into_response();
    }
    PageError::NotFound.into_response()
}
