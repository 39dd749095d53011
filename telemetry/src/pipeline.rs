//! The export pipeline: spans batched and sent over OTLP/HTTP.
//!
//! The exporter's HTTP client (hyper) needs a tokio runtime, and neither
//! side has one it could lend for the process's lifetime (Pingora gives
//! each service its own; an origin's tests start and drop several), so the
//! pipeline owns a one-thread runtime that does nothing but batch and send.
//! Spans reach it through a bounded queue: a slow or absent collector
//! costs dropped spans, never a blocked request.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::config::Export;
use crate::sampler::EntrySampler;

/// How long one export may take before it is abandoned.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Pipeline {
    provider: SdkTracerProvider,
    /// Dropped last; its worker runs the batch processor.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Pipeline {
    /// Starts exporting to `export.endpoint`. `service` names the process
    /// (`service.name`, unless the config names it); `attributes` are added
    /// to every span's resource (region, instance).
    pub fn start(
        export: &Export,
        service: &str,
        attributes: Vec<KeyValue>,
    ) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(|e| format!("tracing: export runtime: {e}"))?;
        // The batch processor spawns its worker on the runtime it is built in.
        let _inside = runtime.enter();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(&export.endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("tracing: OTLP exporter for {}: {e}", export.endpoint))?;
        let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio).build();
        let name = export
            .service_name
            .clone()
            .unwrap_or_else(|| service.to_owned());
        let resource = Resource::builder()
            .with_service_name(name)
            .with_attributes(attributes)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(EntrySampler::new(export.sample_ratio))
            .with_resource(resource)
            .build();
        drop(_inside);
        Ok(Self {
            provider,
            runtime: Some(runtime),
        })
    }

    /// A tracer whose spans carry `scope` as their instrumentation scope.
    pub fn tracer(&self, scope: &'static str) -> SdkTracer {
        self.provider.tracer(scope)
    }

    /// Sends what is batched and stops exporting (at shutdown: spans of the
    /// last seconds would otherwise be lost).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("tracing: flushing spans at shutdown: {e}");
        }
    }

    /// Sends what is batched now (tests, and before a planned exit).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            eprintln!("tracing: flushing spans: {e}");
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Dropping a runtime blocks; a pipeline dropped inside an async
        // context (a test's) must not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
