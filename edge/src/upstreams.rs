//! The regions behind the edge: their origin peers and health.
//!
//! Health is one atomic flag per region, read lock-free on every request and
//! written only by the active health checker (`HealthChecker`), which probes
//! each origin's `/readyz` and flips the flag after `unhealthy_threshold`
//! consecutive failures or `healthy_threshold` consecutive passes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderValue;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::upstreams::peer::HttpPeer;

use crate::config::{HealthConfig, RegionEntry, UpstreamConfig};
use crate::metrics::EdgeMetrics;

pub struct Region {
    pub id: String,
    /// Pre-built `x-meridian-region` value.
    pub header: HeaderValue,
    pub origin: SocketAddr,
    peer: HttpPeer,
    healthy: AtomicBool,
}

pub struct Upstreams {
    regions: Vec<Region>,
}

impl Upstreams {
    pub fn new(regions: &[RegionEntry], upstream: &UpstreamConfig) -> Self {
        let regions = regions
            .iter()
            .map(|r| {
                let mut peer = HttpPeer::new(r.origin, false, String::new());
                peer.options.connection_timeout =
                    Some(Duration::from_millis(upstream.connect_timeout_ms));
                peer.options.read_timeout = Some(Duration::from_millis(upstream.read_timeout_ms));
                peer.options.write_timeout = Some(Duration::from_millis(upstream.read_timeout_ms));
                peer.options.idle_timeout = Some(Duration::from_millis(upstream.idle_timeout_ms));
                Region {
                    id: r.id.clone(),
                    header: HeaderValue::from_str(&r.id).expect("region ids are validated ASCII"),
                    origin: r.origin,
                    peer,
                    // Start optimistic so traffic flows at once; the first
                    // checks correct this within one interval.
                    healthy: AtomicBool::new(true),
                }
            })
            .collect();
        Self { regions }
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

    pub fn ids(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.id.clone()).collect()
    }

    pub fn is_healthy(&self, i: usize) -> bool {
        self.regions[i].healthy.load(Ordering::Relaxed)
    }

    /// Returns whether the state changed.
    pub fn set_healthy(&self, i: usize, healthy: bool) -> bool {
        self.regions[i].healthy.swap(healthy, Ordering::Relaxed) != healthy
    }

    pub fn peer(&self, i: usize) -> Box<HttpPeer> {
        Box::new(self.regions[i].peer.clone())
    }
}

/// Active health checks of every region's origin.
pub struct HealthChecker {
    upstreams: Arc<Upstreams>,
    metrics: Arc<EdgeMetrics>,
    config: HealthConfig,
    client: reqwest::Client,
}

impl HealthChecker {
    pub fn new(upstreams: Arc<Upstreams>, metrics: Arc<EdgeMetrics>, config: HealthConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms))
            .pool_max_idle_per_host(1)
            .build()
            .expect("a plain HTTP client builds");
        Self {
            upstreams,
            metrics,
            config,
            client,
        }
    }

    async fn probe(&self, i: usize) -> bool {
        let url = format!(
            "http://{}{}",
            self.upstreams.region(i).origin,
            self.config.path
        );
        matches!(self.client.get(url).send().await, Ok(r) if r.status().is_success())
    }

    /// Runs until `shutdown` flips to true.
    pub async fn run(&self, mut shutdown: ShutdownWatch) {
        let n = self.upstreams.len();
        let mut passes = vec![0u32; n];
        let mut failures = vec![0u32; n];
        let mut ticker = tokio::time::interval(Duration::from_millis(self.config.interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => return,
            }
            let results = futures::future::join_all((0..n).map(|i| self.probe(i))).await;
            for (i, ok) in results.into_iter().enumerate() {
                self.metrics.record_health_check(i, ok);
                if ok {
                    passes[i] += 1;
                    failures[i] = 0;
                } else {
                    failures[i] += 1;
                    passes[i] = 0;
                }
                let region = &self.upstreams.region(i).id;
                if passes[i] >= self.config.healthy_threshold && self.upstreams.set_healthy(i, true)
                {
                    tracing::warn!(region = %region, "region is healthy again");
                    self.metrics.set_region_healthy(i, true);
                }
                if failures[i] >= self.config.unhealthy_threshold
                    && self.upstreams.set_healthy(i, false)
                {
                    tracing::warn!(region = %region, "region marked down by health checks");
                    self.metrics.set_region_healthy(i, false);
                }
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
