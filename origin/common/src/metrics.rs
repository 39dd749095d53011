//! Prometheus metrics of one origin process.
//!
//! Each origin owns its registry (tests run six origins in one process, and
//! their numbers must not mix). Labels come from small fixed sets: the service
//! name from a known list and the status class, never raw paths or user ids.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Services an origin can host (the wire contract's list, shared with the
/// edge); anything else is counted as `other`.
pub use meridian_wire::labels::SERVICES;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl Metrics {
    pub fn new(region: &str) -> Self {
        let registry = Registry::new_custom(
            None,
            Some(std::iter::once(("region".to_owned(), region.to_owned())).collect()),
        )
        .expect("static registry labels are valid");
        let requests = IntCounterVec::new(
            Opts::new(
                "meridian_http_requests_total",
                "HTTP requests served by the origin",
            ),
            &["service", "status_class"],
        )
        .expect("static metric definition is valid");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "meridian_http_request_duration_seconds",
                "Time to produce a response, by service",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["service"],
        )
        .expect("static metric definition is valid");
        registry
            .register(Box::new(requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(duration.clone()))
            .expect("registered once");
        Self {
            registry,
            requests,
            duration,
        }
    }

    /// The registry, so services can add their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn observe(&self, path: &str, status: u16, seconds: f64) {
        let service = service_of(path);
        self.requests
            .with_label_values(&[service, status_class(status)])
            .inc();
        self.duration.with_label_values(&[service]).observe(seconds);
    }

    /// Prometheus text exposition of everything registered.
    pub fn render(&self) -> Response {
        let mut buffer = Vec::with_capacity(4096);
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buffer) {
            return crate::ApiError::internal(e).into_response();
        }
        ([(CONTENT_TYPE, encoder.format_type().to_owned())], buffer).into_response()
    }
}

/// Middleware recording count and latency of every request.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    // The path is needed after the request is consumed; the service name is a
    // `&'static str`, so resolve it first and keep no allocation around.
    let service = service_of(request.uri().path());
    let response = next.run(request).await;
    metrics
        .requests
        .with_label_values(&[service, status_class(response.status().as_u16())])
        .inc();
    metrics
        .duration
        .with_label_values(&[service])
        .observe(start.elapsed().as_secs_f64());
    response
}

/// `/api/<service>/…` → `<service>` if known, else a fixed bucket; every
/// other path is one of the storefront's pages.
pub use meridian_wire::labels::{of_path as service_of, status_class};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_label_comes_from_a_fixed_set() {
        assert_eq!(service_of("/api/auth/login"), "auth");
        assert_eq!(service_of("/api/catalog"), "catalog");
        assert_eq!(service_of("/internal/auth/introspect"), "auth");
        assert_eq!(service_of("/api/unknown/x"), "other");
        assert_eq!(service_of("/p/123"), "storefront");
        assert_eq!(service_of("/api/analytics/seller/summary"), "analytics");
    }

    #[test]
    fn renders_observed_requests() {
        let m = Metrics::new("chicago");
        m.observe("/api/auth/me", 200, 0.01);
        m.observe("/api/auth/me", 401, 0.01);
        let mut buffer = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&m.registry().gather(), &mut buffer)
            .unwrap();
        let text = String::from_utf8(buffer).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("meridian_http_requests_total{") && l.contains("4xx"))
            .unwrap_or_else(|| panic!("no 4xx counter in {text}"));
        assert!(line.contains(r#"region="chicago""#), "{line}");
        assert!(line.contains(r#"service="auth""#), "{line}");
        assert!(line.ends_with(" 1"), "{line}");
    }
}
