//! The shopper's side of the lab: requests from inside a city's client
//! namespace to that city's edge, timed one by one.
//!
//! `probe` sends them one after another on a kept-alive connection (the
//! latency a shopper's browser sees once connected); `watch` sends them at
//! a steady rate for a while and keeps every one (when it was sent, how it
//! ended, which region answered) so a failover can be read off afterwards.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The name the edge's certificate carries; resolved to the lab address.
pub const HOST: &str = "meridian.test";

pub struct Target {
    client: reqwest::Client,
    base: String,
}

impl Target {
    /// `edge` must be a lab address (10.0.0.0/8) or loopback: this tool
    /// sends load, and only to what the lab built.
    pub fn new(edge: SocketAddr, ca: &Path) -> anyhow::Result<Self> {
        let ip = edge.ip();
        let lab = match ip {
            std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 10,
            std::net::IpAddr::V6(v6) => v6.is_loopback(),
        };
        if !lab {
            bail!("--edge {edge}: only lab (10.0.0.0/8) or loopback addresses");
        }
        let pem = std::fs::read(ca).with_context(|| format!("--ca {}", ca.display()))?;
        let client = reqwest::Client::builder()
            .resolve(HOST, edge)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .user_agent("meridian-lab")
            .build()?;
        Ok(Self {
            client,
            base: format!("https://{HOST}:{}", edge.port()),
        })
    }

    /// One GET: its latency, status (or error) and answering region.
    async fn get(&self, path: &str) -> Sample {
        let sent = Instant::now();
        let at_ms = unix_ms();
        let result = self.client.get(format!("{}{path}", self.base)).send().await;
        let (status, region, error) = match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let region = resp
                    .headers()
                    .get("x-meridian-region")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                // The whole body: a shopper waits for it.
                match resp.bytes().await {
                    Ok(_) => (Some(status), region, None),
                    Err(e) => (Some(status), region, Some(format!("body: {e}"))),
                }
            }
            Err(e) => (None, None, Some(error_kind(&e))),
        };
        Sample {
            at_ms,
            latency_us: sent.elapsed().as_micros() as u64,
            status,
            region,
            error,
        }
    }
}

fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        format!("transport: {e}")
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One request as the shopper saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    /// Sent at, Unix milliseconds (the lab script notes its switches in
    /// the same clock).
    pub at_ms: u64,
    pub latency_us: u64,
    pub status: Option<u16>,
    pub region: Option<String>,
    pub error: Option<String>,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..400).contains(&s))
    }
}

/// What `probe` found for one path from one city.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    pub city: String,
    pub what: String,
    pub path: String,
    pub count: u64,
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers per region.
    pub regions: BTreeMap<String, u64>,
}

/// How `probe` sends.
pub struct Pace {
    pub count: u64,
    /// Untimed requests first (the connection and the edge's cache warm).
    pub warmup: u64,
    /// A query string of its own on each request, so no cache answers it.
    pub bust: bool,
    /// A pause after each answer. Servers that idle between requests
    /// answer slower (caches, wake-ups: 0.4 ms back to back, 1.2 ms with
    /// 16 ms between, measured on an origin here), so the server time is
    /// measured with the pause the distance puts between a shopper's
    /// requests: the round trip.
    pub gap: Duration,
}

/// `pace.count` GETs of `path` one after another.
pub async fn probe(
    target: &Target,
    city: &str,
    what: &str,
    path: &str,
    pace: &Pace,
) -> anyhow::Result<Probe> {
    let Pace {
        count,
        warmup,
        bust,
        gap,
    } = *pace;
    let run = unix_ms();
    let path_of = |i: u64| busted(path, bust, run, i);
    for i in 0..warmup {
        target.get(&path_of(count + i)).await;
    }
    let mut latency = histogram();
    let mut out = Probe {
        city: city.into(),
        what: what.into(),
        path: path.into(),
        count,
        failed: 0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
        regions: BTreeMap::new(),
    };
    for i in 0..count {
        let s = target.get(&path_of(i)).await;
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        if !s.ok() {
            out.failed += 1;
            continue;
        }
        latency.saturating_record(s.latency_us.max(1));
        if let Some(r) = s.region {
            *out.regions.entry(r).or_default() += 1;
        }
    }
    out.p50_ms = latency.value_at_quantile(0.50) as f64 / 1000.0;
    out.p99_ms = latency.value_at_quantile(0.99) as f64 / 1000.0;
    out.max_ms = latency.max() as f64 / 1000.0;
    Ok(out)
}

/// GETs of `path` at `rate` per second for `secs`, every one kept (with
/// `bust`, each with a query string of its own). Open loop: a slow answer
/// does not delay the next request.
pub async fn watch(
    target: Arc<Target>,
    path: &str,
    rate: f64,
    secs: f64,
    bust: bool,
) -> anyhow::Result<Vec<Sample>> {
    if !(0.5..=500.0).contains(&rate) || !(1.0..=600.0).contains(&secs) {
        bail!("--rate 0.5 to 500 per second, --secs 1 to 600");
    }
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Instant::now();
    let run = unix_ms();
    let mut tasks = tokio::task::JoinSet::new();
    let mut i = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        tick.tick().await;
        let path = busted(path, bust, run, i);
        i += 1;
        let (target, samples) = (target.clone(), samples.clone());
        tasks.spawn(async move {
            let s = target.get(&path).await;
            samples.lock().expect("no panics under the lock").push(s);
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut samples = std::mem::take(&mut *samples.lock().expect("no panics under the lock"));
    samples.sort_by_key(|s| s.at_ms);
    Ok(samples)
}

/// `path`, or with `bust` the same with a query parameter no other request
/// of any run has (so no cache holds an answer for it).
fn busted(path: &str, bust: bool, run: u64, i: u64) -> String {
    if !bust {
        return path.to_owned();
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}lab={run}-{i}")
}

/// 1 µs to 1 minute at 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid")
}
