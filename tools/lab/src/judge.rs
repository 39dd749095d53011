//! The lab's goals, checked against what the probes and the watch saw.
//!
//! - Routing: each city is answered by its nearest region (by fibre).
//! - Latency: with the links at their fibre delays ("far"), a city's p50
//!   and p99 stay within the same run with zero delays ("near": the server
//!   time, edge and origin) plus the round trip to its nearest region plus
//!   10% of it — or plus the lab's resolution where that is larger.
//! - Failover: after the nearest region's origin is killed under load,
//!   every request from the city is answered by the next nearest within
//!   3 s, none fails, and once the origin is back its shoppers return
//!   within 5 s.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cities::Link;
use crate::probe::{Probe, Sample};

/// Round-trip allowance beyond the server time.
pub const RTT_SLACK: f64 = 1.10;
/// What the lab can resolve on a shared 2-core machine: across runs with
/// nothing changed, one API call's server time (near p50) ranged from 3.4
/// to 6.0 ms, and far − near − round trip moved by up to ±2.5 ms at p50
/// and ±8 ms at p99 (scheduling; every request crosses four processes).
/// Below that, 10% of these links (0.3–1.6 ms) is noise; an extra round
/// trip on the longer links (8.4 ms and up) is still caught at p50.
pub const P50_RESOLUTION_MS: f64 = 2.5;
pub const P99_RESOLUTION_MS: f64 = 8.0;
pub const FAILOVER_MS: u64 = 3_000;
pub const RETURN_MS: u64 = 5_000;

#[derive(Debug, Serialize)]
pub struct LatencyRow {
    pub city: String,
    pub what: String,
    pub region: String,
    pub rtt_ms: f64,
    pub near_p50_ms: f64,
    pub near_p99_ms: f64,
    pub far_p50_ms: f64,
    pub far_p99_ms: f64,
    /// far − near − RTT, as a share of the RTT (the 10% goal).
    pub p50_excess: f64,
    pub p99_excess: f64,
    pub regions: BTreeMap<String, u64>,
    pub failed: u64,
    pub ok: bool,
    pub why: Vec<String>,
}

/// `what` is checked against the goal; others (the cached page) are shown.
pub fn latency(link: &Link, near: &Probe, far: &Probe, checked: bool) -> LatencyRow {
    let rtt = link.rtt_ms();
    let excess = |f: f64, n: f64| (f - n - rtt) / rtt;
    let mut why = Vec::new();
    if far.failed + near.failed > 0 {
        why.push(format!("{} failed requests", far.failed + near.failed));
    }
    let stray: u64 = far
        .regions
        .iter()
        .filter(|(r, _)| **r != link.region)
        .map(|(_, n)| n)
        .sum();
    if stray > 0 {
        why.push(format!("{stray} answers not from {}", link.region));
    }
    if checked {
        for (name, f, n, resolution) in [
            ("p50", far.p50_ms, near.p50_ms, P50_RESOLUTION_MS),
            ("p99", far.p99_ms, near.p99_ms, P99_RESOLUTION_MS),
        ] {
            let allowed = n + rtt + ((RTT_SLACK - 1.0) * rtt).max(resolution);
            if f > allowed {
                why.push(format!(
                    "{name} {f:.2} ms > {allowed:.2} ms ({n:.2} ms server + the {rtt:.2} ms round trip + {:.0}% or {resolution} ms)",
                    (RTT_SLACK - 1.0) * 100.0
                ));
            }
        }
    }
    LatencyRow {
        city: far.city.clone(),
        what: far.what.clone(),
        region: link.region.clone(),
        rtt_ms: rtt,
        near_p50_ms: near.p50_ms,
        near_p99_ms: near.p99_ms,
        far_p50_ms: far.p50_ms,
        far_p99_ms: far.p99_ms,
        p50_excess: excess(far.p50_ms, near.p50_ms),
        p99_excess: excess(far.p99_ms, near.p99_ms),
        regions: far.regions.clone(),
        failed: far.failed + near.failed,
        ok: why.is_empty(),
        why,
    }
}

/// When the lab script flipped the nearest region's origin (Unix ms).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Events {
    pub city: String,
    pub killed: String,
    pub killed_at_ms: u64,
    /// The restarted origin answered its readiness check.
    pub ready_at_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct FailoverRow {
    pub city: String,
    pub killed: String,
    pub next: String,
    pub requests: usize,
    pub failed: usize,
    /// From the kill to the first request after which every one is
    /// answered by `next` (until the restart).
    pub moved_ms: Option<u64>,
    /// The slowest request sent in the first 3 s after the kill.
    pub worst_ms: f64,
    /// From the origin's readiness to the first request after which every
    /// one is answered by it again.
    pub returned_ms: Option<u64>,
    pub ok: bool,
    pub why: Vec<String>,
}

pub fn failover(ev: &Events, next: &str, samples: &[Sample]) -> FailoverRow {
    let mut why = Vec::new();
    let failed = samples.iter().filter(|s| !s.ok()).count();
    if failed > 0 {
        why.push(format!("{failed} failed requests"));
    }
    let by = |s: &Sample, r: &str| s.ok() && s.region.as_deref() == Some(r);
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at_ms >= ev.killed_at_ms && s.at_ms < ev.ready_at_ms)
        .collect();
    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at_ms >= ev.ready_at_ms)
        .collect();
    let moved_ms = settled(&during, |s| by(s, next)).map(|at| at - ev.killed_at_ms);
    match moved_ms {
        Some(ms) if ms < FAILOVER_MS => {}
        Some(ms) => why.push(format!(
            "moved to {next} after {ms} ms (goal < {FAILOVER_MS})"
        )),
        None => why.push(format!(
            "never settled on {next} while {} was down",
            ev.killed
        )),
    }
    let returned_ms = settled(&after, |s| by(s, &ev.killed)).map(|at| at - ev.ready_at_ms);
    match returned_ms {
        Some(ms) if ms < RETURN_MS => {}
        Some(ms) => why.push(format!("returned after {ms} ms (goal < {RETURN_MS})")),
        None => why.push(format!("never returned to {}", ev.killed)),
    }
    let worst_ms = during
        .iter()
        .filter(|s| s.at_ms < ev.killed_at_ms + FAILOVER_MS)
        .map(|s| s.latency_us as f64 / 1000.0)
        .fold(0.0, f64::max);
    FailoverRow {
        city: ev.city.clone(),
        killed: ev.killed.clone(),
        next: next.into(),
        requests: samples.len(),
        failed,
        moved_ms,
        worst_ms,
        returned_ms,
        ok: why.is_empty(),
        why,
    }
}

/// The send time of the first sample from which all the rest satisfy
/// `good` (there must be at least one such sample).
fn settled(samples: &[&Sample], good: impl Fn(&Sample) -> bool) -> Option<u64> {
    let last_bad = samples.iter().rposition(|s| !good(s));
    let first_good = last_bad.map_or(0, |i| i + 1);
    samples.get(first_good).map(|s| s.at_ms)
}

/// The report as Markdown (docs/lab.md quotes it).
pub fn markdown(latency: &[LatencyRow], failover: &[FailoverRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| city | request | nearest region | fibre RTT ms | server p50 / p99 ms | shopper p50 / p99 ms | excess p50 / p99 | ok |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---|");
    for r in latency {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:+.0}% / {:+.0}% | {} |",
            r.city,
            r.what,
            r.region,
            r.rtt_ms,
            r.near_p50_ms,
            r.near_p99_ms,
            r.far_p50_ms,
            r.far_p99_ms,
            r.p50_excess * 100.0,
            r.p99_excess * 100.0,
            verdict(r.ok, &r.why)
        );
    }
    if !failover.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| city | killed | moved to | requests | failed | moved after ms | slowest in the first 3 s, ms | back after ms | ok |"
        );
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---|");
        for f in failover {
            let ms = |v: Option<u64>| v.map_or_else(|| "never".into(), |v| v.to_string());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
                f.city,
                f.killed,
                f.next,
                f.requests,
                f.failed,
                ms(f.moved_ms),
                f.worst_ms,
                ms(f.returned_ms),
                verdict(f.ok, &f.why)
            );
        }
    }
    out
}

fn verdict(ok: bool, why: &[String]) -> String {
    if ok {
        "yes".into()
    } else {
        format!("**no**: {}", why.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(rtt: f64) -> Link {
        Link {
            city: "seattle".into(),
            region: "portland".into(),
            great_circle_km: 0.0,
            fibre_km: 0.0,
            one_way_ms: rtt / 2.0,
        }
    }

    fn probe(p50: f64, p99: f64, regions: &[(&str, u64)]) -> Probe {
        Probe {
            city: "seattle".into(),
            what: "api".into(),
            path: "/x".into(),
            count: 100,
            failed: 0,
            p50_ms: p50,
            p99_ms: p99,
            max_ms: p99,
            regions: regions.iter().map(|(r, n)| ((*r).into(), *n)).collect(),
        }
    }

    #[test]
    fn latency_is_judged_against_server_time_plus_the_round_trip() {
        let near = probe(2.0, 5.0, &[("portland", 100)]);
        let far = |p50, p99| probe(p50, p99, &[("portland", 100)]);
        // A 30 ms link: 10% of it (3 ms) is above the resolution.
        let ok = latency(&link(30.0), &near, &far(33.5, 37.5), true);
        assert!(ok.ok, "{:?}", ok.why);
        assert!((ok.p50_excess - 0.05).abs() < 1e-9);
        let slow = latency(&link(30.0), &near, &far(35.5, 37.5), true);
        assert_eq!(slow.why.len(), 1, "{:?}", slow.why);
        assert!(
            slow.why[0].starts_with("p50 35.50 ms > 35.00 ms"),
            "{:?}",
            slow.why
        );
        // A 10 ms link: the resolution (2.5 ms at p50, 8 ms at p99) is
        // allowed, an extra round trip is not.
        assert!(latency(&link(10.0), &near, &far(14.4, 22.9), true).ok);
        let extra = latency(&link(10.0), &near, &far(22.0, 23.0), true);
        assert!(
            extra.why[0].starts_with("p50 22.00 ms > 14.50 ms"),
            "{:?}",
            extra.why
        );
        let tail = latency(&link(10.0), &near, &far(12.0, 23.5), true);
        assert!(
            tail.why[0].starts_with("p99 23.50 ms > 23.00 ms"),
            "{:?}",
            tail.why
        );
        // Only shown, not judged (the cached page), but routing still is.
        assert!(latency(&link(10.0), &near, &far(30.0, 40.0), false).ok);
        let stray = latency(
            &link(10.0),
            &near,
            &probe(12.0, 15.0, &[("dallas", 3), ("portland", 97)]),
            true,
        );
        assert_eq!(stray.why, ["3 answers not from portland"]);
    }

    fn sample(at_ms: u64, region: Option<&str>) -> Sample {
        Sample {
            at_ms,
            latency_us: 4_000,
            status: region.map(|_| 200),
            region: region.map(Into::into),
            error: region.is_none().then(|| "transport".into()),
        }
    }

    fn events() -> Events {
        Events {
            city: "seattle".into(),
            killed: "portland".into(),
            killed_at_ms: 1_000,
            ready_at_ms: 6_000,
        }
    }

    #[test]
    fn failover_measures_the_move_and_the_return() {
        let mut s = vec![
            sample(500, Some("portland")),
            sample(1_010, Some("portland")),
        ];
        s.extend(
            (1_200..6_000)
                .step_by(100)
                .map(|t| sample(t, Some("los-angeles"))),
        );
        s.extend([
            sample(6_100, Some("los-angeles")),
            sample(7_500, Some("portland")),
        ]);
        s.extend(
            (7_600..9_000)
                .step_by(100)
                .map(|t| sample(t, Some("portland"))),
        );
        let row = failover(&events(), "los-angeles", &s);
        assert!(row.ok, "{:?}", row.why);
        assert_eq!(row.moved_ms, Some(200));
        assert_eq!(row.returned_ms, Some(1_500));
    }

    #[test]
    fn a_failed_request_a_slow_move_or_no_return_fails_the_failover() {
        let mut s: Vec<Sample> = (1_000..4_500)
            .step_by(100)
            .map(|t| sample(t, Some("portland")))
            .collect();
        s.push(sample(4_500, None));
        s.extend(
            (4_600..6_000)
                .step_by(100)
                .map(|t| sample(t, Some("los-angeles"))),
        );
        s.extend(
            (6_000..9_000)
                .step_by(100)
                .map(|t| sample(t, Some("los-angeles"))),
        );
        let row = failover(&events(), "los-angeles", &s);
        assert!(!row.ok);
        assert_eq!(row.failed, 1);
        assert_eq!(row.moved_ms, Some(3_600));
        assert_eq!(row.returned_ms, None);
        assert_eq!(row.why.len(), 3, "{:?}", row.why);
    }
}
