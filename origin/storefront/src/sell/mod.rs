//! The seller console (`/sell`): open a shop, list and edit products,
//! fulfil orders, manage API keys, see sales. Every action is the public
//! API's, for the signed-in owner: the services decide what a seller may
//! see and change, so the console holds no second copy of those rules.

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use meridian_common::public_api::{Actor, MyShop};

use crate::error::PageError;
use crate::layout::Chrome;
use crate::pages::{personal, signed_in};
use crate::AppState;

mod keys;
mod orders;
mod products;
mod sales;
mod shop;

/// Product forms carry an image (the API takes up to 5 MiB).
const UPLOAD_LIMIT: usize = 6 << 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(shop::dashboard))
        .route("/open", post(shop::open))
        .route(
            "/products",
            get(products::list)
                .post(products::create)
                .layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/products/new", get(products::new_form))
        .route(
            "/products/{id}",
            get(products::edit_form)
                .post(products::update)
                .layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/products/{id}/stock", post(products::stock))
        .route("/products/{id}/archive", post(products::archive))
        .route("/reviews/{id}/reply", post(products::reply))
        .route("/orders", get(orders::list))
        .route("/orders/{order}/{sub}/ship", post(orders::ship))
        .route("/orders/{order}/{sub}/cancel", post(orders::cancel))
        .route("/orders/{order}/{sub}/refund", post(orders::refund))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/sales", get(sales::page))
}

/// The console's sections, for its tab bar.
pub const SECTIONS: &[(&str, &str)] = &[
    ("/sell", "Overview"),
    ("/sell/products", "Products"),
    ("/sell/orders", "Orders"),
    ("/sell/sales", "Sales"),
    ("/sell/keys", "API keys"),
];

/// A signed-in seller and their shop.
pub struct Seller {
    pub actor: Actor,
    pub shop: MyShop,
}

/// The signed-in actor's shop; without one, the overview (which offers to
/// open one) is the only page.
pub async fn seller(state: &AppState, headers: &HeaderMap) -> Result<Seller, PageError> {
    let actor = signed_in(headers)?;
    let shop = state.api.my_shop(&actor).await?.ok_or_else(|| {
        PageError::Forbidden("Open your shop first: go to the seller console overview.".to_owned())
    })?;
    Ok(Seller { actor, shop })
}

/// The console frame: the personal header, and which tab is current.
pub async fn chrome(state: &AppState, actor: &Actor, title: &str, done: Option<&str>) -> Chrome {
    let mut chrome = Chrome::personal(title, personal(&state.api, actor).await);
    chrome.notice = crate::pages::notice(done);
    chrome
}

/// `section` and every tab, marking the current one.
pub fn tabs(section: &str) -> Vec<(&'static str, &'static str, bool)> {
    SECTIONS
        .iter()
        .map(|(href, label)| (*href, *label, *href == section))
        .collect()
}
