//! The marketplace's product categories, shared by catalog and search.

/// The fixed top-level taxonomy: (slug, display name).
pub const CATEGORIES: &[(&str, &str)] = &[
    ("electronics", "Electronics"),
    ("home-kitchen", "Home & Kitchen"),
    ("fashion", "Fashion"),
    ("books", "Books"),
    ("toys-games", "Toys & Games"),
    ("sports-outdoors", "Sports & Outdoors"),
    ("beauty", "Beauty"),
    ("garden", "Garden"),
    ("jewelry", "Handmade Jewelry"),
    ("art", "Art & Collectibles"),
];
