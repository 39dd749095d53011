//! Prometheus metrics of the edge.
//!
//! Every series the hot path touches is resolved ahead of time into plain
//! atomics (per region when the region set is built, the rest at start), so
//! recording a request is a few atomic adds: no label hashing, no locks, no
//! allocation.

use prometheus::core::Collector;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use meridian_wire::labels::{self, LABELS as SERVICE_LABELS, STATUS_CLASSES};

const SERVICES: usize = SERVICE_LABELS.len();
/// Label for requests answered before a region was chosen.
pub const NO_REGION: &str = "none";

/// Series of one region (or of `none`), resolved once per region set.
pub struct RegionMetrics {
    /// `[service][status class]`.
    requests: [[IntCounter; 5]; SERVICES],
    duration: [Histogram; SERVICES],
    pub healthy: IntGauge,
    /// `[ok, fail]`.
    health_checks: [IntCounter; 2],
    pub breaker_open: IntGauge,
    pub ejections: IntCounter,
    /// Requests refused because the region had no slot free.
    pub shed: IntCounter,
    pub drained: IntGauge,
    /// Smoothed round trip of the health checks, seconds.
    pub rtt: Gauge,
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

/// How the cache answered a request (`x-cache`, metrics, access log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit = 0,
    Miss = 1,
    Stale = 2,
    /// Not cacheable (credential presented, method, no rule).
    Bypass = 3,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        ["HIT", "MISS", "STALE", "BYPASS"][self as usize]
    }
}

/// Rate-limit dimensions, as label values.
pub const LIMIT_KINDS: [&str; 3] = ["ip", "session", "key"];

struct Vecs {
    requests: IntCounterVec,
    duration: HistogramVec,
    healthy: IntGaugeVec,
    checks: IntCounterVec,
    breaker: IntGaugeVec,
    ejections: IntCounterVec,
    shed: IntCounterVec,
    drained: IntGaugeVec,
    rtt: GaugeVec,
}

pub struct EdgeMetrics {
    registry: Registry,
    vecs: Vecs,
    pub none: RegionMetrics,
    session_lookups: [[IntCounter; 3]; 3],
    pub retries: IntCounter,
    pub retries_denied: IntCounter,
    pub stale_replays: IntCounter,
    cache: [IntCounter; 4],
    pub cache_coalesced: IntCounter,
    pub cache_purged: IntCounterVec,
    pub cache_bytes: IntGauge,
    pub cache_entries: IntGauge,
    pub rate_limited: [IntCounter; 3],
    pub rate_limit_fallbacks: IntCounter,
    /// `[ok, failed]`.
    reloads: [IntCounter; 2],
    pub config_loaded_at: IntGauge,
    /// `[encoding]` (gzip, br, zstd): body bytes before and after.
    compressed_in: [IntCounter; 3],
    compressed_out: [IntCounter; 3],
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("each metric is registered once");
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(registry, IntCounter::new(name, help).expect("valid metric"))
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(registry, IntGauge::new(name, help).expect("valid metric"))
}

impl Vecs {
    fn new(registry: &Registry) -> Self {
        let duration = register(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "meridian_edge_request_duration_seconds",
                    "Time from request start to the end of the response",
                )
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5, 5.0,
                ]),
                &["region", "service"],
            )
            .expect("valid metric"),
        );
        Self {
            requests: counter_vec(
                registry,
                "meridian_edge_requests_total",
                "Requests answered by the edge",
                &["region", "service", "status_class"],
            ),
            duration,
            healthy: gauge_vec(
                registry,
                "meridian_edge_region_healthy",
                "1 when the region passes health checks",
                &["region"],
            ),
            checks: counter_vec(
                registry,
                "meridian_edge_health_checks_total",
                "Active health checks by outcome",
                &["region", "result"],
            ),
            breaker: gauge_vec(
                registry,
                "meridian_edge_region_breaker_open",
                "1 while the region's circuit breaker is open (passively ejected)",
                &["region"],
            ),
            ejections: counter_vec(
                registry,
                "meridian_edge_region_ejections_total",
                "Times the region's breaker opened after consecutive failures",
                &["region"],
            ),
            shed: counter_vec(
                registry,
                "meridian_edge_region_shed_total",
                "Requests answered 503 overloaded: the region had no slot free (max_in_flight_per_region)",
                &["region"],
            ),
            drained: gauge_vec(
                registry,
                "meridian_edge_region_drained",
                "1 while an operator drains the region",
                &["region"],
            ),
            rtt: register(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "meridian_edge_region_rtt_seconds",
                        "Smoothed round trip of the region's health checks",
                    ),
                    &["region"],
                )
                .expect("valid metric"),
            ),
        }
    }
}

impl EdgeMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let vecs = Vecs::new(&registry);
        let lookups = counter_vec(
            &registry,
            "meridian_edge_session_lookups_total",
            "Session validations",
            &["source", "result"],
        );
        let cache = counter_vec(
            &registry,
            "meridian_edge_cache_requests_total",
            "Requests by cache outcome",
            &["status"],
        );
        let limited = counter_vec(
            &registry,
            "meridian_edge_rate_limited_total",
            "Requests rejected with 429, by limited dimension",
            &["kind"],
        );
        let reloads = counter_vec(
            &registry,
            "meridian_edge_config_reloads_total",
            "Config and certificate reloads by outcome",
            &["result"],
        );
        let compressed_in = counter_vec(
            &registry,
            "meridian_edge_compression_input_bytes_total",
            "Response body bytes the edge compressed, before compression",
            &["encoding"],
        );
        let compressed_out = counter_vec(
            &registry,
            "meridian_edge_compression_output_bytes_total",
            "Response body bytes the edge sent compressed, after compression",
            &["encoding"],
        );
        let encodings = crate::coding::ENCODINGS.map(|e| e.as_str());
        let none = Self::region_of(&vecs, NO_REGION);
        Self {
            compressed_in: encodings.map(|e| compressed_in.with_label_values(&[e])),
            compressed_out: encodings.map(|e| compressed_out.with_label_values(&[e])),
            none,
            session_lookups: ["cache", "redis", "introspect"]
                .map(|s| ["valid", "invalid", "error"].map(|o| lookups.with_label_values(&[s, o]))),
            retries: counter(
                &registry,
                "meridian_edge_upstream_retries_total",
                "Requests retried on another region",
            ),
            retries_denied: counter(
                &registry,
                "meridian_edge_upstream_retries_denied_total",
                "Retries not made because the retry budget was spent",
            ),
            stale_replays: counter(
                &registry,
                "meridian_edge_upstream_stale_replays_total",
                "Requests replayed on a new connection after a pooled one the origin had closed",
            ),
            cache: ["HIT", "MISS", "STALE", "BYPASS"].map(|s| cache.with_label_values(&[s])),
            cache_coalesced: counter(
                &registry,
                "meridian_edge_cache_coalesced_total",
                "Misses that waited for another request's origin fetch instead of sending their own",
            ),
            cache_purged: counter_vec(
                &registry,
                "meridian_edge_cache_purges_total",
                "Purge operations by kind (key, prefix, tag, all, feed)",
                &["kind"],
            ),
            cache_bytes: gauge(
                &registry,
                "meridian_edge_cache_size_bytes",
                "Bytes held by the response cache",
            ),
            cache_entries: gauge(
                &registry,
                "meridian_edge_cache_entries",
                "Responses held by the cache",
            ),
            rate_limited: LIMIT_KINDS.map(|k| limited.with_label_values(&[k])),
            rate_limit_fallbacks: counter(
                &registry,
                "meridian_edge_rate_limit_fallbacks_total",
                "Shared-window checks that fell back to the local limit (Redis unreachable or slow)",
            ),
            reloads: ["ok", "failed"].map(|r| reloads.with_label_values(&[r])),
            config_loaded_at: gauge(
                &registry,
                "meridian_edge_config_loaded_timestamp_seconds",
                "Unix time of the configuration now serving",
            ),
            registry,
            vecs,
        }
    }

    fn region_of(vecs: &Vecs, region: &str) -> RegionMetrics {
        RegionMetrics {
            requests: std::array::from_fn(|s| {
                STATUS_CLASSES.map(|c| {
                    vecs.requests
                        .with_label_values(&[region, SERVICE_LABELS[s], c])
                })
            }),
            duration: std::array::from_fn(|s| {
                vecs.duration
                    .with_label_values(&[region, SERVICE_LABELS[s]])
            }),
            healthy: vecs.healthy.with_label_values(&[region]),
            health_checks: ["ok", "fail"].map(|o| vecs.checks.with_label_values(&[region, o])),
            breaker_open: vecs.breaker.with_label_values(&[region]),
            ejections: vecs.ejections.with_label_values(&[region]),
            shed: vecs.shed.with_label_values(&[region]),
            drained: vecs.drained.with_label_values(&[region]),
            rtt: vecs.rtt.with_label_values(&[region]),
        }
    }

    /// The series of one region (resolved when a region set is built).
    pub fn region(&self, id: &str) -> RegionMetrics {
        Self::region_of(&self.vecs, id)
    }

    pub fn record_lookup(&self, source: LookupSource, result: LookupResult) {
        self.session_lookups[source as usize][result as usize].inc();
    }

    /// One response body (or part of one) sent with `encoding`.
    pub fn record_compression(
        &self,
        encoding: crate::coding::Encoding,
        input: usize,
        output: usize,
    ) {
        self.compressed_in[encoding as usize].inc_by(input as u64);
        self.compressed_out[encoding as usize].inc_by(output as u64);
    }

    pub fn record_cache(&self, status: CacheStatus) {
        self.cache[status as usize].inc();
    }

    pub fn record_reload(&self, ok: bool) {
        self.reloads[usize::from(!ok)].inc();
    }

    /// Text exposition format.
    pub fn render(&self) -> Vec<u8> {
        use prometheus::Encoder;
        let mut out = Vec::with_capacity(16384);
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RegionMetrics {
    pub fn record_request(&self, service: usize, status: u16, seconds: f64) {
        let class = labels::status_class_index(status);
        let service = service.min(SERVICES - 1);
        self.requests[service][class].inc();
        self.duration[service].observe(seconds);
    }

    pub fn record_health_check(&self, ok: bool) {
        self.health_checks[usize::from(!ok)].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_wire::labels::{index as service_index, NONE_INDEX as NO_SERVICE};

    #[test]
    fn records_by_region_service_and_class() {
        let m = EdgeMetrics::new();
        let chicago = m.region("chicago");
        let dallas = m.region("dallas");
        dallas.record_request(service_index("catalog"), 200, 0.001);
        m.none.record_request(NO_SERVICE, 404, 0.0001);
        chicago.record_request(service_index("orders"), 503, 0.01);
        chicago.healthy.set(0);
        m.record_cache(CacheStatus::Hit);
        m.record_reload(false);
        let text = String::from_utf8(m.render()).unwrap();
        for line in [
            r#"meridian_edge_requests_total{region="dallas",service="catalog",status_class="2xx"} 1"#,
            r#"meridian_edge_requests_total{region="none",service="none",status_class="4xx"} 1"#,
            r#"meridian_edge_requests_total{region="chicago",service="orders",status_class="5xx"} 1"#,
            r#"meridian_edge_region_healthy{region="chicago"} 0"#,
            r#"meridian_edge_cache_requests_total{status="HIT"} 1"#,
            r#"meridian_edge_config_reloads_total{result="failed"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
