//! The product page: images, price, stock, the shop, the rating summary
//! with its histogram, reviews (paged, helpful votes, sellers' replies) and
//! the add-to-cart form. The same for everyone, cached at the edge and
//! purged by the product's, its shop's and its reviews' change events.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use meridian_common::cache_tags;
use meridian_common::public_api::{Actor, Product, Review, ReviewQuery, Shop};
use meridian_common::ProductId;
use serde::Deserialize;

use super::filters::link;
use super::{notice, Path, Query};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome};
use crate::view::Rating;
use crate::AppState;

const REVIEWS_PER_PAGE: u32 = 10;
/// The quantity menu goes up to this (or the stock, if lower).
const MAX_CHOICE: u32 = 10;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    reviews: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

/// One row of the rating histogram.
struct Bar {
    stars: u8,
    count: u32,
    /// Width of the bar, 0–100.
    width: u32,
}

struct ReviewView {
    id: String,
    rating: Rating,
    text: String,
    date: String,
    iso: String,
    helpful: u32,
    reply: Option<(String, String)>,
    edited: bool,
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    chrome: Chrome,
    p: Product,
    price: String,
    category_name: &'static str,
    shop: Option<Shop>,
    images: Vec<String>,
    stock: Option<(&'static str, String)>,
    quantities: Vec<u32>,
    rating: Rating,
    histogram: Vec<Bar>,
    average: String,
    reviews: Vec<ReviewView>,
    sort: &'static str,
    newest_href: String,
    helpful_href: String,
    more: Option<String>,
}

fn review_view(r: &Review) -> ReviewView {
    ReviewView {
        id: r.id.to_string(),
        rating: Rating::new(u32::from(r.rating) * 100, 1),
        text: r.text.clone(),
        date: format::date(r.created_at),
        iso: format::iso(r.created_at),
        helpful: r.helpful,
        reply: r
            .reply
            .as_ref()
            .map(|reply| (reply.text.clone(), format::date(reply.at))),
        edited: r.updated_at > r.created_at,
    }
}

pub async fn product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let id: ProductId = id.parse().map_err(|_| PageError::NotFound)?;
    let actor = Actor::anonymous(&headers);
    let sort = match params.reviews.as_deref() {
        Some("helpful") => "helpful",
        _ => "newest",
    };
    let page = params
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|p| (1..=1000).contains(p))
        .unwrap_or(1);
    let query = ReviewQuery {
        sort: Some(sort.to_owned()),
        limit: Some(REVIEWS_PER_PAGE),
        offset: Some((page - 1) * REVIEWS_PER_PAGE),
    };
    let (product, reviews) = futures::join!(
        state.api.product(&actor, id),
        state.api.reviews(&actor, id, &query)
    );
    let p = product?.ok_or(PageError::NotFound)?;
    let reviews = reviews?;
    let shop = state.api.shop(&actor, &p.seller_id.to_string()).await?;

    // The reviews service's own summary: current the moment a review is
    // stored (the catalog's copy follows by event).
    let summary = reviews.summary;
    let most = summary.histogram.iter().copied().max().unwrap_or(0).max(1);
    let histogram = (1..=5u8)
        .rev()
        .map(|stars| {
            let count = summary.histogram[usize::from(stars) - 1];
            Bar {
                stars,
                count,
                width: count * 100 / most,
            }
        })
        .collect();
    let path = format!("/p/{id}");
    let more = reviews.next_offset.map(|_| {
        link(
            &path,
            &[
                ("reviews", sort.to_owned()),
                ("page", (page + 1).to_string()),
            ],
        ) + "#reviews"
    });
    let mut chrome = Chrome::plain(&p.title);
    chrome.description = p.description.chars().take(160).collect();
    chrome.category = Some(p.category.clone());
    chrome.notice = notice(params.done.as_deref());
    let view = ProductPage {
        chrome,
        price: format::money(p.price),
        category_name: format::category_name(&p.category),
        images: p.image_urls.clone(),
        stock: format::stock_note(p.stock),
        quantities: (1..=p.stock.min(MAX_CHOICE)).collect(),
        rating: Rating::of(&summary),
        average: format::average(summary.average_centi()),
        histogram,
        reviews: reviews.items.iter().map(review_view).collect(),
        sort,
        newest_href: format!("{path}?reviews=newest#reviews"),
        helpful_href: format!("{path}?reviews=helpful#reviews"),
        more,
        shop,
        p,
    };
    let tags = [cache_tags::product(id), cache_tags::shop(view.p.seller_id)];
    layout::shared(&view, &tags)
}
