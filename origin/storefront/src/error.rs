//! Page errors: readable HTML pages with the right status (404, 403, 400,
//! 5xx), and a 401 that becomes a trip to the sign-in page and back. API
//! routes keep their JSON errors; this is only for pages.

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_common::client::ClientError;

use crate::chrome::Chrome;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    NotFound,
    /// The page needs a signed-in shopper; `sign_in_redirects` sends them to
    /// the sign-in page with a way back.
    SignIn,
    Forbidden(String),
    BadRequest(String),
    /// The page exists, but not for this method (a POST to a page that
    /// only shows, say).
    MethodNotAllowed,
    /// A service the page needs did not answer.
    Unavailable,
    Internal,
}

/// Marks a response as "sign in first" for `sign_in_redirects`, which
/// knows the path to come back to.
#[derive(Debug, Clone, Copy)]
pub struct NeedsSignIn;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: &'static str,
    detail: String,
    advice: &'static str,
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::SignIn => StatusCode::UNAUTHORIZED,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn text(&self) -> (&'static str, String, &'static str) {
        match self {
            PageError::NotFound => (
                "We can't find that page",
                "It may have been moved or taken down.".to_owned(),
                "Try searching, or browse a category.",
            ),
            PageError::SignIn => (
                "Please sign in",
                "This page is only for signed-in shoppers.".to_owned(),
                "Sign in and you will come back here.",
            ),
            PageError::Forbidden(m) => (
                "You can't do that here",
                m.clone(),
                "If you think this is wrong, sign in with the right account.",
            ),
            PageError::BadRequest(m) => (
                "That request didn't work",
                m.clone(),
                "Go back, check what you entered and try again.",
            ),
            PageError::MethodNotAllowed => (
                "That doesn't work on this page",
                "This page can be opened, not sent a form or other request.".to_owned(),
                "Go back to the page and use its links and buttons.",
            ),
            PageError::Unavailable => (
                "This part of Meridian is busy",
                "A service this page needs did not answer in time. Nothing was lost.".to_owned(),
                "Please try again in a moment.",
            ),
            PageError::Internal => (
                "Something went wrong on our side",
                "We have logged it and will look into it.".to_owned(),
                "Please try again in a moment.",
            ),
        }
    }
}

impl From<ClientError> for PageError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unavailable(service, detail) => {
                tracing::warn!(service, %detail, "page dependency unavailable");
                PageError::Unavailable
            }
            ClientError::Api { status: 401, .. } => PageError::SignIn,
            ClientError::Api { status: 404, .. } => PageError::NotFound,
            ClientError::Api {
                status: 403,
                message,
                ..
            } => PageError::Forbidden(message),
            ClientError::Api {
                status, message, ..
            } if (400..500).contains(&status) => PageError::BadRequest(message),
            other => {
                tracing::error!(error = %other, "page dependency failed");
                PageError::Internal
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (heading, detail, advice) = self.text();
        let page = ErrorPage {
            chrome: Chrome::plain(heading),
            heading,
            detail,
            advice,
        };
        let body = page.render().unwrap_or_else(|_| heading.to_owned());
        let mut response = (
            self.status(),
            [
                (CONTENT_TYPE, "text/html; charset=utf-8"),
                (CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response();
        if self == PageError::SignIn {
            response.extensions_mut().insert(NeedsSignIn);
        }
        response
    }
}
