//! Reviews and rating summaries.

use chrono::{DateTime, Utc};
use meridian_common::{ProductId, SellerId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MAX_TEXT: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: Uuid,
    pub product_id: ProductId,
    pub seller_id: SellerId,
    pub user_id: UserId,
    pub rating: u8,
    pub text: String,
    pub reply: Option<Reply>,
    pub helpful: u32,
    pub reports: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub use meridian_common::rating::RatingSummary as Summary;

pub fn rating(raw: i64) -> Result<u8, String> {
    if (1..=5).contains(&raw) {
        Ok(raw as u8)
    } else {
        Err("must be a whole number from 1 to 5".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_one_to_five() {
        assert!(rating(0).is_err() && rating(6).is_err() && rating(3).is_ok());
    }
}
