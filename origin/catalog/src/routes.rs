//! Thin handlers: extract → domain → store → respond.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use meridian_common::cache_tags::{self, HEADER as SURROGATE_KEY};
use meridian_common::extract::{Id, Query};
use meridian_common::{ApiError, FieldError, ProductId};
use serde::Deserialize;
use serde_json::json;

use crate::domain::{ListFilter, ListQuery, Sort};
use crate::AppState;

/// Public catalog reads may be cached by the edge and browsers briefly.
const PUBLIC_CACHE: &str = "public, max-age=30";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    category: Option<String>,
    sort: Option<Sort>,
    limit: Option<u32>,
    cursor: Option<String>,
    seller: Option<String>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    min_rating: Option<f64>,
    in_stock: Option<bool>,
}

#[utoipa::path(get, path = "/api/catalog/products", tag = "catalog", params(("category" = inline(Option<meridian_common::openapi::CategorySlug>), Query), ("sort" = inline(Option<crate::domain::Sort>), Query), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "default 24"), ("cursor" = Option<String>, Query, min_length = 1, description = "next_cursor of the previous page, as given"), ("seller" = Option<uuid::Uuid>, Query, description = "only this shop's products (seller id)"), ("min_price" = Option<i64>, Query, minimum = 0, description = "minor units, inclusive"), ("max_price" = Option<i64>, Query, minimum = 0, description = "minor units, inclusive; not below min_price"), ("min_rating" = Option<f64>, Query, minimum = 1, maximum = 5, description = "average stars"), ("in_stock" = Option<bool>, Query, description = "only products with stock")),
    responses((status = 200, description = "a page: items and next_cursor", body = Object), (status = 400, description = "invalid_query", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed: category, limit, cursor, seller, prices or rating", body = meridian_common::openapi::ErrorBody)))]
pub async fn list_products(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(
        params.category.as_deref(),
        params.sort,
        params.limit,
        params.cursor.as_deref(),
    );
    let filter = ListFilter::parse(
        params.seller.as_deref(),
        params.min_price,
        params.max_price,
        params.min_rating,
        params.in_stock,
    );
    let query = match (query, filter) {
        (Ok(query), Ok(filter)) => ListQuery { filter, ..query },
        (query, filter) => {
            let errors = query.err().into_iter().chain(filter.err()).flatten();
            return Err(ApiError::validation(
                errors
                    .map(|(field, message)| FieldError::new(field, message))
                    .collect(),
            ));
        }
    };
    let page = state.products.list(&query).await?;
    let body = json!({
        "items": page.items,
        "next_cursor": page.next.map(|c| c.encode()),
    });
    Ok((
        [
            (CACHE_CONTROL, PUBLIC_CACHE),
            (SURROGATE_KEY, cache_tags::PRODUCT_LISTS),
        ],
        axum::Json(body),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/catalog/products/{id}", tag = "catalog", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::domain::Product), (status = 400, description = "invalid_id", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody)))]
pub async fn get_product(
    State(state): State<AppState>,
    Id(id): Id<ProductId>,
) -> Result<Response, ApiError> {
    let product = state
        .products
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such product"))?;
    let tags = format!(
        "{} {}",
        cache_tags::product(product.id),
        cache_tags::shop(product.seller_id)
    );
    Ok((
        [
            (CACHE_CONTROL, PUBLIC_CACHE.to_owned()),
            (SURROGATE_KEY, tags),
        ],
        axum::Json(product),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/catalog/categories", tag = "catalog",
    responses((status = 200, description = "categories with product counts", body = Object), (status = 503, description = "unavailable", body = meridian_common::openapi::ErrorBody)))]
pub async fn categories(State(state): State<AppState>) -> Result<Response, ApiError> {
    let categories = state.products.categories().await?;
    Ok((
        [
            (CACHE_CONTROL, PUBLIC_CACHE),
            (SURROGATE_KEY, cache_tags::PRODUCT_LISTS),
        ],
        axum::Json(json!({ "items": categories })),
    )
        .into_response())
}
