//! The regions behind the edge: their origin peers, health, drains and
//! circuit breakers, plus the retry budget.
//!
//! Everything a request reads here is an atomic: the active health flag
//! (written by `HealthChecker`, which probes each origin's health path and
//! flips it after `unhealthy_threshold` failures / `healthy_threshold`
//! passes), the operator's drain flag, and the breaker (passive ejection:
//! `eject_after_failures` consecutive failed requests open it for
//! `eject_ms`; then one trial request at a time decides).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::HeaderValue;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::upstreams::peer::HttpPeer;

use crate::config::{RegionEntry, UpstreamConfig};
use crate::metrics::{EdgeMetrics, RegionMetrics};
use crate::state::EdgeState;

/// Milliseconds since the process started (monotonic; never 0 after the
/// first call returns, so 0 can mean "never").
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(|| Instant::now() - Duration::from_millis(1));
    start.elapsed().as_millis() as u64
}

pub struct Region {
    pub id: String,
    /// Pre-built `x-meridian-region` value.
    pub header: HeaderValue,
    pub origin: SocketAddr,
    pub api: OriginClient,
    pub metrics: RegionMetrics,
    peer: HttpPeer,
    healthy: AtomicBool,
    drained: AtomicBool,
    /// Consecutive failed requests (reset by any success).
    failures: AtomicU32,
    /// 0: breaker closed. Otherwise the `now_ms` until which it stays open;
    /// past it, the next request is a trial and re-arms this.
    open_until: AtomicU64,
    /// Consecutive passed / failed health checks.
    passes: AtomicU32,
    check_failures: AtomicU32,
}

pub struct Upstreams {
    regions: Vec<Region>,
    /// What built this set, so a reload that changes neither keeps it (and
    /// with it health, drains and breakers).
    pub source: (Vec<RegionEntry>, UpstreamConfig),
}

/// The mTLS material for origin connections, loaded once per config.
pub struct OriginTls {
    ca: Arc<pingora::protocols::tls::CaType>,
    client: Arc<pingora::utils::tls::CertKey>,
    server_name: String,
    /// The same material for the edge's own calls (health, introspection,
    /// cache refreshes).
    pem: (reqwest::Certificate, reqwest::Identity),
}

/// The edge's own HTTP calls to one region's origin (health checks,
/// credential introspection, background cache refreshes), over mTLS when
/// the proxy path uses it.
#[derive(Clone)]
pub struct OriginClient {
    pub client: reqwest::Client,
    /// `http://addr` or `https://<server name>:port` (resolved to addr).
    pub base: String,
}

impl OriginClient {
    fn new(origin: SocketAddr, tls: Option<&OriginTls>) -> Result<Self, String> {
        let builder = reqwest::Client::builder().pool_max_idle_per_host(4);
        Ok(match tls {
            None => Self {
                client: builder.build().map_err(|e| e.to_string())?,
                base: format!("http://{origin}"),
            },
            Some(tls) => Self {
                client: builder
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(tls.pem.0.clone())
                    .identity(tls.pem.1.clone())
                    .resolve(&tls.server_name, origin)
                    .build()
                    .map_err(|e| format!("upstream.tls: {e}"))?,
                base: format!("https://{}:{}", tls.server_name, origin.port()),
            },
        })
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }
}

impl OriginTls {
    /// Reads each PEM file once; the proxy path (Pingora) and the edge's
    /// own client (reqwest) both use those bytes.
    pub fn load(config: &crate::config::UpstreamTls) -> Result<Self, String> {
        use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("upstream.tls: {}: {e}", path.display()))
        };
        let certs_of = |pem: &[u8], path: &std::path::Path| -> Result<Vec<Vec<u8>>, String> {
            let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("upstream.tls: {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("upstream.tls: {}: no certificate", path.display()));
            }
            Ok(certs)
        };
        let (ca_pem, cert_pem, key_pem) =
            (read(&config.ca)?, read(&config.cert)?, read(&config.key)?);
        let ca: Vec<WrappedX509> = certs_of(&ca_pem, &config.ca)?
            .into_iter()
            .map(|raw| WrappedX509::new(raw, parse_x509))
            .collect();
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("upstream.tls.key: {}: {e}", config.key.display()))?;
        let client = CertKey::new(
            certs_of(&cert_pem, &config.cert)?,
            key.secret_der().to_vec(),
        );
        let identity = [cert_pem.as_slice(), key_pem.as_slice()].concat();
        let pem = (
            reqwest::Certificate::from_pem(&ca_pem).map_err(|e| format!("upstream.tls.ca: {e}"))?,
            reqwest::Identity::from_pem(&identity)
                .map_err(|e| format!("upstream.tls.cert: {e}"))?,
        );
        Ok(Self {
            pem,
            ca: Arc::from(ca.into_boxed_slice()),
            client: Arc::new(client),
            server_name: config.server_name.clone(),
        })
    }
}

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
                let mut peer = match &tls {
                    Some(tls) => {
                        let mut peer = HttpPeer::new(r.origin, true, tls.server_name.clone());
                        peer.options.ca = Some(tls.ca.clone());
                        peer.client_cert_key = Some(tls.client.clone());
                        peer
                    }
                    None => HttpPeer::new(r.origin, false, String::new()),
                };
                peer.options.connection_timeout =
                    Some(Duration::from_millis(upstream.connect_timeout_ms));
                peer.options.read_timeout = Some(Duration::from_millis(upstream.read_timeout_ms));
                peer.options.write_timeout = Some(Duration::from_millis(upstream.read_timeout_ms));
                peer.options.idle_timeout = Some(Duration::from_millis(upstream.idle_timeout_ms));
                // A region keeps its health and drain state across reloads
                // that change other things about it.
                let before = previous.and_then(|p| p.regions.iter().find(|x| x.id == r.id));
                let healthy = before.is_none_or(|b| b.healthy.load(Ordering::Relaxed));
                let drained = before.is_some_and(|b| b.drained.load(Ordering::Relaxed));
                let region = Region {
                    id: r.id.clone(),
                    header: HeaderValue::from_str(&r.id).expect("region ids are validated ASCII"),
                    origin: r.origin,
                    api: OriginClient::new(r.origin, tls.as_ref())?,
                    metrics: metrics.region(&r.id),
                    peer,
                    // New regions start optimistic so traffic flows at once;
                    // the first checks correct this within one interval.
                    healthy: AtomicBool::new(healthy),
                    drained: AtomicBool::new(drained),
                    failures: AtomicU32::new(0),
                    open_until: AtomicU64::new(0),
                    passes: AtomicU32::new(0),
                    check_failures: AtomicU32::new(0),
                };
                region.metrics.healthy.set(i64::from(healthy));
                region.metrics.drained.set(i64::from(drained));
                region.metrics.breaker_open.set(0);
                Ok(region)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            regions,
            source: (entries.to_vec(), upstream.clone()),
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

    /// Whether the breaker lets a request through now. With `take_trial`,
    /// a request past an open period claims the one trial slot (re-arming
    /// the open period, so concurrent requests keep away meanwhile).
    pub fn breaker_allows(&self, i: usize, take_trial: bool) -> bool {
        let r = &self.regions[i];
        let until = r.open_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        let now = now_ms();
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
                .store(now_ms() + self.source.1.eject_ms, Ordering::Relaxed);
            r.metrics.breaker_open.set(1);
            r.metrics.ejections.inc();
            tracing::warn!(region = %r.id, failures, "breaker open: region ejected after consecutive failures");
        }
    }

    /// The region's peer, with a per-route timeout if given.
    pub fn peer(&self, i: usize, timeout: Option<Duration>) -> Box<HttpPeer> {
        let mut peer = Box::new(self.regions[i].peer.clone());
        if let Some(t) = timeout {
            peer.options.read_timeout = Some(t);
            peer.options.write_timeout = Some(t);
        }
        peer
    }
}

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
        let second = now_ms() / 1000;
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

/// Active health checks of every region's origin. Follows reloads: each
/// round probes the region set and settings of the current config.
pub struct HealthChecker {
    state: Arc<ArcSwap<EdgeState>>,
}

impl HealthChecker {
    pub fn new(state: Arc<ArcSwap<EdgeState>>) -> Self {
        Self { state }
    }

    async fn probe(api: &OriginClient, path: &str, timeout: Duration) -> bool {
        let request = api.client.get(api.url(path)).timeout(timeout).send();
        matches!(request.await, Ok(r) if r.status().is_success())
    }

    async fn round(&self) -> Duration {
        let state = self.state.load_full();
        let ups = &state.upstreams;
        let health = &state.health;
        let timeout = Duration::from_millis(health.timeout_ms);
        let results = futures::future::join_all(
            (0..ups.len()).map(|i| Self::probe(&ups.region(i).api, &health.path, timeout)),
        )
        .await;
        for (i, ok) in results.into_iter().enumerate() {
            let r = ups.region(i);
            r.metrics.record_health_check(ok);
            let (streak, other) = if ok {
                (&r.passes, &r.check_failures)
            } else {
                (&r.check_failures, &r.passes)
            };
            other.store(0, Ordering::Relaxed);
            let n = streak.fetch_add(1, Ordering::Relaxed) + 1;
            if ok && n >= health.healthy_threshold && ups.set_healthy(i, true) {
                tracing::warn!(region = %r.id, "region is healthy again");
            }
            if !ok && n >= health.unhealthy_threshold && ups.set_healthy(i, false) {
                tracing::warn!(region = %r.id, "region marked down by health checks");
            }
        }
        Duration::from_millis(health.interval_ms)
    }

    /// Runs until `shutdown` flips to true.
    pub async fn run(&self, mut shutdown: ShutdownWatch) {
        loop {
            let started = tokio::time::Instant::now();
            let interval = self.round().await;
            tokio::select! {
                _ = tokio::time::sleep_until(started + interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, shutdown: ShutdownWatch) {
        self.run(shutdown).await;
    }
}
