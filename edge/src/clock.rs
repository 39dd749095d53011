//! The edge's two clocks, in one place.
//!
//! Durations (breakers, retry windows, token buckets) need a clock that
//! never goes back: [`monotonic_ms`]. Agreements with others need the wall
//! clock: session expiry times come from the auth service, shared rate
//! windows are aligned across every edge, and the config's load time is a
//! Unix timestamp for dashboards: [`unix_ms`] and [`unix_secs`].

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the process started (monotonic; never 0 after the
/// first call returns, so 0 can mean "never").
pub fn monotonic_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(|| Instant::now() - Duration::from_millis(1));
    start.elapsed().as_millis() as u64
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> i64 {
    (unix_ms() / 1000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_agree_and_move_forward() {
        let first = monotonic_ms();
        assert!(first > 0);
        assert!(monotonic_ms() >= first);
        let secs = unix_secs();
        // 2020-01-01 is in the past on any machine that runs this.
        assert!(secs > 1_577_836_800);
        assert!((unix_ms() / 1000) as i64 - secs <= 1);
    }
}
