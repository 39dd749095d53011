//! The run's report: JSON (to compare runs), a text summary, and an SVG
//! chart of throughput and latency against offered load.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::chaos::Flipped;
use crate::record::{Checkouts, Latency, Second, Snapshot};
use crate::verify::Verdict;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepReport {
    pub offered: f64,
    pub seconds: f64,
    pub sessions: u64,
    pub requests: u64,
    pub requests_per_s: f64,
    pub failed: u64,
    pub refused: u64,
    pub latency: Latency,
    pub checkouts: Checkouts,
    pub placed_per_s: f64,
    /// Latency of the checkouts that placed an order, first attempt to
    /// answer.
    pub placed_latency: Latency,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioReport {
    pub requests: u64,
    pub failed: u64,
    pub refused: u64,
    pub latency: Latency,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub target: String,
    pub mix: String,
    pub offered_unit: String,
    pub steps: Vec<StepReport>,
    pub scenarios: BTreeMap<String, ScenarioReport>,
    /// Failures by kind (`<status> <code>`, `timeout`, `connect`, …).
    pub failures: BTreeMap<String, u64>,
    /// Refusals a shopper meets (sold out, declined, overloaded), by kind.
    pub refusals: BTreeMap<String, u64>,
    pub checkouts: Checkouts,
    pub peak_placed_per_s: f64,
    /// The least placed-checkout rate of the steps after the peak, as a
    /// share of the peak: how well the system holds past saturation.
    pub goodput_after_peak: Option<f64>,
    pub verification: Option<Verdict>,
    /// Chaos switches flipped during the run.
    pub chaos: Vec<Flipped>,
    /// Second by second: requests, failures, answering regions.
    pub timeline: Vec<Second>,
}

pub struct Meta<'a> {
    pub target: &'a str,
    pub mix: &'a str,
    pub offered_unit: &'a str,
    pub offered: Vec<f64>,
    pub seconds: Vec<f64>,
}

impl Report {
    pub fn new(
        meta: Meta<'_>,
        s: Snapshot<'_>,
        verification: Option<Verdict>,
        chaos: Vec<Flipped>,
    ) -> Self {
        let steps: Vec<StepReport> = s
            .steps
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let secs = meta.seconds[i].max(1e-9);
                StepReport {
                    offered: meta.offered[i],
                    seconds: meta.seconds[i],
                    sessions: st.sessions,
                    requests: st.overall.requests,
                    requests_per_s: st.overall.requests as f64 / secs,
                    failed: st.overall.failed,
                    refused: st.overall.refused,
                    latency: st.overall.summary(),
                    checkouts: st.checkouts.clone(),
                    placed_per_s: st.checkouts.placed as f64 / secs,
                    placed_latency: st.placed.summary(),
                }
            })
            .collect();
        let (peak_at, peak) = steps
            .iter()
            .enumerate()
            .map(|(i, st)| (i, st.placed_per_s))
            .fold((0, 0.0), |best, x| if x.1 > best.1 { x } else { best });
        let goodput_after_peak = (peak > 0.0 && peak_at + 1 < steps.len()).then(|| {
            steps[peak_at + 1..]
                .iter()
                .map(|st| st.placed_per_s / peak)
                .fold(f64::INFINITY, f64::min)
        });
        Self {
            target: meta.target.to_owned(),
            mix: meta.mix.to_owned(),
            offered_unit: meta.offered_unit.to_owned(),
            steps,
            scenarios: s
                .scenarios
                .iter()
                .map(|(name, t)| {
                    let r = ScenarioReport {
                        requests: t.requests,
                        failed: t.failed,
                        refused: t.refused,
                        latency: t.summary(),
                    };
                    ((*name).to_owned(), r)
                })
                .collect(),
            failures: s.failures.clone(),
            refusals: s.refusals.clone(),
            checkouts: s.checkouts.clone(),
            peak_placed_per_s: peak,
            goodput_after_peak,
            verification,
            chaos,
            timeline: s.timeline.to_vec(),
        }
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "meridian-load → {}   mix {}", self.target, self.mix);
        let _ = writeln!(
            out,
            "\n{:>10} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8} {:>8} {:>10} {:>11}",
            "offered",
            "sessions",
            "req/s",
            "failed",
            "refused",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "placed/s",
            "placed p99"
        );
        for st in &self.steps {
            let _ = writeln!(
                out,
                "{:>10.1} {:>8} {:>9.1} {:>7} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>11.1}",
                st.offered,
                st.sessions,
                st.requests_per_s,
                st.failed,
                st.refused,
                st.latency.p50_ms,
                st.latency.p95_ms,
                st.latency.p99_ms,
                st.placed_per_s,
                st.placed_latency.p99_ms
            );
        }
        let _ = writeln!(out, "(offered: {})\n", self.offered_unit);
        let _ = writeln!(
            out,
            "{:<12} {:>9} {:>7} {:>7} {:>8} {:>8} {:>8}",
            "scenario", "requests", "failed", "refused", "p50 ms", "p95 ms", "p99 ms"
        );
        for (name, sc) in &self.scenarios {
            let _ = writeln!(
                out,
                "{:<12} {:>9} {:>7} {:>7} {:>8.1} {:>8.1} {:>8.1}",
                name,
                sc.requests,
                sc.failed,
                sc.refused,
                sc.latency.p50_ms,
                sc.latency.p95_ms,
                sc.latency.p99_ms
            );
        }
        let c = &self.checkouts;
        let _ = writeln!(
            out,
            "\ncheckouts: {} attempted, {} placed, {} overloaded, {} out of stock, {} declined, {} failed, {} unresolved",
            c.attempted, c.placed, c.overloaded, c.out_of_stock, c.declined, c.failed, c.unresolved
        );
        let _ = write!(out, "peak {:.1} placed/s", self.peak_placed_per_s);
        if let Some(g) = self.goodput_after_peak {
            let _ = write!(out, "; after the peak at least {:.0}% of it", g * 100.0);
        }
        let _ = writeln!(out);
        for (title, kinds) in [("failures", &self.failures), ("refusals", &self.refusals)] {
            if !kinds.is_empty() {
                let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
                let _ = writeln!(out, "{title}: {}", list.join(", "));
            }
        }
        for c in &self.chaos {
            let _ = writeln!(
                out,
                "chaos at {:.1}s: {} {} ({})",
                c.at_s,
                c.action,
                c.region,
                if c.ok { "done" } else { "FAILED" }
            );
        }
        if !self.chaos.is_empty() {
            let _ = writeln!(out, "{}", self.timeline_text());
        }
        if let Some(v) = &self.verification {
            let _ = writeln!(
                out,
                "verification: {} — {} orders checked, {} lost, {} shared payments, {} oversold, {} units unaccounted, {} unexpected orders, {} unresolved",
                if v.ok { "OK" } else { "FAILED" },
                v.orders_checked,
                v.lost_orders,
                v.shared_payments,
                v.oversold_units,
                v.unaccounted_units,
                v.unexpected_orders,
                v.unresolved_checkouts
            );
            for p in &v.problems {
                let _ = writeln!(out, "  - {p}");
            }
        }
        out
    }

    /// The timeline as lines: second, requests, failed, regions.
    pub fn timeline_text(&self) -> String {
        let mut out = String::from("second  requests  failed  regions");
        for (i, s) in self.timeline.iter().enumerate() {
            let regions: Vec<String> = s.regions.iter().map(|(r, n)| format!("{r}:{n}")).collect();
            let _ = write!(
                out,
                "\n{i:>6} {:>9} {:>7}  {}",
                s.requests,
                s.failed,
                regions.join(" ")
            );
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
    }
}
