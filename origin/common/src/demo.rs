//! Deterministic demo data shared by services: the same ids in every region
//! and on every run, so the catalog's products and the sellers' shops agree.

use uuid::Uuid;

use crate::{SellerId, UserId};

/// SplitMix64: tiny, fast and fully determined by its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    pub fn uuid(&mut self) -> Uuid {
        let bytes = [self.next_u64().to_le_bytes(), self.next_u64().to_le_bytes()].concat();
        uuid::Builder::from_random_bytes(bytes.try_into().expect("16 bytes")).into_uuid()
    }
}

/// The six demo shops.
pub const SELLERS: &[&str] = &[
    "Hudson Workshop",
    "Lone Star Goods",
    "Lakeshore Supply",
    "Pacific Atelier",
    "Rose City Makers",
    "Blue Ridge Trading",
];

pub fn seller_ids() -> Vec<SellerId> {
    let mut rng = Rng(0x05E1_1E25);
    SELLERS.iter().map(|_| SellerId(rng.uuid())).collect()
}

/// Owners of the demo shops (accounts that do not exist in auth: the demo
/// shops cannot be signed into).
pub fn seller_owner_ids() -> Vec<UserId> {
    let mut rng = Rng(0x0A11_CE55);
    SELLERS.iter().map(|_| UserId(rng.uuid())).collect()
}

/// `Hudson Workshop` → `hudson-workshop`.
pub fn slug_of(name: &str) -> String {
    name.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
}
