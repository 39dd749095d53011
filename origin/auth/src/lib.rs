//! The auth service: accounts, profiles and login sessions.
//!
//! Routes (mounted by the origin under `/api/auth`): `POST /register`,
//! `POST /login`, `POST /logout`, `GET /me`, `PATCH /me`; and, for the edge
//! only, `POST /introspect` under `/internal/auth`.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

pub mod domain;
pub mod password;
mod routes;
pub mod store;
pub mod token;

use store::{SessionStore, UserStore};

/// Everything the auth handlers need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub session_ttl: Duration,
    pub cookie_secure: bool,
    /// Where a guest cart is merged at login (none: carts merge on the
    /// shopper's next cart request instead).
    pub cart: Option<meridian_common::clients::CartClient>,
    /// Password hashes (register, sign in) running at once: see
    /// `password::gate`.
    pub hashing: meridian_common::admission::Gate,
}

/// Public routes, relative to `/api/auth`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/register", post(routes::register))
        .route("/login", post(routes::login))
        .route("/logout", post(routes::logout))
        .route("/me", get(routes::me).patch(routes::update_me))
        .with_state(state)
}

/// Edge-only routes, relative to `/internal/auth`.
pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route("/introspect", post(routes::introspect))
        .with_state(state)
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    const PATCH_BODIES: meridian_common::openapi::AtLeastOneField =
        meridian_common::openapi::AtLeastOneField(&["UpdateProfileRequest"]);
    #[derive(OpenApi)]
    #[openapi(
        paths(routes::register, routes::login, routes::logout, routes::me, routes::update_me),
        components(schemas(meridian_common::openapi::ErrorBody)),
        modifiers(&PATCH_BODIES),
        tags((name = "auth", description = "Accounts, profiles and sessions"))
    )]
    struct Doc;
    Doc::openapi()
}
