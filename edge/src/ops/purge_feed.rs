//! Follows every region's cache change feed (`/internal/cache/changes`,
//! long-polled) and purges the surrogate-key tags it returns, so a product
//! or shop change reaches the edge's cache as soon as its event does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use meridian_wire::headers::INTERNAL;
use meridian_wire::internal::{Changes, CACHE_CHANGES};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::metrics::EdgeMetrics;
use crate::state::EdgeState;

const WAIT_MS: u64 = 20_000;

pub struct PurgeFeed {
    pub state: Arc<ArcSwap<EdgeState>>,
    pub metrics: Arc<EdgeMetrics>,
}

impl PurgeFeed {
    /// Keeps one follower per configured region (regions may come and go
    /// with reloads) until shutdown.
    pub async fn run(&self, mut shutdown: ShutdownWatch) {
        let mut followers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let state = self.state.load_full();
            let wanted: Vec<String> = if state.config.cache.purge_feed {
                (0..state.upstreams.len())
                    .map(|i| state.upstreams.region(i).id.clone())
                    .collect()
            } else {
                Vec::new()
            };
            followers.retain(|id, task| {
                let keep = wanted.contains(id) && !task.is_finished();
                if !keep {
                    task.abort();
                }
                keep
            });
            for id in wanted {
                followers.entry(id.clone()).or_insert_with(|| {
                    tokio::spawn(follow(self.state.clone(), self.metrics.clone(), id))
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => break,
            }
        }
        for task in followers.values() {
            task.abort();
        }
    }
}

async fn follow(state: Arc<ArcSwap<EdgeState>>, metrics: Arc<EdgeMetrics>, id: String) {
    let mut after: Option<(u64, u64)> = None;
    let mut failures = 0u32;
    loop {
        let current = state.load_full();
        let Some(i) = current.upstreams.position(&id) else {
            return;
        };
        let Some(endpoint) = current.upstreams.endpoint(i) else {
            // Not resolved yet: the health checker is on it.
            drop(current);
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            continue;
        };
        let api = &endpoint.api;
        let query = match after {
            Some((epoch, a)) => {
                format!("{CACHE_CHANGES}?after={a}&epoch={epoch}&wait_ms={WAIT_MS}")
            }
            None => CACHE_CHANGES.to_owned(),
        };
        let response = api
            .client
            .get(api.url(&query))
            .header(INTERNAL, current.internal_secret.clone())
            .timeout(Duration::from_millis(WAIT_MS + 5_000))
            .send()
            .await;
        let changes = match response {
            Ok(r) if r.status().is_success() => r.json::<Changes>().await.ok(),
            _ => None,
        };
        drop(current);
        let Some(changes) = changes else {
            failures += 1;
            if failures == 1 {
                tracing::warn!(region = %id, "cache change feed unreachable; retrying");
            }
            tokio::time::sleep(Duration::from_millis(500 * u64::from(failures.min(10)))).await;
            continue;
        };
        failures = 0;
        let cache = state.load().cache.clone();
        if changes.reset && after.is_some() {
            // Changes may have been missed (the origin restarted or we fell
            // behind): what we hold can no longer be trusted.
            let n = cache.purge_all();
            metrics.cache_purged.with_label_values(&["feed"]).inc();
            tracing::warn!(region = %id, purged = n, "cache change feed reset; cache purged");
        } else if !changes.tags.is_empty() {
            let n = cache.purge_tags(changes.tags.iter().map(String::as_str));
            metrics
                .cache_purged
                .with_label_values(&["feed"])
                .inc_by(changes.tags.len() as u64);
            tracing::debug!(region = %id, tags = changes.tags.len(), purged = n, "purged by change feed");
        }
        after = Some((changes.epoch, changes.next));
    }
}

#[async_trait]
impl BackgroundService for PurgeFeed {
    async fn start(&self, shutdown: ShutdownWatch) {
        self.run(shutdown).await;
    }
}
