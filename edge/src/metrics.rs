//! Prometheus metrics of the edge.
//!
//! Every series the hot path touches is resolved once at start into plain
//! atomics indexed by region and status class, so recording a request is a
//! few atomic adds: no label hashing, no locks, no allocation.

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Label for requests answered before a region was chosen.
pub const NO_REGION: &str = "none";

pub struct EdgeMetrics {
    registry: Registry,
    /// `[region or none][status class]`; the last row is `none`.
    requests: Vec<[IntCounter; 5]>,
    duration: Vec<Histogram>,
    region_healthy: Vec<IntGauge>,
    health_checks: Vec<[IntCounter; 2]>,
    session_lookups: [[IntCounter; 3]; 3],
    pub retries: IntCounter,
}

#[derive(Debug, Clone, Copy)]
pub enum LookupSource {
    Cache = 0,
    Redis = 1,
    Introspect = 2,
}

#[derive(Debug, Clone, Copy)]
pub enum LookupResult {
    Valid = 0,
    Invalid = 1,
    Error = 2,
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("each metric is registered once");
    c
}

impl EdgeMetrics {
    pub fn new(regions: &[String]) -> Self {
        let registry = Registry::new();
        let requests_vec = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "meridian_edge_requests_total",
                    "Requests answered by the edge",
                ),
                &["region", "status_class"],
            )
            .expect("valid metric"),
        );
        let duration_vec = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "meridian_edge_request_duration_seconds",
                    "Time from request start to the end of the response",
                )
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5, 5.0,
                ]),
                &["region"],
            )
            .expect("valid metric"),
        );
        let healthy_vec = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "meridian_edge_region_healthy",
                    "1 when the region passes health checks",
                ),
                &["region"],
            )
            .expect("valid metric"),
        );
        let checks_vec = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "meridian_edge_health_checks_total",
                    "Active health checks by outcome",
                ),
                &["region", "result"],
            )
            .expect("valid metric"),
        );
        let lookups_vec = register(
            &registry,
            IntCounterVec::new(
                Opts::new("meridian_edge_session_lookups_total", "Session validations"),
                &["source", "result"],
            )
            .expect("valid metric"),
        );
        let retries = register(
            &registry,
            IntCounter::new(
                "meridian_edge_upstream_retries_total",
                "Requests retried on another region after a connect failure",
            )
            .expect("valid metric"),
        );
        let labels = regions.iter().map(String::as_str).chain([NO_REGION]);
        let requests = labels
            .clone()
            .map(|r| STATUS_CLASSES.map(|c| requests_vec.with_label_values(&[r, c])))
            .collect();
        let duration = labels
            .map(|r| duration_vec.with_label_values(&[r]))
            .collect();
        let region_healthy = regions
            .iter()
            .map(|r| {
                let g = healthy_vec.with_label_values(&[r]);
                g.set(1);
                g
            })
            .collect();
        let health_checks = regions
            .iter()
            .map(|r| ["ok", "fail"].map(|o| checks_vec.with_label_values(&[r, o])))
            .collect();
        let session_lookups = ["cache", "redis", "introspect"]
            .map(|s| ["valid", "invalid", "error"].map(|o| lookups_vec.with_label_values(&[s, o])));
        Self {
            registry,
            requests,
            duration,
            region_healthy,
            health_checks,
            session_lookups,
            retries,
        }
    }

    /// `region` is `None` for answers given before a region was chosen.
    pub fn record_request(&self, region: Option<usize>, status: u16, seconds: f64) {
        let row = region
            .unwrap_or(self.requests.len() - 1)
            .min(self.requests.len() - 1);
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.requests[row][class].inc();
        self.duration[row].observe(seconds);
    }

    pub fn set_region_healthy(&self, region: usize, healthy: bool) {
        self.region_healthy[region].set(i64::from(healthy));
    }

    pub fn record_health_check(&self, region: usize, ok: bool) {
        self.health_checks[region][usize::from(!ok)].inc();
    }

    pub fn record_lookup(&self, source: LookupSource, result: LookupResult) {
        self.session_lookups[source as usize][result as usize].inc();
    }

    /// Text exposition format.
    pub fn render(&self) -> Vec<u8> {
        use prometheus::Encoder;
        let mut out = Vec::with_capacity(8192);
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_by_region_and_class() {
        let m = EdgeMetrics::new(&["chicago".into(), "dallas".into()]);
        m.record_request(Some(1), 200, 0.001);
        m.record_request(None, 404, 0.0001);
        m.record_request(Some(0), 503, 0.01);
        m.set_region_healthy(0, false);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains(r#"meridian_edge_requests_total{region="dallas",status_class="2xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"meridian_edge_requests_total{region="none",status_class="4xx"} 1"#)
        );
        assert!(
            text.contains(r#"meridian_edge_requests_total{region="chicago",status_class="5xx"} 1"#)
        );
        assert!(text.contains(r#"meridian_edge_region_healthy{region="chicago"} 0"#));
    }
}
