//! Shopper pages. Shared pages (catalog) are rendered for nobody in
//! particular; personal ones (cart, checkout, account) for the signed-in
//! actor, with the personal header filled in.

use axum::extract::{FromRequest, Request};
use axum::http::header::{ACCEPT, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use meridian_common::public_api::{Actor, PublicApi};
use serde::de::DeserializeOwned;

use crate::error::PageError;
use crate::layout::Personal;

pub mod account;
pub mod asset_files;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod filters;
pub mod orders;
mod product;
pub mod reviews;
mod search;

/// The personal header for a page made for `actor`. A service that does
/// not answer costs the header its details, never the page.
pub async fn personal(api: &PublicApi, actor: &Actor) -> Personal {
    let (name, cart) = futures::join!(display_name(api, actor), api.cart(actor));
    Personal {
        name,
        cart_count: cart.map_or(0, |c| c.item_count),
    }
}

/// `personal` for a page that has just read the actor's cart itself.
pub async fn personal_with_cart(api: &PublicApi, actor: &Actor, cart_count: u32) -> Personal {
    Personal {
        name: display_name(api, actor).await,
        cart_count,
    }
}

async fn display_name(api: &PublicApi, actor: &Actor) -> Option<String> {
    actor.user?;
    api.me(actor).await.ok().map(|a| a.display_name)
}

/// The signed-in actor, or "sign in first".
pub fn signed_in(headers: &HeaderMap) -> Result<Actor, PageError> {
    let actor = Actor::from_headers(headers);
    if actor.user.is_none() {
        return Err(PageError::SignIn);
    }
    Ok(actor)
}

/// 303 See Other to `to`, with the cookies the services set for `actor`.
pub fn redirect(actor: &Actor, to: &str) -> Response {
    with_cookies(actor, Redirect::to(to).into_response())
}

/// `response` with the cookies the services set while serving `actor`.
pub fn with_cookies(actor: &Actor, mut response: Response) -> Response {
    for cookie in actor.take_cookies() {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// `response` with another status (a re-shown form: 422, 402, …).
pub fn with_status(status: StatusCode, mut response: Response) -> Response {
    *response.status_mut() = status;
    response
}

/// The script asked for JSON (an enhanced form), not a page.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// An urlencoded form body; an unreadable one is a readable 400 page.
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(e) => Err(PageError::BadRequest(format!(
                "The form could not be read ({}).",
                e.body_text()
            ))),
        }
    }
}

/// Query parameters; unreadable ones are a readable 400 page.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(e) => Err(PageError::BadRequest(format!(
                "This address has parameters we can't read ({}).",
                e.body_text()
            ))),
        }
    }
}

/// Path parameters; unreadable ones (bad percent-encoding) are a 404 page.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for Path<T> {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|_| PageError::NotFound)
    }
}

/// A multipart form (a photo upload); anything else is a readable 400 page.
pub struct Upload(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(Self)
            .map_err(|e| {
                PageError::BadRequest(format!("The form could not be read ({}).", e.body_text()))
            })
    }
}

/// A fixed confirmation for `?done=<what>` after a redirect (never echoes
/// the parameter itself).
pub fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "added" => "Added to your cart.",
        "updated" => "Your cart is updated.",
        "placed" => "Thank you! Your order is placed.",
        "signed_out" => "You are signed out.",
        "signed_in" => "You are signed in.",
        "registered" => "Welcome to Meridian! Your account is ready.",
        "profile" => "Your profile is saved.",
        "reviewed" => "Thanks! Your review is published.",
        "voted" => "Thanks for your vote.",
        "opened" => "Your shop is open.",
        "created" => "The product is listed.",
        "saved" => "Your changes are saved.",
        "stock" => "Stock updated.",
        "archived" => "The product is archived and no longer sold.",
        "shipped" => "Marked as shipped; the buyer can track it now.",
        "cancelled" => "The sub-order is cancelled and refunded.",
        "refunded" => "The refund is issued.",
        "revoked" => "The API key is revoked.",
        "replied" => "Your reply is published.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_fixed_texts() {
        assert_eq!(notice(Some("added")), Some("Added to your cart."));
        assert_eq!(notice(Some("<script>")), None);
        assert_eq!(notice(None), None);
    }
}
