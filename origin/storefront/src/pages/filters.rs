//! The filters and sorts of listing pages (category, shop, search), read
//! from the query string as people type them (dollars, "4 stars & up").
//! What cannot be read is reported beside the filter and left out, so the
//! page still shows results.

use serde::Deserialize;

use crate::format;
use crate::view::FormErrors;

/// The query string of a listing page, unparsed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Params {
    pub q: Option<String>,
    pub category: Option<String>,
    pub sort: Option<String>,
    /// Dollars.
    pub min_price: Option<String>,
    pub max_price: Option<String>,
    /// Stars, `1`–`4`.
    pub min_rating: Option<String>,
    pub in_stock: Option<String>,
    pub cursor: Option<String>,
    pub page: Option<String>,
}

/// What the filters mean, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub sort: Option<&'static str>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub min_rating: Option<u8>,
    pub in_stock: bool,
}

/// A sort choice: (value, label).
pub type Choice = (&'static str, &'static str);

pub const CATALOG_SORTS: &[Choice] = &[
    ("newest", "Newest"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
];

pub const SEARCH_SORTS: &[Choice] = &[
    ("relevance", "Best match"),
    ("newest", "Newest"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
    ("rating", "Top rated"),
];

pub const RATINGS: &[Choice] = &[
    ("", "Any rating"),
    ("4", "4 stars & up"),
    ("3", "3 stars & up"),
    ("2", "2 stars & up"),
];

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Params {
    /// Parses the filters against the sorts this page offers.
    pub fn filters(&self, sorts: &[Choice]) -> (Filters, FormErrors) {
        let mut errors = FormErrors::default();
        let mut f = Filters::default();
        if let Some(sort) = blank(&self.sort) {
            match sorts.iter().find(|(v, _)| *v == sort) {
                Some((v, _)) => f.sort = Some(v),
                None => errors.field("sort", "Choose one of the listed orders."),
            }
        }
        for (name, raw, slot) in [
            ("min_price", &self.min_price, &mut f.min_price),
            ("max_price", &self.max_price, &mut f.max_price),
        ] {
            if let Some(text) = blank(raw) {
                match format::parse_price(text) {
                    Ok(cents) => *slot = Some(cents),
                    Err(m) => errors.field(name, format!("Not a price: {m}.")),
                }
            }
        }
        if let (Some(lo), Some(hi)) = (f.min_price, f.max_price) {
            if lo > hi {
                errors.field("max_price", "The highest price is below the lowest.");
                f.max_price = None;
            }
        }
        if let Some(r) = blank(&self.min_rating) {
            match r.parse::<u8>() {
                Ok(stars @ 1..=5) => f.min_rating = Some(stars),
                _ => errors.field("min_rating", "Choose a rating from the list."),
            }
        }
        f.in_stock = blank(&self.in_stock).is_some_and(|v| v != "0" && v != "false");
        (f, errors)
    }

    /// 1-based page number of offset-paged results (search).
    pub fn page_number(&self) -> u32 {
        blank(&self.page)
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|p| (1..=400).contains(p))
            .unwrap_or(1)
    }
}

impl Filters {
    /// The filters as query parameters, for links that keep them.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = self.sort {
            q.push(("sort", s.to_owned()));
        }
        if let Some(c) = self.min_price {
            q.push(("min_price", format::price_input(c)));
        }
        if let Some(c) = self.max_price {
            q.push(("max_price", format::price_input(c)));
        }
        if let Some(r) = self.min_rating {
            q.push(("min_rating", r.to_string()));
        }
        if self.in_stock {
            q.push(("in_stock", "1".to_owned()));
        }
        q
    }
}

/// The filter form as a listing page shows it: what was typed (kept even
/// when it could not be read), the choices and the problems.
#[derive(Debug, Clone)]
pub struct Panel {
    pub min_price: String,
    pub max_price: String,
    pub rating: String,
    pub sort: &'static str,
    pub in_stock: bool,
    pub sorts: &'static [Choice],
    pub ratings: &'static [Choice],
    pub errors: FormErrors,
}

impl Panel {
    pub fn new(
        params: &Params,
        filters: &Filters,
        errors: FormErrors,
        sorts: &'static [Choice],
    ) -> Self {
        Self {
            min_price: params.min_price.clone().unwrap_or_default(),
            max_price: params.max_price.clone().unwrap_or_default(),
            rating: filters
                .min_rating
                .map(|r| r.to_string())
                .unwrap_or_default(),
            sort: filters.sort.unwrap_or(sorts[0].0),
            in_stock: filters.in_stock,
            sorts,
            ratings: RATINGS,
            errors,
        }
    }
}

/// `path?a=b&…` (just `path` without parameters).
pub fn link(path: &str, params: &[(&str, String)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let q = serde_urlencoded::to_string(pairs).unwrap();
        serde_urlencoded::from_str(&q).unwrap()
    }

    #[test]
    fn filters_parse_what_people_type() {
        let (f, errors) = params(&[
            ("sort", "price_asc"),
            ("min_price", "10"),
            ("max_price", "$25.50"),
            ("min_rating", "4"),
            ("in_stock", "1"),
        ])
        .filters(CATALOG_SORTS);
        assert!(errors.is_empty());
        assert_eq!(
            f,
            Filters {
                sort: Some("price_asc"),
                min_price: Some(1000),
                max_price: Some(2550),
                min_rating: Some(4),
                in_stock: true
            }
        );
        assert_eq!(
            link("/c/books", &f.query()),
            "/c/books?sort=price_asc&min_price=10.00&max_price=25.50&min_rating=4&in_stock=1"
        );
    }

    #[test]
    fn bad_filters_are_reported_and_left_out() {
        let (f, errors) = params(&[
            ("sort", "rating"),
            ("min_price", "cheap"),
            ("max_price", "5"),
            ("min_rating", "9"),
        ])
        .filters(CATALOG_SORTS);
        assert_eq!(f.sort, None);
        assert_eq!(f.min_price, None);
        assert_eq!(f.max_price, Some(500));
        assert!(errors.of("sort").is_some());
        assert!(errors.of("min_price").is_some());
        assert!(errors.of("min_rating").is_some());
        let (f, errors) = params(&[("min_price", "9"), ("max_price", "5")]).filters(CATALOG_SORTS);
        assert_eq!((f.min_price, f.max_price), (Some(900), None));
        assert!(errors.of("max_price").is_some());
        assert_eq!(params(&[("page", "0")]).page_number(), 1);
        assert_eq!(params(&[("page", "3")]).page_number(), 3);
    }
}
