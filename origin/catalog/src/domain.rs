//! Catalog types. A `ListQuery` can only be built valid: limits bounded,
//! category known, cursor matching the sort it was issued for.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use meridian_common::{Money, ProductId, SellerId};
use serde::{Deserialize, Serialize};

pub use meridian_common::taxonomy::CATEGORIES;

/// A category of `CATEGORIES`, held as its index there.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct Category(u8);

impl Category {
    pub fn parse(slug: &str) -> Result<Self, String> {
        CATEGORIES
            .iter()
            .position(|(s, _)| *s == slug)
            .map(|i| Category(i as u8))
            .ok_or_else(|| format!("unknown category {slug:?}"))
    }

    pub fn slug(self) -> &'static str {
        CATEGORIES[self.0 as usize].0
    }

    pub fn name(self) -> &'static str {
        CATEGORIES[self.0 as usize].1
    }
}

impl TryFrom<String> for Category {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Category> for String {
    fn from(c: Category) -> String {
        c.slug().to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    pub id: ProductId,
    pub seller_id: SellerId,
    pub title: String,
    pub description: String,
    pub price: Money,
    pub category: Category,
    pub attributes: BTreeMap<String, String>,
    pub stock: u32,
    pub image_urls: Vec<String>,
    #[serde(default)]
    pub status: ProductStatus,
    /// The shop's name at listing time (denormalised for product pages).
    #[serde(default)]
    pub seller_name: String,
    #[serde(default)]
    pub rating: RatingSummary,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    #[default]
    Active,
    /// Withdrawn by the seller: not listed, not purchasable, page still works.
    Archived,
}

/// Review ratings of a product, kept current by review events.
pub use meridian_common::rating::RatingSummary;

/// Seller edits of a product; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<Money>,
    pub category: Option<Category>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub image_urls: Option<Vec<String>>,
    pub status: Option<ProductStatus>,
}

impl Product {
    /// The product as the search index holds it.
    pub fn search_doc(&self) -> meridian_common::clients::SearchDoc {
        meridian_common::clients::SearchDoc {
            product_id: self.id,
            seller_id: self.seller_id,
            seller_name: self.seller_name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            attributes: self
                .attributes
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
            category: self.category.slug().to_owned(),
            price: self.price,
            rating_centi: self.rating.average_centi(),
            rating_count: self.rating.count,
            in_stock: self.stock > 0,
            image_url: self.image_urls.first().cloned(),
            created_at: self.created_at,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == ProductStatus::Active
    }

    pub fn apply(&mut self, patch: &ProductPatch, now: DateTime<Utc>) {
        if let Some(v) = &patch.title {
            self.title = v.clone();
        }
        if let Some(v) = &patch.description {
            self.description = v.clone();
        }
        if let Some(v) = patch.price {
            self.price = v;
        }
        if let Some(v) = patch.category {
            self.category = v;
        }
        if let Some(v) = &patch.attributes {
            self.attributes = v.clone();
        }
        if let Some(v) = &patch.image_urls {
            self.image_urls = v.clone();
        }
        if let Some(v) = patch.status {
            self.status = v;
        }
        self.updated_at = now;
    }
}

/// One line of a stock reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveLine {
    pub product_id: ProductId,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveError {
    /// Not enough stock for these products; nothing was reserved.
    OutOfStock(Vec<ProductId>),
    /// Unknown or archived products; nothing was reserved.
    Unavailable(Vec<ProductId>),
}

/// Quantities per product, duplicate lines summed (so they cannot
/// over-take), in first-seen order.
pub fn wanted(lines: &[ReserveLine]) -> Vec<(ProductId, u64)> {
    let mut out: Vec<(ProductId, u64)> = Vec::new();
    for line in lines {
        match out.iter_mut().find(|(id, _)| *id == line.product_id) {
            Some((_, qty)) => *qty += u64::from(line.quantity),
            None => out.push((line.product_id, u64::from(line.quantity))),
        }
    }
    out
}

/// Why `wanted` cannot be reserved from the current products (`lookup`),
/// or `None` if it can: unknown or archived products first, then short ones.
pub fn shortage<'a>(
    wanted: &[(ProductId, u64)],
    lookup: impl Fn(ProductId) -> Option<&'a Product>,
) -> Option<ReserveError> {
    let mut unavailable = Vec::new();
    let mut short = Vec::new();
    for (id, qty) in wanted {
        match lookup(*id) {
            Some(p) if p.is_active() => {
                if u64::from(p.stock) < *qty {
                    short.push(*id);
                }
            }
            _ => unavailable.push(*id),
        }
    }
    unavailable.sort();
    short.sort();
    if !unavailable.is_empty() {
        Some(ReserveError::Unavailable(unavailable))
    } else if !short.is_empty() {
        Some(ReserveError::OutOfStock(short))
    } else {
        None
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Newest,
    PriceAsc,
    PriceDesc,
}

impl Sort {
    /// Every sort is an ascending walk over `(key, id)`; the id breaks ties so
    /// pagination is stable even when many products share a price.
    pub fn key(self, p: &Product) -> i64 {
        match self {
            Sort::Newest => -p.created_at.timestamp_micros(),
            Sort::PriceAsc => p.price.amount,
            Sort::PriceDesc => -p.price.amount,
        }
    }
}

/// Position after the last item of a page: the `(key, id)` it ended on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: Sort,
    #[serde(rename = "k")]
    pub key: i64,
    #[serde(rename = "i")]
    pub id: ProductId,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor serialises"))
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| "malformed cursor".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "malformed cursor".to_owned())
    }
}

pub const DEFAULT_LIMIT: u32 = 24;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub category: Option<Category>,
    pub sort: Sort,
    pub limit: u32,
    pub after: Option<Cursor>,
    /// Which products of the walk a page keeps (all by default).
    pub filter: ListFilter,
}

/// Narrows a listing beyond its category. A page walks the sort order and
/// keeps the products this admits, so cursors stay `(key, id)` positions
/// and pagination stays stable under any filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub seller: Option<SellerId>,
    /// Inclusive bounds, minor units.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Average rating at least this, in hundredths of a star.
    pub min_rating_centi: Option<u32>,
    pub in_stock: bool,
}

impl ListFilter {
    pub fn parse(
        seller: Option<&str>,
        min_price: Option<i64>,
        max_price: Option<i64>,
        min_rating: Option<f64>,
        in_stock: Option<bool>,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let seller = match seller.map(str::parse::<SellerId>).transpose() {
            Ok(s) => s,
            Err(_) => {
                errors.push(("seller", "must be a seller id (UUID)".to_owned()));
                None
            }
        };
        for (name, v) in [("min_price", min_price), ("max_price", max_price)] {
            if v.is_some_and(|p| p < 0) {
                errors.push((name, "must not be negative".to_owned()));
            }
        }
        if let (Some(lo @ 0..), Some(hi @ 0..)) = (min_price, max_price) {
            if lo > hi {
                errors.push(("max_price", "must not be below min_price".to_owned()));
            }
        }
        let min_rating_centi = match min_rating {
            None => None,
            Some(r) if r.is_finite() && (1.0..=5.0).contains(&r) => {
                Some((r * 100.0).round() as u32)
            }
            Some(_) => {
                errors.push(("min_rating", "must be between 1 and 5".to_owned()));
                None
            }
        };
        if errors.is_empty() {
            Ok(Self {
                seller,
                min_price,
                max_price,
                min_rating_centi,
                in_stock: in_stock.unwrap_or(false),
            })
        } else {
            Err(errors)
        }
    }

    pub fn admits(&self, p: &Product) -> bool {
        self.seller.is_none_or(|s| p.seller_id == s)
            && self.min_price.is_none_or(|lo| p.price.amount >= lo)
            && self.max_price.is_none_or(|hi| p.price.amount <= hi)
            && self
                .min_rating_centi
                .is_none_or(|r| p.rating.average_centi() >= r)
            && (!self.in_stock || p.stock > 0)
    }

    /// Whether every product passes (a page then needs no over-reading).
    pub fn is_open(&self) -> bool {
        *self == Self::default()
    }
}

impl ListQuery {
    pub fn parse(
        category: Option<&str>,
        sort: Option<Sort>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let category = match category.map(Category::parse).transpose() {
            Ok(c) => c,
            Err(e) => {
                errors.push(("category", e));
                None
            }
        };
        let sort = sort.unwrap_or_default();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after = match cursor.map(Cursor::decode).transpose() {
            Ok(Some(c)) if c.sort != sort => {
                errors.push(("cursor", "was issued for a different sort".to_owned()));
                None
            }
            Ok(c) => c,
            Err(e) => {
                errors.push(("cursor", e));
                None
            }
        };
        if errors.is_empty() {
            Ok(Self {
                category,
                sort,
                limit,
                after,
                filter: ListFilter::default(),
            })
        } else {
            Err(errors)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Product>,
    pub next: Option<Cursor>,
}

impl Page {
    /// A page in `sort` order; when `more` items follow, `next` points
    /// after its last one.
    pub fn new(items: Vec<Product>, more: bool, sort: Sort) -> Self {
        let next = items.last().filter(|_| more).map(|last| Cursor {
            sort,
            key: sort.key(last),
            id: last.id,
        });
        Self { items, next }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryCount {
    pub slug: &'static str,
    pub name: &'static str,
    pub product_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_common::Currency;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            sort: Sort::PriceAsc,
            key: 1999,
            id: ProductId::new(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("!!!").is_err());
        assert!(Cursor::decode("e30").is_err()); // "{}"
    }

    #[test]
    fn filters_validate_and_admit() {
        let errors = ListFilter::parse(Some("x"), Some(-1), Some(-2), Some(0.5), None).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["seller", "min_price", "max_price", "min_rating"]);
        assert_eq!(
            ListFilter::parse(None, Some(10), Some(9), None, None).unwrap_err()[0].0,
            "max_price"
        );
        let now = Utc::now();
        let p = Product {
            id: ProductId::new(),
            seller_id: SellerId::new(),
            title: "Teapot".into(),
            description: String::new(),
            price: Money::new(1500, Currency::Usd),
            category: Category::parse("home-kitchen").unwrap(),
            attributes: BTreeMap::new(),
            stock: 0,
            image_urls: Vec::new(),
            status: ProductStatus::Active,
            seller_name: "Clay".into(),
            rating: RatingSummary::of([4u8, 5].into_iter()),
            created_at: now,
            updated_at: now,
        };
        let admits = |seller, lo, hi, rating, stock| {
            ListFilter::parse(seller, lo, hi, rating, stock)
                .unwrap()
                .admits(&p)
        };
        let own = p.seller_id.to_string();
        let other = ProductId::new().to_string();
        assert!(admits(None, None, None, None, None));
        assert!(admits(Some(&own), Some(1500), Some(1500), Some(4.5), None));
        assert!(!admits(Some(&other), None, None, None, None));
        assert!(!admits(None, Some(1501), None, None, None));
        assert!(!admits(None, None, Some(1499), None, None));
        assert!(!admits(None, None, None, Some(4.6), None));
        assert!(!admits(None, None, None, None, Some(true)));
        assert!(ListFilter::default().is_open());
    }

    #[test]
    fn list_query_validates_every_parameter() {
        let q = ListQuery::parse(Some("books"), None, None, None).unwrap();
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.sort, Sort::Newest);
        let errors = ListQuery::parse(Some("cars"), None, Some(0), Some("zz")).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["category", "limit", "cursor"]);
        let newest = Cursor {
            sort: Sort::Newest,
            key: 0,
            id: ProductId::new(),
        };
        let errors = ListQuery::parse(None, Some(Sort::PriceDesc), None, Some(&newest.encode()))
            .unwrap_err();
        assert_eq!(errors[0].0, "cursor");
    }
}
