//! `[tracing]`: spans over OTLP, and whose `traceparent` the edge believes.

use ipnet::IpNet;
use meridian_telemetry::Export;
use serde::Deserialize;

/// Present: the edge starts (or continues) a trace for every request and
/// exports the sampled ones. Absent: no spans, and every client-sent
/// `traceparent`/`tracestate` is dropped before the origin.
///
/// The exporter's keys repeat `meridian_telemetry::Export`'s: serde cannot
/// flatten a table into another and still refuse unknown keys, and origins
/// must refuse `trusted_sources`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// OTLP/HTTP traces endpoint of a collector agent (`http://…/v1/traces`).
    pub endpoint: String,
    /// Share of the traces the edge starts that are recorded (0..=1); a
    /// continued trace keeps its parent's decision.
    #[serde(default = "meridian_telemetry::config::default_ratio")]
    pub sample_ratio: f64,
    /// `service.name` of the edge's spans (default `meridian-edge`).
    #[serde(default)]
    pub service_name: Option<String>,
    /// Peers whose `traceparent` is continued (a load balancer or service
    /// mesh that traces too). Anyone else's is replaced by a new trace, so a
    /// client can neither join another's trace nor force sampling.
    #[serde(default)]
    pub trusted_sources: Vec<IpNet>,
}

impl TracingConfig {
    /// The exporter's part: what a reload cannot change.
    pub fn export(&self) -> Export {
        Export {
            endpoint: self.endpoint.clone(),
            sample_ratio: self.sample_ratio,
            service_name: self.service_name.clone(),
        }
    }
}
