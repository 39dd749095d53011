//! Deterministic demo catalog: the same 240 products (24 in each of the 10
//! categories, from 6 sellers) in every region and on every run, so ids in
//! docs, tests and curl examples stay valid.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use meridian_common::demo::{seller_ids, SELLERS};
use meridian_common::{Currency, Money, ProductId};

use crate::domain::{Category, Product, ProductStatus, RatingSummary, CATEGORIES};
use crate::store::{ProductStore, StoreError};

pub const PRODUCTS_PER_CATEGORY: usize = 24;

use meridian_common::demo::Rng;

fn nouns(category: &str) -> &'static [&'static str] {
    match category {
        "electronics" => &[
            "Headphones",
            "Speaker",
            "Charger",
            "Keyboard",
            "Webcam",
            "Smartwatch",
        ],
        "home-kitchen" => &[
            "Chef Knife",
            "Cutting Board",
            "Teapot",
            "Dutch Oven",
            "Mug Set",
            "Lamp",
        ],
        "fashion" => &[
            "Wool Scarf",
            "Denim Jacket",
            "Leather Belt",
            "Sneakers",
            "Beanie",
            "Tote Bag",
        ],
        "books" => &[
            "Cookbook",
            "Field Guide",
            "Novel",
            "Atlas",
            "Poetry Collection",
            "Sketchbook",
        ],
        "toys-games" => &[
            "Puzzle",
            "Board Game",
            "Kite",
            "Building Blocks",
            "Plush Bear",
            "Yo-yo",
        ],
        "sports-outdoors" => &[
            "Tent",
            "Water Bottle",
            "Yoga Mat",
            "Trail Backpack",
            "Headlamp",
            "Hammock",
        ],
        "beauty" => &[
            "Face Serum",
            "Soap Bar",
            "Lip Balm",
            "Hair Oil",
            "Bath Salts",
            "Candle",
        ],
        "garden" => &[
            "Planter",
            "Pruning Shears",
            "Seed Kit",
            "Watering Can",
            "Bird Feeder",
            "Trowel",
        ],
        "jewelry" => &[
            "Silver Ring",
            "Beaded Necklace",
            "Hoop Earrings",
            "Cuff Bracelet",
            "Pendant",
            "Anklet",
        ],
        _ => &[
            "Print",
            "Ceramic Vase",
            "Watercolor",
            "Sculpture",
            "Poster",
            "Postcard Set",
        ],
    }
}

const ADJECTIVES: &[&str] = &[
    "Handcrafted",
    "Classic",
    "Compact",
    "Vintage",
    "Premium",
    "Everyday",
    "Rustic",
    "Modern",
    "Wireless",
    "Organic",
    "Recycled",
    "Deluxe",
];
const COLORS: &[&str] = &[
    "black",
    "white",
    "walnut",
    "sage",
    "navy",
    "terracotta",
    "silver",
];
const MATERIALS: &[&str] = &[
    "cotton", "steel", "oak", "ceramic", "leather", "glass", "bamboo",
];

/// Price band per category in cents: (min, spread).
fn price_band(category: &str) -> (u64, u64) {
    match category {
        "electronics" => (1_999, 28_000),
        "jewelry" | "art" => (2_500, 22_000),
        "books" => (899, 3_500),
        "beauty" => (599, 4_000),
        _ => (999, 12_000),
    }
}

/// Builds the demo catalog. Pure: the same output every call.
pub fn products() -> Vec<Product> {
    let sellers = seller_ids();
    let mut rng = Rng(0x4D45_5249_4449_414E);
    let epoch: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let mut out = Vec::with_capacity(CATEGORIES.len() * PRODUCTS_PER_CATEGORY);
    for (c, (slug, _)) in CATEGORIES.iter().enumerate() {
        let category = Category::parse(slug).expect("taxonomy slug");
        for i in 0..PRODUCTS_PER_CATEGORY {
            let id = ProductId(rng.uuid());
            let adjective = rng.pick(ADJECTIVES);
            let noun = rng.pick(nouns(slug));
            let color = rng.pick(COLORS);
            let material = rng.pick(MATERIALS);
            let (min, spread) = price_band(slug);
            // Prices end in 99 or 49 like a real shop's.
            let cents =
                (min + rng.below(spread)) / 100 * 100 + if rng.below(2) == 0 { 99 } else { 49 };
            let stock = if rng.below(10) == 0 {
                0
            } else {
                1 + rng.below(200)
            } as u32;
            let seller = sellers[(c + i) % sellers.len()];
            let created_at = epoch + chrono::Duration::minutes((c * 997 + i * 131) as i64);
            let mut attributes = BTreeMap::new();
            attributes.insert("color".to_owned(), color.to_owned());
            attributes.insert("material".to_owned(), material.to_owned());
            out.push(Product {
                id,
                seller_id: seller,
                title: format!("{adjective} {noun}"),
                description: format!(
                    "A {} {} in {color} {material}, made by {} and shipped from the US.",
                    adjective.to_lowercase(),
                    noun.to_lowercase(),
                    SELLERS[(c + i) % SELLERS.len()],
                ),
                price: Money::new(cents as i64, Currency::Usd),
                category,
                attributes,
                stock,
                // No photos: pages draw the category's artwork instead.
                image_urls: Vec::new(),
                status: ProductStatus::Active,
                seller_name: SELLERS[(c + i) % SELLERS.len()].to_owned(),
                rating: RatingSummary::default(),
                created_at,
                updated_at: created_at,
            });
        }
    }
    out
}

/// Loads the demo catalog into an empty store; leaves a non-empty one alone.
pub async fn seed_if_empty(store: &dyn ProductStore) -> Result<u64, StoreError> {
    if store.count().await? > 0 {
        return Ok(0);
    }
    use futures::{StreamExt, TryStreamExt};
    let products = products();
    // A few writes in flight: a networked store seeds in a fraction of the
    // time, and each put is independent.
    futures::stream::iter(&products)
        .map(|p| store.put(p, Vec::new()))
        .buffer_unordered(8)
        .try_collect::<()>()
        .await?;
    Ok(products.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn demo_catalog_is_deterministic_and_broad() {
        let a = products();
        assert_eq!(a, products());
        assert!(a.len() >= 200);
        let categories: HashSet<_> = a.iter().map(|p| p.category.slug()).collect();
        assert!(categories.len() >= 8);
        let sellers: HashSet<_> = a.iter().map(|p| p.seller_id).collect();
        assert_eq!(sellers.len(), SELLERS.len());
        let ids: HashSet<_> = a.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), a.len(), "ids are unique");
        assert!(a.iter().all(|p| p.price.amount > 0));
        assert!(a.iter().any(|p| p.stock == 0), "some items are sold out");
    }
}
