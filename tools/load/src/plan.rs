//! What to send: the scenario mix (weights) and how sessions arrive.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};

/// A shopper's, seller's or carrier's visit: a few requests in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// Anonymous: home, a category, a product page, and their API calls.
    Browse,
    /// Anonymous: search pages and the search API.
    Search,
    /// Signed in: add to cart, check out with an Idempotency-Key.
    Checkout,
    /// Guest cart, then register, sign in (the cart is merged) and check out.
    NewShopper,
    /// Signed in: order history, an order, its tracking.
    Returning,
    /// The run's seller: create a product, restock, ship paid orders.
    Seller,
    /// The carrier: scans of shipped parcels, up to delivered.
    Carrier,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Browse,
        Scenario::Search,
        Scenario::Checkout,
        Scenario::NewShopper,
        Scenario::Returning,
        Scenario::Seller,
        Scenario::Carrier,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Browse => "browse",
            Scenario::Search => "search",
            Scenario::Checkout => "checkout",
            Scenario::NewShopper => "new_shopper",
            Scenario::Returning => "returning",
            Scenario::Seller => "seller",
            Scenario::Carrier => "carrier",
        }
    }
}

/// Weighted scenarios, e.g. `browse=50,search=20,checkout=20,returning=5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(Scenario, u32)>,
    total: u32,
}

impl FromStr for Mix {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let mut weights = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .with_context(|| format!("{part:?}: write scenario=weight"))?;
            let scenario = Scenario::ALL
                .into_iter()
                .find(|sc| sc.name() == name.trim())
                .with_context(|| {
                    let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                    format!("unknown scenario {name:?}; known: {}", names.join(", "))
                })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .with_context(|| format!("{part:?}: the weight is a whole number"))?;
            if weights.iter().any(|(sc, _)| *sc == scenario) {
                bail!("scenario {name:?} is given twice");
            }
            if weight > 0 {
                weights.push((scenario, weight));
            }
        }
        let total = weights.iter().map(|(_, w)| w).sum();
        if total == 0 {
            bail!("the mix {s:?} gives no scenario a weight");
        }
        Ok(Self { weights, total })
    }
}

impl Mix {
    /// The scenario for a uniform draw `r` in `0..total()`.
    pub fn pick(&self, mut r: u32) -> Scenario {
        for (scenario, weight) in &self.weights {
            if r < *weight {
                return *scenario;
            }
            r -= weight;
        }
        self.weights[self.weights.len() - 1].0
    }

    pub fn total(&self) -> u32 {
        self.total
    }
}

/// How sessions arrive, in steps of equal length.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// Open loop: sessions start at these rates (per second), whatever the
    /// system's answers; what it cannot take shows as latency and refusals,
    /// not as a slower generator.
    Open { rates: Vec<f64> },
    /// Closed loop: this many users, each starting its next session when
    /// the last one ended (after `think`).
    Closed { users: Vec<usize>, think: Duration },
}

impl Arrival {
    pub fn steps(&self) -> usize {
        match self {
            Arrival::Open { rates } => rates.len(),
            Arrival::Closed { users, .. } => users.len(),
        }
    }

    /// The step's offered load as a number, for the report's x axis.
    pub fn offered(&self, step: usize) -> f64 {
        match self {
            Arrival::Open { rates } => rates[step],
            Arrival::Closed { users, .. } => users[step] as f64,
        }
    }

    pub fn unit(&self) -> &'static str {
        match self {
            Arrival::Open { .. } => "sessions/s offered",
            Arrival::Closed { .. } => "users",
        }
    }
}

/// `100,200,400` → the steps' values; each positive.
pub fn list<T: FromStr + PartialOrd + Default>(s: &str, what: &str) -> anyhow::Result<Vec<T>> {
    let values: Vec<T> = s
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<T>()
                .ok()
                .filter(|v| *v > T::default())
                .with_context(|| format!("{what} {v:?}: a positive number"))
        })
        .collect::<anyhow::Result<_>>()?;
    if values.is_empty() {
        bail!("{what}: give at least one step");
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_picks_by_weight() {
        let mix: Mix = "browse=3, checkout=1,seller=0".parse().unwrap();
        assert_eq!(mix.total(), 4);
        let picks: Vec<_> = (0..4).map(|r| mix.pick(r)).collect();
        assert_eq!(
            picks,
            [
                Scenario::Browse,
                Scenario::Browse,
                Scenario::Browse,
                Scenario::Checkout
            ]
        );
        assert_eq!(mix.weights.len(), 2, "a zero weight is no scenario");
    }

    #[test]
    fn bad_mixes_and_steps_say_what_is_wrong() {
        for (bad, says) in [
            ("browse", "scenario=weight"),
            ("shopping=1", "unknown scenario"),
            ("browse=x", "whole number"),
            ("browse=1,browse=2", "twice"),
            ("browse=0", "no scenario"),
        ] {
            let e = bad.parse::<Mix>().unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert_eq!(list::<f64>("10, 20.5", "--rate").unwrap(), [10.0, 20.5]);
        assert!(list::<f64>("10,-1", "--rate").is_err());
        assert!(list::<usize>("0", "--users").is_err());
    }
}
