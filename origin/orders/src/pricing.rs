//! Cart lines → priced sub-orders per seller, as checkout charges them.
//! Checkout and the public quote share this, so a quote is exactly what the
//! buyer would pay now.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use meridian_common::clients::CartLineRef;
use meridian_common::extract::Json;
use meridian_common::internal::Caller;
use meridian_common::{ApiError, FieldError, Money, SellerId};
use serde::{Deserialize, Serialize};

use crate::domain::{Line, Order, SubOrder};
use crate::AppState;

/// Most lines a quote prices (a cart holds at most 50).
const MAX_QUOTE_LINES: usize = 100;

/// Prices `lines` against the catalog now, one sub-order per seller.
/// Unknown or archived products are a 422 naming them.
pub async fn price(
    state: &AppState,
    lines: &[CartLineRef],
    headers: &[(HeaderName, HeaderValue)],
) -> Result<Vec<SubOrder>, ApiError> {
    let ids: Vec<_> = lines.iter().map(|l| l.product_id).collect();
    let products = state.catalog.products(&ids, headers).await?;
    let mut by_seller: BTreeMap<SellerId, (String, Vec<Line>)> = BTreeMap::new();
    let mut unavailable = Vec::new();
    for l in lines {
        match products.iter().find(|p| p.id == l.product_id && p.active) {
            Some(p) => by_seller
                .entry(p.seller_id)
                .or_insert_with(|| (p.seller_name.clone(), Vec::new()))
                .1
                .push(Line {
                    product_id: p.id,
                    title: p.title.clone(),
                    unit_price: p.price,
                    quantity: l.quantity,
                    refunded_quantity: 0,
                }),
            None => unavailable.push(l.product_id.to_string()),
        }
    }
    if !unavailable.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unavailable_products",
            format!(
                "no longer sold: {}; remove them from your cart",
                unavailable.join(", ")
            ),
        ));
    }
    by_seller
        .into_iter()
        .map(|(seller, (name, lines))| SubOrder::priced(seller, name, lines, state.pricing))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unpriceable_cart", e))
}

/// Items, shipping, tax and total of priced sub-orders.
pub fn totals(subs: &[SubOrder]) -> Result<(Money, Money, Money, Money), ApiError> {
    Order::totals(subs)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "mixed_currencies", e))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    #[schema(min_items = 1, max_items = 100)]
    lines: Vec<CartLineRef>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Quote {
    sellers: Vec<SellerQuote>,
    items: Money,
    shipping: Money,
    tax: Money,
    total: Money,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SellerQuote {
    seller_id: SellerId,
    seller_name: String,
    items: Money,
    shipping: Money,
    tax: Money,
    total: Money,
}

/// What these lines would cost at checkout now (shipping per seller and
/// tax included). Open to guests: it reads nothing of anyone's.
#[utoipa::path(post, path = "/api/orders/quote", tag = "orders", request_body = QuoteRequest,
    responses((status = 200, body = Quote), (status = 400, description = "malformed_json", body = meridian_common::openapi::ErrorBody), (status = 415, description = "unsupported_media_type", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed / unavailable_products / mixed_currencies", body = meridian_common::openapi::ErrorBody), (status = 503, description = "unavailable", body = meridian_common::openapi::ErrorBody)))]
pub async fn quote(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<QuoteRequest>,
) -> Result<Response, ApiError> {
    if body.lines.is_empty() || body.lines.len() > MAX_QUOTE_LINES {
        return Err(ApiError::validation(vec![FieldError::new(
            "lines",
            format!("give 1 to {MAX_QUOTE_LINES} lines"),
        )]));
    }
    if body
        .lines
        .iter()
        .any(|l| l.quantity == 0 || l.quantity > 99)
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "lines",
            "every quantity must be between 1 and 99",
        )]));
    }
    let subs = price(&state, &body.lines, &caller.forward()).await?;
    let (items, shipping, tax, total) = totals(&subs)?;
    let quote = Quote {
        sellers: subs
            .into_iter()
            .map(|s| SellerQuote {
                seller_id: s.seller_id,
                seller_name: s.seller_name,
                items: s.items,
                shipping: s.shipping,
                tax: s.tax,
                total: s.total,
            })
            .collect(),
        items,
        shipping,
        tax,
        total,
    };
    Ok(([(CACHE_CONTROL, "no-store")], axum::Json(quote)).into_response())
}
