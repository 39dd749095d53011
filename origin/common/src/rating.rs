//! Star-rating summaries (1–5), shared by reviews (the source) and the
//! catalog (its denormalised copy on product pages).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
pub struct RatingSummary {
    pub count: u32,
    /// Counts of 1..=5 star ratings.
    #[schema(value_type = Vec<u32>)]
    pub histogram: [u32; 5],
}

fn slot(stars: u8) -> usize {
    usize::from(stars.clamp(1, 5)) - 1
}

impl RatingSummary {
    pub fn of(ratings: impl Iterator<Item = u8>) -> Self {
        let mut s = Self::default();
        for r in ratings {
            s.apply(None, Some(r));
        }
        s
    }

    /// Records a rating change: added (`None → Some`), edited or removed.
    pub fn apply(&mut self, old: Option<u8>, new: Option<u8>) {
        if let Some(r) = old {
            self.histogram[slot(r)] = self.histogram[slot(r)].saturating_sub(1);
            self.count = self.count.saturating_sub(1);
        }
        if let Some(r) = new {
            self.histogram[slot(r)] += 1;
            self.count += 1;
        }
    }

    /// Average in hundredths of a star (425 = 4.25), 0 without ratings.
    pub fn average_centi(&self) -> u32 {
        let sum: u32 = self
            .histogram
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u32 + 1) * n)
            .sum();
        (sum * 100 + self.count / 2)
            .checked_div(self.count)
            .unwrap_or(0)
    }
}

impl Serialize for RatingSummary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out {
            count: u32,
            histogram: [u32; 5],
            average_centi: u32,
        }
        Out {
            count: self.count,
            histogram: self.histogram,
            average_centi: self.average_centi(),
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_edits_and_averages() {
        let mut s = RatingSummary::of([5u8, 4, 4, 1].into_iter());
        assert_eq!(
            (s.count, s.histogram, s.average_centi()),
            (4, [1, 0, 0, 2, 1], 350)
        );
        s.apply(Some(1), Some(5));
        s.apply(Some(4), None);
        assert_eq!((s.count, s.histogram), (3, [0, 0, 0, 1, 2]));
        assert_eq!(RatingSummary::default().average_centi(), 0);
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["average_centi"], 467);
    }
}
