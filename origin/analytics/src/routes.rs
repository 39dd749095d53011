//! HTTP handlers. Sellers see only their own figures (API key with an
//! orders scope, or their session); platform figures need the ops
//! credential in `x-admin-token`. Every response is `private, no-store`:
//! these are per-caller numbers no cache may share.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use meridian_common::error::FieldError;
use meridian_common::extract::Query;
use meridian_common::internal::{Caller, Scope};
use meridian_common::ApiError;
use serde::{Deserialize, Serialize};

use crate::domain::{DayRange, DeadLetter, Funnel, ProductSales, SalesCell};
use crate::AppState;

/// Header carrying the ops credential.
pub const ADMIN_HEADER: &str = "x-admin-token";
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

/// The days of a summary.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// First day, `YYYY-MM-DD` (UTC); default 29 days before `to`.
    #[param(format = Date)]
    from: Option<String>,
    /// Last day, inclusive; default today. At most 366 days in all.
    #[param(format = Date)]
    to: Option<String>,
}

/// The days and length of a top list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TopParams {
    /// First day, `YYYY-MM-DD` (UTC); default 29 days before `to`.
    #[param(format = Date)]
    from: Option<String>,
    /// Last day, inclusive; default today. At most 366 days in all.
    #[param(format = Date)]
    to: Option<String>,
    /// Rows, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// How many of the latest rows.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecentParams {
    /// Rows, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

impl RangeParams {
    fn range(&self) -> Result<DayRange, ApiError> {
        day_range(self.from.as_deref(), self.to.as_deref())
    }
}

impl TopParams {
    fn range_and_limit(&self) -> Result<(DayRange, usize), ApiError> {
        Ok((
            day_range(self.from.as_deref(), self.to.as_deref())?,
            row_limit(self.limit)?,
        ))
    }
}

fn day_range(from: Option<&str>, to: Option<&str>) -> Result<DayRange, ApiError> {
    DayRange::parse(from, to, Utc::now().date_naive())
        .map_err(|(field, message)| ApiError::validation(vec![FieldError::new(field, message)]))
}

fn row_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation(vec![FieldError::new(
            "limit",
            format!("must be within 1..={MAX_LIMIT}"),
        )])),
    }
}

/// Sales of one cell: a currency, and a day and/or region when grouped so.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SalesRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub currency: String,
    /// Paid sub-orders (a seller's share of an order).
    pub orders: u64,
    /// Sub-order totals: items, shipping and tax, in minor units.
    pub gross_cents: i64,
    pub refunded_cents: i64,
    pub net_cents: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Sales {
    pub totals: Vec<SalesRow>,
    pub by_day: Vec<SalesRow>,
    pub by_region: Vec<SalesRow>,
}

/// Groups cells by (day?, region?, currency).
fn group(cells: &[SalesCell], by_day: bool, by_region: bool) -> Vec<SalesRow> {
    type Key = (Option<NaiveDate>, Option<String>, String);
    let mut rows: BTreeMap<Key, (u64, i64, i64)> = BTreeMap::new();
    for c in cells {
        let key = (
            by_day.then_some(c.day),
            by_region.then(|| c.region.clone()),
            c.currency.clone(),
        );
        let row = rows.entry(key).or_default();
        row.0 += c.orders;
        row.1 += c.gross_cents;
        row.2 += c.refunded_cents;
    }
    rows.into_iter()
        .map(
            |((day, region, currency), (orders, gross, refunded))| SalesRow {
                day,
                region,
                currency,
                orders,
                gross_cents: gross,
                refunded_cents: refunded,
                net_cents: gross - refunded,
            },
        )
        .collect()
}

fn sales(cells: &[SalesCell]) -> Sales {
    Sales {
        totals: group(cells, false, false),
        by_day: group(cells, true, false),
        by_region: group(cells, false, true),
    }
}

/// Numbers no shared cache may keep.
fn private(body: impl Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

async fn seller_of(state: &AppState, caller: &Caller) -> Result<String, ApiError> {
    let shop = state
        .sellers
        .acting_seller(caller, &[Scope::OrdersRead, Scope::OrdersWrite])
        .await?;
    Ok(shop.seller_id.to_string())
}

fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if !state.admin_token.is_configured() {
        return Err(ApiError::forbidden(
            "platform analytics are disabled (no analytics.admin_token configured)",
        ));
    }
    match headers.get(ADMIN_HEADER) {
        None => Err(ApiError::unauthorized(format!(
            "platform analytics need the ops credential in {ADMIN_HEADER}"
        ))),
        Some(token) if state.admin_token.matches(token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::forbidden("the ops credential is not valid")),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SellerSummary {
    pub seller_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub sales: Sales,
    /// The shop's own funnel: carts that took its products, checkouts and
    /// paid orders with a sub-order of it.
    pub funnel: FunnelView,
}

#[utoipa::path(get, path = "/api/analytics/seller/summary", security(("session" = [])), tag = "analytics", params(RangeParams),
    responses((status = 200, body = SellerSummary), (status = 400, description = "invalid_query", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 503, description = "unavailable", body = meridian_common::openapi::ErrorBody)))]
pub async fn seller_summary(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<RangeParams>,
) -> Result<Response, ApiError> {
    let range = params.range()?;
    let seller = seller_of(&state, &caller).await?;
    let cells = state.store.sales(Some(&seller), range).await?;
    let funnel = funnel_view(state.store.funnel(Some(&seller), range).await?);
    Ok(private(SellerSummary {
        seller_id: seller,
        from: range.from,
        to: range.to,
        sales: sales(&cells),
        funnel,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopProducts {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub items: Vec<ProductSales>,
}

#[utoipa::path(get, path = "/api/analytics/seller/top-products", security(("session" = [])), tag = "analytics", params(TopParams),
    responses((status = 200, body = TopProducts), (status = 400, description = "invalid_query", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden / insufficient_scope", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 503, description = "unavailable", body = meridian_common::openapi::ErrorBody)))]
pub async fn seller_top_products(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<TopParams>,
) -> Result<Response, ApiError> {
    let (range, limit) = params.range_and_limit()?;
    let seller = seller_of(&state, &caller).await?;
    let items = state
        .store
        .top_products(Some(&seller), range, limit)
        .await?;
    Ok(private(TopProducts {
        from: range.from,
        to: range.to,
        items,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FunnelDay {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub funnel: Funnel,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FunnelView {
    /// Distinct over the whole range.
    #[serde(flatten)]
    pub total: Funnel,
    /// Checkouts per cart, paid orders per checkout (0 when undefined).
    pub checkout_rate: f64,
    pub paid_rate: f64,
    pub by_day: Vec<FunnelDay>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RatingDay {
    pub day: NaiveDate,
    /// New ratings that day.
    pub ratings: i64,
    /// Stars those ratings and that day's edits added.
    pub stars: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ratings {
    pub ratings: i64,
    /// Mean stars of the range's ratings (edits included); `null` without.
    pub average: Option<f64>,
    pub by_day: Vec<RatingDay>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CarrierDeliveries {
    pub carrier: String,
    pub deliveries: u64,
    /// Mean time from shipping to delivery.
    pub average_hours: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventCount {
    #[serde(rename = "type")]
    pub event_type: String,
    pub events: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlatformSummary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub sales: Sales,
    pub funnel: FunnelView,
    pub ratings: Ratings,
    pub deliveries: Vec<CarrierDeliveries>,
    /// Events loaded so far (all time), per type.
    pub events: Vec<EventCount>,
}

fn funnel_view((total, days): (Funnel, Vec<(NaiveDate, Funnel)>)) -> FunnelView {
    FunnelView {
        checkout_rate: ratio(total.checkouts, total.carts),
        paid_rate: ratio(total.paid, total.checkouts),
        total,
        by_day: days
            .into_iter()
            .map(|(day, funnel)| FunnelDay { day, funnel })
            .collect(),
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[utoipa::path(get, path = "/api/analytics/platform/summary", security(("ops_token" = [])), tag = "analytics", params(RangeParams),
    responses((status = 200, body = PlatformSummary), (status = 400, description = "invalid_query", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 503, description = "unavailable", body = meridian_common::openapi::ErrorBody)))]
pub async fn platform_summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<RangeParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let range = params.range()?;
    let store = &state.store;
    let cells = store.sales(None, range).await?;
    let funnel = funnel_view(store.funnel(None, range).await?);
    let rating_days = store.ratings(range).await?;
    let deliveries = store.deliveries(range).await?;
    let counts = store.event_counts().await?;
    let ratings: i64 = rating_days.iter().map(|r| r.ratings).sum();
    let stars: i64 = rating_days.iter().map(|r| r.stars).sum();
    Ok(private(PlatformSummary {
        from: range.from,
        to: range.to,
        sales: sales(&cells),
        funnel,
        ratings: Ratings {
            ratings,
            average: (ratings > 0).then(|| stars as f64 / ratings as f64),
            by_day: rating_days
                .into_iter()
                .map(|r| RatingDay {
                    day: r.day,
                    ratings: r.ratings,
                    stars: r.stars,
                })
                .collect(),
        },
        deliveries: deliveries
            .into_iter()
            .map(|d| CarrierDeliveries {
                average_hours: if d.deliveries == 0 {
                    0.0
                } else {
                    d.seconds as f64 / d.deliveries as f64 / 3600.0
                },
                carrier: d.carrier,
                deliveries: d.deliveries,
            })
            .collect(),
        events: counts
            .into_iter()
            .map(|(event_type, events)| EventCount { event_type, events })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/analytics/platform/top-products", security(("ops_token" = [])), tag = "analytics", params(TopParams),
    responses((status = 200, body = TopProducts), (status = 400, description = "invalid_query", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 503, description = "unavailable", body = meridian_common::openapi::ErrorBody)))]
pub async fn platform_top_products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<TopParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let (range, limit) = params.range_and_limit()?;
    let items = state.store.top_products(None, range, limit).await?;
    Ok(private(TopProducts {
        from: range.from,
        to: range.to,
        items,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetters {
    pub items: Vec<DeadLetter>,
}

#[utoipa::path(get, path = "/api/analytics/platform/dead-letters", security(("ops_token" = [])), tag = "analytics", params(RecentParams),
    responses((status = 200, body = DeadLetters), (status = 400, description = "invalid_query", body = meridian_common::openapi::ErrorBody), (status = 401, description = "unauthorized", body = meridian_common::openapi::ErrorBody), (status = 403, description = "forbidden", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody), (status = 503, description = "unavailable", body = meridian_common::openapi::ErrorBody)))]
pub async fn dead_letters(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<RecentParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let items = state.store.dead_letters(row_limit(params.limit)?).await?;
    Ok(private(DeadLetters { items }))
}
