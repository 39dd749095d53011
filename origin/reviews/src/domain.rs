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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub count: u32,
    /// Counts of 1..=5 stars.
    pub histogram: [u32; 5],
    /// Average in hundredths of a star (425 = 4.25); 0 without reviews.
    pub average_centi: u32,
}

impl Summary {
    pub fn of(ratings: impl Iterator<Item = u8>) -> Self {
        let mut s = Summary::default();
        for r in ratings {
            s.histogram[usize::from(r.clamp(1, 5)) - 1] += 1;
            s.count += 1;
        }
        if s.count > 0 {
            let sum: u32 = s
                .histogram
                .iter()
                .enumerate()
                .map(|(i, n)| (i as u32 + 1) * n)
                .sum();
            s.average_centi = (sum * 100 + s.count / 2) / s.count;
        }
        s
    }
}

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
    fn summary_counts_and_averages() {
        let s = Summary::of([5u8, 4, 4, 1].into_iter());
        assert_eq!(
            (s.count, s.histogram, s.average_centi),
            (4, [1, 0, 0, 2, 1], 350)
        );
        assert_eq!(Summary::of(std::iter::empty()).average_centi, 0);
        assert!(rating(0).is_err() && rating(6).is_err() && rating(3).is_ok());
    }
}
