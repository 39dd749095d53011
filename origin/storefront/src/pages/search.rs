//! Search results: relevance with typo tolerance (the search service's),
//! category facets with counts, filters, pages; and a page that helps when
//! nothing matches. The same for everyone, cached at the edge.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use meridian_common::cache_tags;
use meridian_common::public_api::{Actor, SearchQuery};
use meridian_common::taxonomy::CATEGORIES;

use super::filters::{self, Filters, Panel, Params, SEARCH_SORTS};
use super::Query;
use crate::error::PageError;
use crate::layout::{self, Chrome};
use crate::view::Card;
use crate::AppState;

const PER_PAGE: u32 = 24;

/// A category facet: name, count, and the link that toggles it.
struct Facet {
    name: &'static str,
    count: u64,
    href: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "search.html")]
struct Search {
    chrome: Chrome,
    q: String,
    total: u64,
    cards: Vec<Card>,
    facets: Vec<Facet>,
    category: Option<(String, &'static str)>,
    panel: Panel,
    prev: Option<String>,
    next: Option<String>,
    page: u32,
    pages: u64,
    /// Shown when nothing matched.
    suggestions: Vec<Card>,
    without_filters: Option<String>,
}

impl Search {
    fn category_slug(&self) -> &str {
        self.category.as_ref().map_or("", |(s, _)| s.as_str())
    }
}

pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let (filters, mut errors) = params.filters(SEARCH_SORTS);
    let q: String = params
        .q
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(200)
        .collect();
    let category = params
        .category
        .as_deref()
        .filter(|c| !c.is_empty())
        .and_then(|c| {
            let found = CATEGORIES.iter().find(|(s, _)| *s == c);
            if found.is_none() {
                errors.field("category", "That category does not exist.");
            }
            found.map(|(s, n)| ((*s).to_owned(), *n))
        });
    let page = params.page_number();
    let query = SearchQuery {
        q: (!q.is_empty()).then(|| q.clone()),
        category: category.as_ref().map(|(s, _)| s.clone()),
        min_price: filters.min_price,
        max_price: filters.max_price,
        min_rating: filters.min_rating.map(f64::from),
        in_stock: filters.in_stock.then_some(true),
        sort: filters.sort.map(str::to_owned),
        limit: Some(PER_PAGE),
        offset: Some((page - 1) * PER_PAGE),
        ..SearchQuery::default()
    };
    let actor = Actor::anonymous(&headers);
    let results = state.api.search(&actor, &query).await?;

    // Links keep the query and filters; facets toggle the category.
    let mut keep = filters.query();
    if !q.is_empty() {
        keep.insert(0, ("q", q.clone()));
    }
    let with = |extra: &[(&'static str, String)]| {
        let mut all = keep.clone();
        all.extend_from_slice(extra);
        filters::link("/search", &all)
    };
    let in_category: Vec<(&'static str, String)> = category
        .iter()
        .map(|(s, _)| ("category", s.clone()))
        .collect();
    let facets = CATEGORIES
        .iter()
        .filter_map(|(slug, name)| {
            let count = *results.facets.category.get(*slug)?;
            let selected = category.as_ref().is_some_and(|(s, _)| s == slug);
            let href = if selected {
                with(&[])
            } else {
                with(&[("category", (*slug).to_owned())])
            };
            Some(Facet {
                name,
                count,
                href,
                selected,
            })
        })
        .collect();
    let pages = results.total.div_ceil(u64::from(PER_PAGE));
    let paged = |n: u32| {
        let mut extra = in_category.clone();
        extra.push(("page", n.to_string()));
        with(&extra)
    };
    let prev = (page > 1).then(|| paged(page - 1));
    let next = (u64::from(page) < pages).then(|| paged(page + 1));

    // Nothing found: the best-rated products instead, and the search
    // without its filters if they were the cause.
    let (suggestions, without_filters) = if results.total == 0 {
        let top = SearchQuery {
            sort: Some("rating".into()),
            limit: Some(8),
            ..SearchQuery::default()
        };
        let top = state.api.search(&actor, &top).await?;
        let filtered = filters != Filters::default() || category.is_some();
        let plain =
            (filtered && !q.is_empty()).then(|| filters::link("/search", &[("q", q.clone())]));
        (top.items.iter().map(Card::of_hit).collect(), plain)
    } else {
        (Vec::new(), None)
    };

    let title = if q.is_empty() {
        "All products".to_owned()
    } else {
        format!("Results for “{q}”")
    };
    let mut chrome = Chrome::plain(&title);
    chrome.query = q.clone();
    let view = Search {
        chrome,
        q,
        total: results.total,
        cards: results.items.iter().map(Card::of_hit).collect(),
        facets,
        category,
        panel: Panel::new(&params, &filters, errors, SEARCH_SORTS),
        prev,
        next,
        page,
        pages,
        suggestions,
        without_filters,
    };
    layout::shared(&view, &[cache_tags::SEARCH.to_owned()])
}
