//! `GET /metrics` on its own listener, for Prometheus.

use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::listen::side_app::{json_error, response};
use crate::metrics::EdgeMetrics;
use crate::state::EdgeState;

/// `GET /metrics` in Prometheus text format.
pub struct MetricsApp {
    pub metrics: Arc<EdgeMetrics>,
    pub state: Arc<ArcSwap<EdgeState>>,
}

#[async_trait]
impl ServeHttp for MetricsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        if session.req_header().uri.path() != "/metrics" {
            return json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                "only /metrics is served here",
            );
        }
        // Cache size gauges are read at scrape time, not kept per request.
        let (entries, bytes) = self.state.load().cache.size();
        self.metrics.cache_entries.set(entries as i64);
        self.metrics.cache_bytes.set(bytes as i64);
        response(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            self.metrics.render(),
        )
    }
}
