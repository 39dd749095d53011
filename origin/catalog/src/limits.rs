//! What a seller's product may hold: the limits the write handlers check
//! and the API document states (`write_schema`), from one place.

/// Upper bound of a price: $1,000,000.00.
pub(crate) const MAX_PRICE: i64 = 100_000_000;
pub(crate) const MAX_STOCK: u32 = 1_000_000;
pub(crate) const MAX_ATTRIBUTES: usize = 20;
pub(crate) const MAX_ATTRIBUTE_KEY: usize = 40;
pub(crate) const MAX_ATTRIBUTE_VALUE: usize = 200;
pub(crate) const MAX_IMAGES: usize = 10;
pub(crate) const MAX_IMAGE_URL: usize = 500;
