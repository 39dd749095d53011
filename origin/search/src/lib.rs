//! The search service: full-text search over products with relevance
//! ranking, typo tolerance, filters, facets, sorting and pagination.
//!
//! Routes: `GET /api/search`; internal (from the catalog and sellers):
//! `PUT|DELETE /internal/search/products/{id}`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, put};
use axum::Router;
use meridian_common::clients::SearchDoc;
use meridian_common::extract::{Id, Json, Query};
use meridian_common::{ApiError, FieldError, ProductId};
use serde_json::{json, Value};

pub mod connect;
#[cfg(feature = "elasticsearch")]
pub mod elastic;
pub mod index;
pub mod query;

use index::SearchIndex;

#[derive(Clone)]
pub struct AppState {
    pub index: Arc<dyn SearchIndex>,
}

pub fn router(state: AppState) -> Router {
    Router::new().route("/", get(search)).with_state(state)
}

pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route("/products/{id}", put(upsert).delete(remove))
        .with_state(state)
}

#[utoipa::path(get, path = "/api/search", tag = "search", params(("q" = Option<String>, Query, max_length = 200, description = "words to match (at most 200 characters)"), ("category" = inline(Option<meridian_common::openapi::CategorySlug>), Query), ("seller" = Option<uuid::Uuid>, Query), ("min_price" = Option<i64>, Query, minimum = 0, description = "minor units, inclusive"), ("max_price" = Option<i64>, Query, minimum = 0, description = "minor units, inclusive; not below min_price"), ("min_rating" = Option<f64>, Query, minimum = 1, maximum = 5), ("in_stock" = Option<bool>, Query), ("sort" = inline(Option<crate::query::SortBy>), Query), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "default 20"), ("offset" = Option<u32>, Query, maximum = 10000)),
    responses((status = 200, description = "hits, total and category facets", body = Object), (status = 400, description = "invalid_query", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<query::Params>,
) -> Result<axum::response::Response, ApiError> {
    let q = params.validate().map_err(|errors| {
        ApiError::validation(
            errors
                .into_iter()
                .map(|(f, m)| FieldError::new(f, m))
                .collect(),
        )
    })?;
    let results = state.index.search(&q).await?;
    // Short-lived at the edge and purged with any product change.
    let headers = [
        (axum::http::header::CACHE_CONTROL, "public, max-age=10"),
        (
            meridian_common::cache_tags::HEADER,
            meridian_common::cache_tags::SEARCH,
        ),
    ];
    let body = axum::Json(json!({
        "total": results.total,
        "items": results.items,
        "facets": { "category": results.facets },
        "limit": q.limit,
        "offset": q.offset,
    }));
    Ok(axum::response::IntoResponse::into_response((headers, body)))
}

async fn upsert(
    State(state): State<AppState>,
    Id(id): Id<ProductId>,
    Json(doc): Json<SearchDoc>,
) -> Result<axum::Json<Value>, ApiError> {
    if id != doc.product_id {
        return Err(ApiError::bad_request(
            "id_mismatch",
            "path and body ids differ",
        ));
    }
    state.index.upsert(&[doc]).await?;
    Ok(axum::Json(json!({ "indexed": true })))
}

async fn remove(
    State(state): State<AppState>,
    Id(id): Id<ProductId>,
) -> Result<axum::Json<Value>, ApiError> {
    state.index.remove(id).await?;
    Ok(axum::Json(json!({ "removed": true })))
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(paths(search), tags((name = "search", description = "Product search")))]
    struct Doc;
    Doc::openapi()
}
