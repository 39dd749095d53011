//! `GET /api/openapi.json`: every public service's OpenAPI 3.1 document,
//! generated from the handlers' annotations and merged once.

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use meridian_common::ApiError;

fn merged() -> Result<&'static str, String> {
    static DOC: OnceLock<Result<String, String>> = OnceLock::new();
    DOC.get_or_init(|| {
        // Public services only; internal APIs (payments, …) are served at
        // /internal/openapi.json to callers holding the edge credential.
        let mut doc = meridian_auth::openapi();
        for part in [
            meridian_catalog::openapi(),
            meridian_search::openapi(),
            meridian_sellers::openapi(),
            meridian_cart::openapi(),
            meridian_orders::openapi(),
            meridian_logistics::openapi(),
            meridian_reviews::openapi(),
            meridian_analytics::openapi(),
        ] {
            doc.merge(part);
        }
        doc.info = utoipa::openapi::InfoBuilder::new()
            .title("Meridian marketplace API")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "Every service behind the Meridian edge. Errors are JSON: {\"error\":{\"code\",\"message\"}}.",
            ))
            .build();
        doc.to_pretty_json().map_err(|e| e.to_string())
    })
    .as_deref()
    .map_err(Clone::clone)
}

pub async fn document() -> Response {
    match merged() {
        Ok(json) => (
            [
                (CONTENT_TYPE, "application/json"),
                (CACHE_CONTROL, "public, max-age=300"),
            ],
            json,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// `GET /internal/openapi.json`: the service-to-service APIs.
pub async fn internal_document() -> Response {
    static DOC: OnceLock<Result<String, String>> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        let mut doc = meridian_payments::openapi();
        doc.info = utoipa::openapi::InfoBuilder::new()
            .title("Meridian internal APIs")
            .version(env!("CARGO_PKG_VERSION"))
            .build();
        doc.to_pretty_json().map_err(|e| e.to_string())
    });
    match doc {
        Ok(json) => ([(CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
