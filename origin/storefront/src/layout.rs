//! What every page around its content shows (header, categories, footer),
//! and how pages are sent: shared pages cacheable at the edge with their
//! surrogate-key tags, personal pages never stored.

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use meridian_common::cache_tags;

pub use crate::chrome::{Chrome, Personal};
use crate::error::PageError;

/// Fresh for the edge for five minutes (change events purge it sooner),
/// revalidated by browsers every time, served stale while a refresh runs
/// and when the origin fails.
const SHARED: &str =
    "public, max-age=0, s-maxage=300, stale-while-revalidate=30, stale-if-error=600";

fn render(page: &impl Template) -> Result<String, PageError> {
    page.render().map_err(|e| {
        tracing::error!(error = %e, "page template failed");
        PageError::Internal
    })
}

/// A page that is the same for everyone: cached at the edge, tagged so the
/// change feed purges it (`pages` tags them all).
pub fn shared(page: &impl Template, tags: &[String]) -> Result<Response, PageError> {
    let mut all = String::from(cache_tags::PAGES);
    for t in tags {
        all.push(' ');
        all.push_str(t);
    }
    let tags = HeaderValue::from_str(&all).map_err(|_| PageError::Internal)?;
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static(SHARED)),
            (cache_tags::HEADER, tags),
        ],
        render(page)?,
    )
        .into_response())
}

/// A form shown again with what was wrong with it (422), for one person.
pub fn rejected(page: &impl Template) -> Result<Response, PageError> {
    let mut response = personal(page)?;
    *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

/// A page made for one person: never stored by any cache.
pub fn personal(page: &impl Template) -> Result<Response, PageError> {
    Ok((
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "private, no-store"),
        ],
        render(page)?,
    )
        .into_response())
}
