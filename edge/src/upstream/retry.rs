//! The retry budget: retries stay a small share of traffic, so a failing
//! region cannot double the load on the others.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::monotonic_ms;

/// Retries as a share of recent requests: at most `ratio` × the requests
/// of the current second, or `min_per_sec`, whichever is more. Counted in
/// one-second windows with atomics; the window reset is racy by design (a
/// few requests may land in either window).
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: u64,
    window: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

impl RetryBudget {
    pub fn new(ratio: f64, min_per_sec: u32) -> Self {
        Self {
            ratio,
            min_per_sec: u64::from(min_per_sec),
            window: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    fn roll(&self) {
        let second = monotonic_ms() / 1000;
        if self.window.load(Ordering::Relaxed) != second
            && self.window.swap(second, Ordering::Relaxed) != second
        {
            self.requests.store(0, Ordering::Relaxed);
            self.retries.store(0, Ordering::Relaxed);
        }
    }

    pub fn record_request(&self) {
        self.roll();
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget if there is one left.
    pub fn try_retry(&self) -> bool {
        self.roll();
        let allowed = ((self.requests.load(Ordering::Relaxed) as f64 * self.ratio) as u64)
            .max(self.min_per_sec);
        self.retries.fetch_add(1, Ordering::Relaxed) < allowed
    }
}
