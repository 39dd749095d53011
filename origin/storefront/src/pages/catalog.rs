//! Browsing: the home page, a category, a shop. These pages are the same
//! for everyone and cached at the edge, tagged so that a product, listing
//! or shop change purges them.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use meridian_common::cache_tags;
use meridian_common::public_api::{Actor, CategoryCount, ProductQuery, SearchQuery};
use meridian_common::taxonomy::CATEGORIES;

use super::filters::{self, Panel, Params, CATALOG_SORTS};
use super::{notice, Path, Query};
use crate::error::PageError;
use crate::layout::{self, Chrome};
use crate::view::Card;
use crate::AppState;

pub use super::product::product;
pub use super::search::search;

/// Products per listing page.
pub const PAGE_SIZE: u32 = 24;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    chrome: Chrome,
    categories: Vec<CategoryCount>,
    newest: Vec<Card>,
    top_rated: Vec<Card>,
}

/// `?done=…` after a redirect (see `notice`).
#[derive(serde::Deserialize, Default)]
pub struct Done {
    pub done: Option<String>,
}

pub async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Done>,
) -> Result<Response, PageError> {
    let actor = Actor::anonymous(&headers);
    let api = &state.api;
    let newest = ProductQuery {
        sort: Some("newest".into()),
        limit: Some(8),
        ..ProductQuery::default()
    };
    let top = SearchQuery {
        sort: Some("rating".into()),
        min_rating: Some(1.0),
        limit: Some(8),
        ..SearchQuery::default()
    };
    let (categories, newest, top) = futures::join!(
        api.categories(&actor),
        api.products(&actor, &newest),
        api.search(&actor, &top)
    );
    let mut chrome = Chrome::plain("Handmade and independent goods");
    chrome.notice = notice(q.done.as_deref());
    let page = Home {
        chrome,
        categories: categories?,
        newest: newest?.items.iter().map(Card::of_product).collect(),
        top_rated: top?.items.iter().map(Card::of_hit).collect(),
    };
    layout::shared(
        &page,
        &[
            cache_tags::PRODUCT_LISTS.to_owned(),
            cache_tags::SEARCH.to_owned(),
        ],
    )
}

/// A category's or a shop's products: filters, sort, cursor pages.
#[derive(Template)]
#[template(path = "listing.html")]
struct Listing {
    chrome: Chrome,
    heading: String,
    intro: String,
    path: String,
    panel: Panel,
    cards: Vec<Card>,
    next: Option<String>,
    first: Option<String>,
}

/// Fetches one page of `query` (with the page's filters) and builds the
/// listing around it.
async fn listing(
    state: &AppState,
    headers: &HeaderMap,
    mut query: ProductQuery,
    params: Params,
    heading: String,
    intro: String,
    path: String,
) -> Result<Listing, PageError> {
    let (filters, errors) = params.filters(CATALOG_SORTS);
    query.sort = filters.sort.map(str::to_owned);
    query.min_price = filters.min_price;
    query.max_price = filters.max_price;
    query.min_rating = filters.min_rating.map(f64::from);
    query.in_stock = filters.in_stock.then_some(true);
    query.limit = Some(PAGE_SIZE);
    query.cursor = params.cursor.clone().filter(|c| !c.is_empty());
    let actor = Actor::anonymous(headers);
    let page = match state.api.products(&actor, &query).await {
        Ok(page) => page,
        // A stale or edited cursor: start over rather than fail.
        Err(meridian_common::client::ClientError::Api { status: 422, .. })
            if query.cursor.is_some() =>
        {
            query.cursor = None;
            state.api.products(&actor, &query).await?
        }
        Err(e) => return Err(e.into()),
    };
    let keep = filters.query();
    let next = page.next_cursor.as_ref().map(|c| {
        let mut q = keep.clone();
        q.push(("cursor", c.clone()));
        filters::link(&path, &q)
    });
    let first = query.cursor.is_some().then(|| filters::link(&path, &keep));
    let mut chrome = Chrome::plain(&heading);
    chrome.description = intro.clone();
    Ok(Listing {
        chrome,
        heading,
        intro,
        path,
        panel: Panel::new(&params, &filters, errors, CATALOG_SORTS),
        cards: page.items.iter().map(Card::of_product).collect(),
        next,
        first,
    })
}

pub async fn category(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let Some((slug, name)) = CATEGORIES.iter().find(|(s, _)| *s == slug) else {
        return Err(PageError::NotFound);
    };
    let query = ProductQuery {
        category: Some((*slug).to_owned()),
        ..ProductQuery::default()
    };
    let mut page = listing(
        &state,
        &headers,
        query,
        params,
        (*name).to_owned(),
        format!("{name} from independent shops across the US."),
        format!("/c/{slug}"),
    )
    .await?;
    page.chrome.category = Some((*slug).to_owned());
    layout::shared(&page, &[cache_tags::PRODUCT_LISTS.to_owned()])
}

pub async fn shop(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let actor = Actor::anonymous(&headers);
    let shop = state
        .api
        .shop(&actor, &slug)
        .await?
        .ok_or(PageError::NotFound)?;
    let query = ProductQuery {
        seller: Some(shop.id),
        ..ProductQuery::default()
    };
    let intro = if shop.description.is_empty() {
        format!(
            "An independent shop on Meridian since {}.",
            crate::format::date(shop.created_at)
        )
    } else {
        shop.description.clone()
    };
    let page = listing(
        &state,
        &headers,
        query,
        params,
        shop.name.clone(),
        intro,
        format!("/shop/{}", shop.slug),
    )
    .await?;
    layout::shared(
        &page,
        &[
            cache_tags::shop(shop.id),
            cache_tags::PRODUCT_LISTS.to_owned(),
        ],
    )
}
