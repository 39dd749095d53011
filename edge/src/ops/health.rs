//! Active health checks of every region's origin, as a background service.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::state::EdgeState;
use crate::upstream::Upstreams;

/// Active health checks of every region's origin. Follows reloads: each
/// round probes the region set and settings of the current config.
pub struct HealthChecker {
    state: Arc<ArcSwap<EdgeState>>,
}

impl HealthChecker {
    pub fn new(state: Arc<ArcSwap<EdgeState>>) -> Self {
        Self { state }
    }

    /// The check's round trip when it passed (a region whose name has not
    /// resolved fails it).
    async fn probe(ups: &Upstreams, i: usize, path: &str, timeout: Duration) -> Option<Duration> {
        ups.resolve(i).await;
        let api = &ups.endpoint(i)?.api;
        let sent = std::time::Instant::now();
        let request = api.client.get(api.url(path)).timeout(timeout).send();
        match request.await {
            Ok(r) if r.status().is_success() => Some(sent.elapsed()),
            _ => None,
        }
    }

    async fn round(&self) -> Duration {
        let state = self.state.load_full();
        let ups = &state.upstreams;
        let health = &state.health;
        let timeout = Duration::from_millis(health.timeout_ms);
        let results = futures::future::join_all(
            (0..ups.len()).map(|i| Self::probe(ups, i, &health.path, timeout)),
        )
        .await;
        for (i, rtt) in results.into_iter().enumerate() {
            let id = &ups.region(i).id;
            if let Some(rtt) = rtt {
                ups.record_rtt(i, rtt);
            }
            match ups.record_check(i, rtt.is_some(), health) {
                Some(true) => tracing::warn!(region = %id, "region is healthy again"),
                Some(false) => tracing::warn!(region = %id, "region marked down by health checks"),
                None => {}
            }
        }
        ups.rerank_latency(&state.geo.default_ranking());
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
