//! Round-trip times to each region, measured by the active health checks
//! and smoothed, and the ranking they give: latency-based routing, as
//! Route 53 does it, for requests located at the edge itself.
//!
//! The ranking uses each region's smallest round trip of its last
//! `WINDOW` checks, not the smoothed mean. Noise on a round trip only ever
//! adds time (a busy scheduler, a queue), so the windowed minimum tracks
//! the distance itself, while the mean of two regions 1.4 ms apart swapped
//! their order on a busy 2-core machine (Atlanta between Virginia, 12.5
//! ms, and Chicago, 13.9 ms, in the geo lab). A region that stays slower
//! for a whole window moves down all the same. The smoothed value (TCP's
//! SRTT) is what the metric shows.
//!
//! The health checker writes; a request reads one atomic word (the packed
//! ranking). Regions without a measurement yet (down since the edge
//! started) rank after the measured ones, in distance order; with no
//! measurement at all there is no latency ranking and routing stays by
//! distance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::geo::{self, Ranking};

/// No ranking yet.
const NONE: u64 = u64::MAX;
/// Checks whose minimum ranks a region (at the default 1 s interval, 8 s).
const WINDOW: usize = 8;

pub struct Latencies {
    /// Smoothed round-trip time per region, µs; 0 before the first sample.
    rtt_us: Vec<AtomicU64>,
    /// The last `WINDOW` round trips per region, µs (0: no sample). Only
    /// the health checker touches these, once per check.
    recent: Vec<Mutex<[u64; WINDOW]>>,
    ranking: AtomicU64,
}

impl Latencies {
    pub fn new(regions: usize) -> Self {
        Self {
            rtt_us: (0..regions).map(|_| AtomicU64::new(0)).collect(),
            recent: (0..regions).map(|_| Mutex::new([0; WINDOW])).collect(),
            ranking: AtomicU64::new(NONE),
        }
    }

    /// One successful check's round trip: into the region's window, and
    /// smoothed as TCP's SRTT is (7/8 old + 1/8 new) for the metric.
    pub fn record(&self, i: usize, rtt: Duration) {
        let sample = (rtt.as_micros() as u64).max(1);
        if let Ok(mut recent) = self.recent[i].lock() {
            recent.rotate_right(1);
            recent[0] = sample;
        }
        let slot = &self.rtt_us[i];
        let old = slot.load(Ordering::Relaxed);
        let smoothed = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        slot.store(smoothed.max(1), Ordering::Relaxed);
    }

    pub fn smoothed(&self, i: usize) -> Option<Duration> {
        match self.rtt_us[i].load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// The smallest round trip in the region's window, µs (0: none).
    fn window_min(&self, i: usize) -> u64 {
        self.recent[i].lock().map_or(0, |recent| {
            recent
                .iter()
                .copied()
                .filter(|&us| us > 0)
                .min()
                .unwrap_or(0)
        })
    }

    /// Recomputes the ranking after a round of checks: measured regions by
    /// their windowed minimum round trip, then unmeasured ones in
    /// `by_distance` order.
    pub fn rerank(&self, by_distance: &Ranking) {
        let n = self.rtt_us.len();
        let rtt: Vec<u64> = (0..n).map(|i| self.window_min(i)).collect();
        if rtt.iter().all(|&r| r == 0) {
            self.ranking.store(NONE, Ordering::Relaxed);
            return;
        }
        let mut distance_slot = [0usize; geo::MAX_REGIONS];
        for (slot, i) in by_distance.iter().enumerate() {
            distance_slot[i] = slot;
        }
        let ranking = geo::rank_by(n, |i| (rtt[i] == 0, rtt[i], distance_slot[i]));
        self.ranking.store(ranking.pack(), Ordering::Relaxed);
    }

    /// The latency ranking, once there is one.
    pub fn ranking(&self) -> Option<Ranking> {
        match self.ranking.load(Ordering::Relaxed) {
            NONE => None,
            word => Some(Ranking::unpack(word, self.rtt_us.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_measurement_no_ranking_then_measured_regions_by_round_trip() {
        let l = Latencies::new(4);
        let distance = geo::rank_by(4, |i| [2, 0, 1, 3][i]);
        l.rerank(&distance);
        assert_eq!(l.ranking(), None, "distance routing until a measurement");
        l.record(3, ms(5));
        l.record(0, ms(40));
        l.rerank(&distance);
        // 3 (5 ms), 0 (40 ms), then the unmeasured by distance: 1, 2.
        assert_eq!(
            l.ranking().unwrap().iter().collect::<Vec<_>>(),
            [3, 0, 1, 2]
        );
        assert_eq!(l.smoothed(3), Some(ms(5)));
        assert_eq!(l.smoothed(1), None);
    }

    #[test]
    fn jitter_on_two_close_regions_does_not_swap_them() {
        // 12.5 ms and 13.9 ms away; scheduling adds 0–3 ms to any check.
        let l = Latencies::new(2);
        let distance = geo::rank_by(2, |i| i);
        let jitter = [2900, 100, 2500, 0, 1800, 2700, 300, 2200, 1500, 2600];
        for (k, j) in jitter.iter().enumerate() {
            l.record(0, Duration::from_micros(12_500 + j));
            l.record(
                1,
                Duration::from_micros(13_900 + jitter[(k + 3) % jitter.len()]),
            );
            l.rerank(&distance);
            if k > 0 {
                assert_eq!(l.ranking().unwrap().nearest(), 0, "after check {k}");
            }
        }
    }

    #[test]
    fn one_slow_answer_does_not_reorder_but_a_lasting_change_does() {
        let l = Latencies::new(2);
        let distance = geo::rank_by(2, |i| i);
        for _ in 0..20 {
            l.record(0, ms(10));
            l.record(1, ms(20));
        }
        l.record(0, ms(60));
        l.rerank(&distance);
        assert_eq!(l.ranking().unwrap().nearest(), 0, "one spike is smoothed");
        for _ in 0..20 {
            l.record(0, ms(60));
            l.record(1, ms(20));
        }
        l.rerank(&distance);
        assert_eq!(
            l.ranking().unwrap().nearest(),
            1,
            "a lasting change moves traffic"
        );
    }
}
