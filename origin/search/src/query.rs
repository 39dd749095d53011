//! Search requests, validated.

use meridian_common::SellerId;
use serde::Deserialize;

pub use meridian_common::taxonomy::CATEGORIES;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
    Rating,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub text: Option<String>,
    pub category: Option<String>,
    pub seller: Option<SellerId>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub min_rating_centi: Option<u32>,
    pub in_stock: bool,
    pub sort: SortBy,
    pub limit: u32,
    pub offset: u32,
}

/// Query-string parameters of `GET /api/search`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub q: Option<String>,
    pub category: Option<String>,
    pub seller: Option<String>,
    /// Cents.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Stars, 1–5 (decimals allowed, e.g. 4.5).
    pub min_rating: Option<f64>,
    pub in_stock: Option<bool>,
    pub sort: Option<SortBy>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

impl Params {
    pub fn validate(self) -> Result<SearchQuery, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        // The bound is on `q` as sent, as the schema's `maxLength` counts it.
        if self.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            errors.push(("q", "must be at most 200 characters".to_owned()));
        }
        let text = self
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        if let Some(c) = &self.category {
            if !CATEGORIES.iter().any(|(slug, _)| slug == c) {
                errors.push(("category", format!("unknown category {c:?}")));
            }
        }
        let seller = match self
            .seller
            .as_deref()
            .map(str::parse::<SellerId>)
            .transpose()
        {
            Ok(s) => s,
            Err(_) => {
                errors.push(("seller", "must be a seller id (UUID)".to_owned()));
                None
            }
        };
        for (name, v) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if v.is_some_and(|p| p < 0) {
                errors.push((name, "must not be negative".to_owned()));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_price, self.max_price) {
            if lo > hi {
                errors.push(("max_price", "must not be below min_price".to_owned()));
            }
        }
        let min_rating_centi = match self.min_rating {
            Some(r) if (1.0..=5.0).contains(&r) => Some((r * 100.0).round() as u32),
            Some(_) => {
                errors.push(("min_rating", "must be between 1 and 5".to_owned()));
                None
            }
            None => None,
        };
        let limit = self.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            errors.push(("limit", "must be between 1 and 100".to_owned()));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > 10_000 {
            errors.push(("offset", "must be at most 10000".to_owned()));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(SearchQuery {
            text,
            category: self.category,
            seller,
            min_price: self.min_price,
            max_price: self.max_price,
            min_rating_centi,
            in_stock: self.in_stock.unwrap_or(false),
            sort: self.sort.unwrap_or_default(),
            limit,
            offset,
        })
    }
}

/// The words of a search text, lowercased, at most 10: each must match.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(10)
        .map(str::to_lowercase)
        .collect()
}

/// Edits a word may be away from a match: none below 4 letters, one up to
/// 7, two from 8, the same in every index implementation.
pub fn fuzzy_distance(word: &str) -> Option<u8> {
    match word.chars().count() {
        0..=3 => None,
        4..=7 => Some(1),
        _ => Some(2),
    }
}
