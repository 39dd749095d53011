//! The regions behind the edge: their origin peers, health, drains and
//! circuit breakers.
//!
//! Everything a request reads here is an atomic: the active health flag
//! (written from the health checker's results, flipped after
//! `unhealthy_threshold` failures / `healthy_threshold` passes), the
//! operator's drain flag, and the breaker (passive ejection:
//! `eject_after_failures` consecutive failed requests open it for
//! `eject_ms`; then one trial request at a time decides), and the slots
//! bounding its requests in flight.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::HeaderValue;
use pingora::upstreams::peer::HttpPeer;

use super::endpoint::Endpoint;
use super::latency::Latencies;
use super::slots::{Class, Full, Slot, Slots};
use super::tls::OriginTls;
use crate::clock::monotonic_ms;
use crate::config::{HealthConfig, OriginAddr, RegionEntry, UpstreamConfig};
use crate::geo::Ranking;
use crate::metrics::{EdgeMetrics, RegionMetrics};

pub struct Region {
    pub id: String,
    /// Pre-built `x-meridian-region` value.
    pub header: HeaderValue,
    /// As configured: an address, or a name the health checker resolves.
    pub origin: OriginAddr,
    /// Where the origin is now; `None` while a name has not resolved (the
    /// region is then unhealthy and gets no requests).
    endpoint: ArcSwapOption<Endpoint>,
    /// When a name was last looked up (`monotonic_ms`).
    resolved_ms: AtomicU64,
    /// Whether the last lookup failed, so a name that stays unresolvable
    /// is logged once, not every round.
    resolve_failing: AtomicBool,
    pub metrics: RegionMetrics,
    healthy: AtomicBool,
    drained: AtomicBool,
    /// Consecutive failed requests (reset by any success).
    failures: AtomicU32,
    /// 0: breaker closed. Otherwise the `monotonic_ms` until which it stays open;
    /// past it, the next request is a trial and re-arms this.
    open_until: AtomicU64,
    /// Consecutive passed / failed health checks.
    passes: AtomicU32,
    check_failures: AtomicU32,
    /// Requests in flight to it, bounded.
    slots: Slots,
}

pub struct Upstreams {
    regions: Vec<Region>,
    /// Measured round trips and the ranking they give.
    latency: Latencies,
    /// What built this set, so a reload that changes neither keeps it (and
    /// with it health, drains and breakers).
    pub source: (Vec<RegionEntry>, UpstreamConfig),
    /// mTLS material for endpoints built when a name resolves anew.
    tls: Option<OriginTls>,
}

/// A name that resolves is looked up again this often, so an origin that
/// moved is followed; one whose region is unhealthy, every health round.
const RESOLVE_EVERY_MS: u64 = 30_000;
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

impl Upstreams {
    pub fn new(
        entries: &[RegionEntry],
        upstream: &UpstreamConfig,
        metrics: &EdgeMetrics,
        previous: Option<&Upstreams>,
    ) -> Result<Self, String> {
        let tls = upstream.tls.as_ref().map(OriginTls::load).transpose()?;
        let regions = entries
            .iter()
            .map(|r| {
                // A region keeps its health and drain state across reloads
                // that change other things about it, and a name its last
                // address until the next lookup.
                let before = previous.and_then(|p| p.regions.iter().find(|x| x.id == r.id));
                let addr = r.origin.literal().or_else(|| {
                    before
                        .filter(|b| b.origin == r.origin)
                        .and_then(|b| b.endpoint.load().as_ref().map(|e| e.addr))
                });
                let endpoint = addr
                    .map(|addr| Endpoint::new(addr, tls.as_ref(), upstream).map(Arc::new))
                    .transpose()?;
                let healthy =
                    endpoint.is_some() && before.is_none_or(|b| b.healthy.load(Ordering::Relaxed));
                let drained = before.is_some_and(|b| b.drained.load(Ordering::Relaxed));
                let region = Region {
                    id: r.id.clone(),
                    header: HeaderValue::from_str(&r.id).expect("region ids are validated ASCII"),
                    origin: r.origin.clone(),
                    endpoint: ArcSwapOption::new(endpoint),
                    resolved_ms: AtomicU64::new(monotonic_ms()),
                    resolve_failing: AtomicBool::new(false),
                    metrics: metrics.region(&r.id),
                    // New regions start optimistic so traffic flows at once;
                    // the first checks correct this within one interval.
                    healthy: AtomicBool::new(healthy),
                    drained: AtomicBool::new(drained),
                    failures: AtomicU32::new(0),
                    open_until: AtomicU64::new(0),
                    passes: AtomicU32::new(0),
                    check_failures: AtomicU32::new(0),
                    slots: Slots::new(
                        upstream.max_in_flight_per_region,
                        upstream.read_share,
                        upstream.anonymous_read_share,
                        Duration::from_millis(upstream.queue_ms),
                    ),
                };
                region.metrics.healthy.set(i64::from(healthy));
                region.metrics.drained.set(i64::from(drained));
                region.metrics.breaker_open.set(0);
                Ok(region)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            latency: Latencies::new(regions.len()),
            regions,
            source: (entries.to_vec(), upstream.clone()),
            tls,
        })
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    pub fn region(&self, i: usize) -> &Region {
        &self.regions[i]
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.id == id)
    }

    pub fn is_healthy(&self, i: usize) -> bool {
        self.regions[i].healthy.load(Ordering::Relaxed)
    }

    pub fn is_drained(&self, i: usize) -> bool {
        self.regions[i].drained.load(Ordering::Relaxed)
    }

    /// Returns whether the state changed.
    pub fn set_drained(&self, i: usize, drained: bool) -> bool {
        let r = &self.regions[i];
        r.metrics.drained.set(i64::from(drained));
        r.drained.swap(drained, Ordering::Relaxed) != drained
    }

    /// Returns whether the state changed.
    pub fn set_healthy(&self, i: usize, healthy: bool) -> bool {
        let r = &self.regions[i];
        r.metrics.healthy.set(i64::from(healthy));
        r.healthy.swap(healthy, Ordering::Relaxed) != healthy
    }

    /// One active health check's result: updates the pass / fail streaks
    /// and flips the health flag once a streak reaches its threshold.
    /// Returns the new health when it changed.
    pub fn record_check(&self, i: usize, ok: bool, health: &HealthConfig) -> Option<bool> {
        let r = &self.regions[i];
        r.metrics.record_health_check(ok);
        let (streak, other, threshold) = if ok {
            (&r.passes, &r.check_failures, health.healthy_threshold)
        } else {
            (&r.check_failures, &r.passes, health.unhealthy_threshold)
        };
        other.store(0, Ordering::Relaxed);
        let n = streak.fetch_add(1, Ordering::Relaxed) + 1;
        (n >= threshold && self.set_healthy(i, ok)).then_some(ok)
    }

    /// A passed health check's round trip.
    pub fn record_rtt(&self, i: usize, rtt: Duration) {
        self.latency.record(i, rtt);
        if let Some(smoothed) = self.latency.smoothed(i) {
            self.regions[i].metrics.rtt.set(smoothed.as_secs_f64());
        }
    }

    /// After a round of checks: the latency ranking, unmeasured regions in
    /// `by_distance` order.
    pub fn rerank_latency(&self, by_distance: &Ranking) {
        self.latency.rerank(by_distance);
    }

    /// Regions by measured round trip, once any was measured.
    pub fn latency_ranking(&self) -> Option<Ranking> {
        self.latency.ranking()
    }

    /// Whether the breaker lets a request through now. With `take_trial`,
    /// a request past an open period claims the one trial slot (re-arming
    /// the open period, so concurrent requests keep away meanwhile).
    pub fn breaker_allows(&self, i: usize, take_trial: bool) -> bool {
        let r = &self.regions[i];
        let until = r.open_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        let now = monotonic_ms();
        if now < until {
            return false;
        }
        !take_trial
            || r.open_until
                .compare_exchange(
                    until,
                    now + self.source.1.eject_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Routable: passes health checks, not drained, breaker not open.
    pub fn is_available(&self, i: usize, take_trial: bool) -> bool {
        self.is_healthy(i) && !self.is_drained(i) && self.breaker_allows(i, take_trial)
    }

    pub fn is_breaker_open(&self, i: usize) -> bool {
        self.regions[i].open_until.load(Ordering::Relaxed) != 0
    }

    /// A request to the region got an answer that was not a gateway error.
    pub fn record_success(&self, i: usize) {
        let r = &self.regions[i];
        if r.failures.load(Ordering::Relaxed) != 0 {
            r.failures.store(0, Ordering::Relaxed);
        }
        if r.open_until.load(Ordering::Relaxed) != 0 {
            r.open_until.store(0, Ordering::Relaxed);
            r.metrics.breaker_open.set(0);
            tracing::warn!(region = %r.id, "breaker closed: region answers again");
        }
    }

    /// A request to the region failed (connect error, timeout, 502/503/504).
    pub fn record_failure(&self, i: usize) {
        let r = &self.regions[i];
        let failures = r.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.source.1.eject_after_failures
            && r.open_until.load(Ordering::Relaxed) == 0
        {
            r.open_until
                .store(monotonic_ms() + self.source.1.eject_ms, Ordering::Relaxed);
            r.metrics.breaker_open.set(1);
            r.metrics.ejections.inc();
            tracing::warn!(region = %r.id, failures, "breaker open: region ejected after consecutive failures");
        }
    }

    /// A slot for one request to the region, held until the permit drops
    /// (`None` when unlimited); `Full` (counted) when none came free within
    /// the queue wait.
    pub async fn take_slot(&self, i: usize, class: Class) -> Result<Option<Slot>, Full> {
        let r = &self.regions[i];
        let slot = r.slots.take(class).await;
        if slot.is_err() {
            r.metrics.shed.inc();
        }
        slot
    }

    /// The region's peer, with a per-route timeout if given; `None` while
    /// its name has not resolved.
    pub fn peer(&self, i: usize, timeout: Option<Duration>) -> Option<Box<HttpPeer>> {
        let endpoint = self.regions[i].endpoint.load();
        let mut peer = Box::new(endpoint.as_ref()?.peer.clone());
        if let Some(t) = timeout {
            peer.options.read_timeout = Some(t);
            peer.options.write_timeout = Some(t);
        }
        Some(peer)
    }

    /// Where the region's origin is now (`None`: its name has not resolved).
    pub fn endpoint(&self, i: usize) -> Option<Arc<Endpoint>> {
        self.regions[i].endpoint.load_full()
    }

    /// Looks a region's name up when it is due (never resolved, its region
    /// unhealthy, or `RESOLVE_EVERY_MS` since the last lookup) and points
    /// the region at the new address if it moved. A failed lookup keeps
    /// the last address: a stale one that answers beats none.
    pub async fn resolve(&self, i: usize) {
        let r = &self.regions[i];
        let OriginAddr::Name { host, port } = &r.origin else {
            return;
        };
        let now = monotonic_ms();
        let current = r.endpoint.load_full();
        let due = current.is_none()
            || !self.is_healthy(i)
            || now.saturating_sub(r.resolved_ms.load(Ordering::Relaxed)) >= RESOLVE_EVERY_MS;
        if !due {
            return;
        }
        r.resolved_ms.store(now, Ordering::Relaxed);
        let lookup = tokio::net::lookup_host((host.as_str(), *port));
        let found = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| "no address".to_owned()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("lookup timed out".to_owned()),
        };
        let addr = match found {
            Ok(addr) => addr,
            Err(error) => {
                if !r.resolve_failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(region = %r.id, origin = %r.origin, %error, "origin name does not resolve");
                }
                return;
            }
        };
        r.resolve_failing.store(false, Ordering::Relaxed);
        if current.as_ref().is_some_and(|e| e.addr == addr) {
            return;
        }
        match Endpoint::new(addr, self.tls.as_ref(), &self.source.1) {
            Ok(endpoint) => {
                tracing::info!(region = %r.id, origin = %r.origin, %addr, "origin address resolved");
                r.endpoint.store(Some(Arc::new(endpoint)));
                // A first address starts optimistic, as a literal one does
                // at load (the check that follows corrects it); a name that
                // failed its checks while unresolvable earns its way back.
                if current.is_none() && r.check_failures.load(Ordering::Relaxed) == 0 {
                    self.set_healthy(i, true);
                }
            }
            Err(error) => {
                tracing::warn!(region = %r.id, %addr, %error, "cannot reach the resolved address");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstreams(origins: &[&str], previous: Option<&Upstreams>) -> Upstreams {
        let entries: Vec<RegionEntry> = origins
            .iter()
            .enumerate()
            .map(|(i, origin)| RegionEntry {
                id: format!("r{i}"),
                latitude: 0.0,
                longitude: 0.0,
                origin: origin.parse().unwrap(),
            })
            .collect();
        let metrics = EdgeMetrics::new();
        Upstreams::new(&entries, &UpstreamConfig::default(), &metrics, previous).unwrap()
    }

    /// A literal address is reachable at once; a name only once the health
    /// checker has resolved it, and until then its region takes no traffic.
    #[tokio::test]
    async fn a_name_is_resolved_by_the_checker_and_kept_across_reloads() {
        let ups = upstreams(&["127.0.0.1:7101", "localhost:7102"], None);
        assert_eq!(ups.endpoint(0).unwrap().addr.to_string(), "127.0.0.1:7101");
        assert!(ups.peer(0, None).is_some());
        assert!(ups.endpoint(1).is_none() && ups.peer(1, None).is_none());
        assert!(!ups.is_healthy(1), "an unresolved region is not routable");

        ups.resolve(1).await;
        let addr = ups.endpoint(1).expect("localhost resolves").addr;
        assert!(addr.ip().is_loopback() && addr.port() == 7102, "{addr}");
        assert!(ups.peer(1, None).is_some());
        assert!(ups.is_healthy(1), "a first address starts optimistic");

        // A reload with the same name starts from the address it had.
        let reloaded = upstreams(&["127.0.0.1:7101", "localhost:7102"], Some(&ups));
        assert_eq!(reloaded.endpoint(1).map(|e| e.addr), Some(addr));
        // Another name for the region starts unresolved.
        let renamed = upstreams(&["127.0.0.1:7101", "localhost:7103"], Some(&ups));
        assert!(renamed.endpoint(1).is_none());
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_leaves_its_region_out() {
        // `.invalid` never resolves (RFC 6761).
        let ups = upstreams(&["origin.meridian.invalid:7100"], None);
        ups.resolve(0).await;
        assert!(ups.endpoint(0).is_none());
        assert!(!ups.is_available(0, false));
        assert!(ups.peer(0, None).is_none());
    }
}
