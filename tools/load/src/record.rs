//! What the run saw: a latency histogram (HdrHistogram, microseconds) and
//! counts per scenario and per load step, failures by kind, and the
//! checkouts' outcomes. One mutex: a request takes it once, for well under a
//! microsecond, which is noise beside the request itself.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// How one request ended.
pub enum Outcome {
    /// Answered as the scenario wanted.
    Ok,
    /// Answered with a refusal a real shopper meets (sold out, declined,
    /// overloaded): not a failure of the system, but counted by kind.
    Refused(String),
    /// Failed: a wrong status, a transport error, a timeout.
    Failed(String),
}

pub struct Tally {
    latency: Histogram<u64>,
    pub requests: u64,
    pub refused: u64,
    pub failed: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            // 1 µs to 2 minutes at 3 significant digits.
            latency: Histogram::new_with_bounds(1, 120_000_000, 3)
                .expect("static bounds are valid"),
            requests: 0,
            refused: 0,
            failed: 0,
        }
    }

    fn add(&mut self, latency: Duration, outcome: &Outcome) {
        self.requests += 1;
        match outcome {
            Outcome::Ok => {}
            Outcome::Refused(_) => self.refused += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
        self.latency
            .saturating_record(latency.as_micros().max(1) as u64);
    }

    pub fn summary(&self) -> Latency {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        Latency {
            p50_ms: ms(0.50),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: self.latency.max() as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Checkouts by how they ended.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Checkouts {
    pub attempted: u64,
    pub placed: u64,
    pub overloaded: u64,
    pub out_of_stock: u64,
    pub declined: u64,
    pub failed: u64,
    /// No definite answer even after retries with the same key: the order
    /// may or may not exist, so verification allows for it.
    pub unresolved: u64,
}

pub enum CheckoutEnd {
    Placed(Duration),
    Overloaded,
    OutOfStock,
    Declined,
    Failed,
    Unresolved,
}

pub struct Step {
    pub overall: Tally,
    pub sessions: u64,
    pub checkouts: Checkouts,
    /// Latency of checkouts that were admitted and placed an order.
    pub placed: Tally,
}

/// One second of the run: what was answered, what failed, and which
/// regions answered (failover shows here).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Second {
    pub requests: u64,
    pub failed: u64,
    pub regions: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Tallies {
    steps: Vec<Step>,
    timeline: Vec<Second>,
    scenarios: BTreeMap<&'static str, Tally>,
    failures: BTreeMap<String, u64>,
    refusals: BTreeMap<String, u64>,
    checkouts: Checkouts,
}

pub struct Recorder {
    inner: Mutex<Tallies>,
    began: Instant,
}

impl Recorder {
    pub fn new(steps: usize) -> Self {
        let t = Tallies {
            steps: (0..steps.max(1))
                .map(|_| Step {
                    overall: Tally::new(),
                    sessions: 0,
                    checkouts: Checkouts::default(),
                    placed: Tally::new(),
                })
                .collect(),
            ..Tallies::default()
        };
        Self {
            inner: Mutex::new(t),
            began: Instant::now(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Tallies) -> R) -> R {
        // A panic elsewhere cannot leave the tallies half-updated (each
        // update is a few additions), so a poisoned lock is still usable.
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn session(&self, step: usize) {
        self.with(|t| t.steps[step].sessions += 1);
    }

    /// One request: its step, scenario, latency, outcome, and the region
    /// that answered (the edge's `x-meridian-region`), if one did.
    pub fn request(
        &self,
        step: usize,
        scenario: &'static str,
        latency: Duration,
        outcome: Outcome,
        region: Option<&str>,
    ) {
        let second = self.began.elapsed().as_secs() as usize;
        self.with(|t| {
            if t.timeline.len() <= second {
                t.timeline.resize_with(second + 1, Second::default);
            }
            let s = &mut t.timeline[second];
            s.requests += 1;
            s.failed += u64::from(matches!(outcome, Outcome::Failed(_)));
            if let Some(r) = region {
                match s.regions.get_mut(r) {
                    Some(n) => *n += 1,
                    None => {
                        s.regions.insert(r.to_owned(), 1);
                    }
                }
            }
            t.steps[step].overall.add(latency, &outcome);
            t.scenarios
                .entry(scenario)
                .or_insert_with(Tally::new)
                .add(latency, &outcome);
            match outcome {
                Outcome::Ok => {}
                Outcome::Refused(kind) => *t.refusals.entry(kind).or_default() += 1,
                Outcome::Failed(kind) => *t.failures.entry(kind).or_default() += 1,
            }
        });
    }

    pub fn checkout(&self, step: usize, end: CheckoutEnd) {
        self.with(|t| {
            let step = &mut t.steps[step];
            for c in [&mut t.checkouts, &mut step.checkouts] {
                c.attempted += 1;
                match end {
                    CheckoutEnd::Placed(_) => c.placed += 1,
                    CheckoutEnd::Overloaded => c.overloaded += 1,
                    CheckoutEnd::OutOfStock => c.out_of_stock += 1,
                    CheckoutEnd::Declined => c.declined += 1,
                    CheckoutEnd::Failed => c.failed += 1,
                    CheckoutEnd::Unresolved => c.unresolved += 1,
                }
            }
            if let CheckoutEnd::Placed(latency) = end {
                step.placed.add(latency, &Outcome::Ok);
            }
        });
    }

    /// Requests and failures so far, for the progress line.
    pub fn totals(&self) -> (u64, u64, u64) {
        self.with(|t| {
            let requests = t.steps.iter().map(|s| s.overall.requests).sum();
            let failed = t.steps.iter().map(|s| s.overall.failed).sum();
            (requests, failed, t.checkouts.placed)
        })
    }

    /// Everything, for the report.
    pub fn snapshot<R>(&self, f: impl FnOnce(Snapshot<'_>) -> R) -> R {
        self.with(|t| {
            f(Snapshot {
                steps: &t.steps,
                timeline: &t.timeline,
                scenarios: &t.scenarios,
                failures: &t.failures,
                refusals: &t.refusals,
                checkouts: &t.checkouts,
            })
        })
    }
}

pub struct Snapshot<'a> {
    pub steps: &'a [Step],
    pub timeline: &'a [Second],
    pub scenarios: &'a BTreeMap<&'static str, Tally>,
    pub failures: &'a BTreeMap<String, u64>,
    pub refusals: &'a BTreeMap<String, u64>,
    pub checkouts: &'a Checkouts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_per_step_scenario_and_kind() {
        let r = Recorder::new(2);
        for ms in 1..=100 {
            r.request(
                0,
                "browse",
                Duration::from_millis(ms),
                Outcome::Ok,
                Some("portland"),
            );
        }
        r.request(
            1,
            "checkout",
            Duration::from_millis(5),
            Outcome::Refused("503 overloaded".into()),
            Some("dallas"),
        );
        r.request(
            1,
            "checkout",
            Duration::from_millis(5),
            Outcome::Failed("timeout".into()),
            None,
        );
        r.checkout(1, CheckoutEnd::Placed(Duration::from_millis(40)));
        r.checkout(1, CheckoutEnd::Overloaded);
        assert_eq!(r.totals(), (102, 1, 1));
        r.snapshot(|s| {
            let p = s.scenarios["browse"].summary();
            assert!((49.0..=51.0).contains(&p.p50_ms), "{p:?}");
            assert!((98.0..=100.5).contains(&p.p99_ms), "{p:?}");
            assert_eq!(s.steps[1].overall.refused, 1);
            assert_eq!(s.failures["timeout"], 1);
            assert_eq!(s.refusals["503 overloaded"], 1);
            assert_eq!(s.steps[1].checkouts.attempted, 2);
            assert_eq!(s.checkouts.overloaded, 1);
            assert_eq!(s.steps[0].checkouts.attempted, 0);
            assert_eq!(s.timeline.len(), 1, "all within the first second");
            assert_eq!((s.timeline[0].requests, s.timeline[0].failed), (102, 1));
            assert_eq!(s.timeline[0].regions["portland"], 100);
            assert_eq!(s.timeline[0].regions["dallas"], 1);
        });
    }
}
