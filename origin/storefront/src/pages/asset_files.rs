//! The hashed assets, served forever-cacheable.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::response::{IntoResponse, Response};

use super::Path;
use crate::assets::ASSETS;
use crate::error::PageError;

/// `GET /assets/{name}`: only current names exist; anything else is a 404
/// (an old name after a deploy is a new request for the page anyway).
pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.all.iter().find(|a| a.name == name) {
        Some(a) => (
            [
                (CONTENT_TYPE, a.content_type.to_owned()),
                (
                    CACHE_CONTROL,
                    "public, max-age=31536000, immutable".to_owned(),
                ),
                (ETAG, format!("\"{}\"", a.name)),
            ],
            a.bytes,
        )
            .into_response(),
        None => PageError::NotFound.into_response(),
    }
}
