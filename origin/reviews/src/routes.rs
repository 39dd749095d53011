//! Review handlers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use meridian_common::error::{text, Validator};
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{Id, Json, Query};
use meridian_common::internal::Caller;
use meridian_common::{ApiError, ProductId};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::{rating, Reply, Review, MAX_TEXT};
use crate::store::Sort;
use crate::AppState;

meridian_common::typed_id!(
    /// A review, in a path.
    ReviewId,
    "review id"
);

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    /// Whole stars.
    #[schema(minimum = 1, maximum = 5)]
    rating: i64,
    /// Trimmed; no control characters but newlines.
    #[serde(default)]
    #[schema(schema_with = meridian_common::openapi::text::<0, 5000>)]
    text: String,
}

/// Only a buyer with a delivered order of the product may review it.
#[utoipa::path(post, path = "/api/reviews/products/{product}", security(("session" = [])), tag = "reviews", request_body = Submit, params(("product" = uuid::Uuid, Path)),
    responses((status = 201, body = Object), (status = 200, description = "edited", body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Id(product): Id<ProductId>,
    Json(body): Json<Submit>,
) -> Result<Response, ApiError> {
    let user = caller.require_user()?;
    let mut v = Validator::default();
    let stars = v.check("rating", rating(body.rating));
    let words = v.check("text", text(&body.text, 0, MAX_TEXT));
    v.finish()?;
    let (stars, words) = (stars.expect("validated"), words.expect("validated"));
    let seller = state
        .orders
        .seller_of_purchase(user, product, &caller.forward())
        .await?
        .ok_or_else(|| {
            ApiError::forbidden("only buyers who received this product can review it")
        })?;
    let now = Utc::now();
    let review = Review {
        id: Uuid::now_v7(),
        product_id: product,
        seller_id: seller,
        user_id: user,
        rating: stars,
        text: words,
        reply: None,
        helpful: 0,
        reports: 0,
        created_at: now,
        updated_at: now,
    };
    let region = state.region.clone();
    let events = move |old: Option<u8>| {
        vec![EventEnvelope::new(
            &region,
            "reviews.review.submitted",
            1,
            product,
            json!({ "product_id": product, "seller_id": seller, "user_id": user, "old_rating": old, "rating": stars }),
        )]
    };
    let (stored, old) = state.store.upsert(&review, &events).await?;
    let status = if old.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(stored)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    sort: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Deepest page offset served (a walk further is a crawler, not a reader).
const MAX_OFFSET: usize = 10_000;

/// A page of the product's reviews with the rating summary; `next_offset`
/// is set while more follow.
#[utoipa::path(get, path = "/api/reviews/products/{product}", tag = "reviews", params(("product" = uuid::Uuid, Path), ("sort" = inline(Option<meridian_common::openapi::ReviewSort>), Query), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "default 20"), ("offset" = Option<u32>, Query, maximum = 10000, description = "reviews to skip")),
    responses((status = 200, body = Object), (status = 400, description = "invalid_id / invalid_query", body = meridian_common::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Id(product): Id<ProductId>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let sort = match params.sort.as_deref() {
        None | Some("newest") => Sort::Newest,
        Some("helpful") => Sort::Helpful,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown sort {other:?}"),
            ))
        }
    };
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 100",
        ));
    }
    let offset = params.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("offset must be at most {MAX_OFFSET}"),
        ));
    }
    let mut items = state
        .store
        .by_product(product, sort, offset, limit + 1)
        .await?;
    let next_offset = (items.len() > limit).then_some(offset + limit);
    items.truncate(limit);
    let summary = state.store.summary(product).await?;
    Ok(axum::Json(
        json!({ "items": items, "summary": summary, "next_offset": next_offset }),
    ))
}

/// The caller's own review of the product (to edit it), 404 if none.
#[utoipa::path(get, path = "/api/reviews/products/{product}/mine", security(("session" = [])), tag = "reviews", params(("product" = uuid::Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found: no review of yours", body = meridian_common::openapi::ErrorBody)))]
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    Id(product): Id<ProductId>,
) -> Result<axum::Json<Review>, ApiError> {
    let user = caller.require_user()?;
    state
        .store
        .by_author(product, user)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("you have not reviewed this product"))
}

#[utoipa::path(get, path = "/api/reviews/products/{product}/summary", tag = "reviews", params(("product" = uuid::Uuid, Path)),
    responses((status = 200, body = meridian_common::rating::RatingSummary), (status = 400, description = "invalid_id", body = meridian_common::openapi::ErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    Id(product): Id<ProductId>,
) -> Result<Response, ApiError> {
    let summary = state.store.summary(product).await?;
    Ok((
        [("cache-control", "public, max-age=30")],
        axum::Json(summary),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// Trimmed; no control characters but newlines.
    #[schema(schema_with = meridian_common::openapi::text::<1, 2000>)]
    text: String,
}

/// The product's seller answers a review (session of the owner or any key
/// of that shop with `catalog:write`).
#[utoipa::path(post, path = "/api/reviews/{id}/reply", security(("session" = [])), tag = "reviews", request_body = ReplyBody, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn reply(
    State(state): State<AppState>,
    caller: Caller,
    Id(ReviewId(id)): Id<ReviewId>,
    Json(body): Json<ReplyBody>,
) -> Result<axum::Json<Review>, ApiError> {
    let words = text(&body.text, 1, 2_000)
        .map_err(|m| ApiError::validation(vec![meridian_common::FieldError::new("text", m)]))?;
    let review = state
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such review"))?;
    let seller = state
        .sellers
        .acting_seller(&caller, &[meridian_common::internal::Scope::CatalogWrite])
        .await?;
    if seller.seller_id != review.seller_id {
        return Err(ApiError::forbidden("only the product's seller can reply"));
    }
    let reply = Reply {
        text: words,
        at: Utc::now(),
    };
    let event = EventEnvelope::new(
        &state.region,
        "reviews.review.replied",
        1,
        review.product_id,
        json!({ "review_id": id }),
    );
    let updated = state
        .store
        .reply(id, &reply, vec![event])
        .await?
        .ok_or_else(|| ApiError::not_found("no such review"))?;
    Ok(axum::Json(updated))
}

#[utoipa::path(post, path = "/api/reviews/{id}/helpful", security(("session" = [])), tag = "reviews", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn helpful(
    State(state): State<AppState>,
    caller: Caller,
    Id(ReviewId(id)): Id<ReviewId>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let user = caller.require_user()?;
    let review = state
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such review"))?;
    if review.user_id == user {
        return Err(ApiError::forbidden("you cannot vote on your own review"));
    }
    let counted = state
        .store
        .vote(id, user)
        .await?
        .ok_or_else(|| ApiError::not_found("no such review"))?;
    Ok(axum::Json(json!({ "counted": counted })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// Trimmed; no control characters but newlines.
    #[schema(schema_with = meridian_common::openapi::text::<1, 500>)]
    reason: String,
}

#[utoipa::path(post, path = "/api/reviews/{id}/reports", security(("session" = [])), tag = "reviews", request_body = ReportBody, params(("id" = uuid::Uuid, Path)),
    responses((status = 202, body = Object), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Id(ReviewId(id)): Id<ReviewId>,
    Json(body): Json<ReportBody>,
) -> Result<(StatusCode, axum::Json<serde_json::Value>), ApiError> {
    let user = caller.require_user()?;
    let reason = text(&body.reason, 1, 500)
        .map_err(|m| ApiError::validation(vec![meridian_common::FieldError::new("reason", m)]))?;
    let event = EventEnvelope::new(
        &state.region,
        "reviews.review.reported",
        1,
        id,
        json!({ "review_id": id, "reason": reason }),
    );
    let counted = state
        .store
        .report(id, user, &reason, vec![event])
        .await?
        .ok_or_else(|| ApiError::not_found("no such review"))?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "counted": counted })),
    ))
}
