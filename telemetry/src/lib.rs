//! Distributed tracing shared by the edge and the origins.
//!
//! - `config`: the `[tracing]` settings both sides read (OTLP endpoint,
//!   sampling ratio), validated at load.
//! - `pipeline`: the OTLP/HTTP exporter on its own small runtime, the
//!   sampler, the tracer provider.
//! - `propagation`: W3C Trace Context in and out of HTTP headers, outbox
//!   events and Kafka messages.
//!
//! Tracing is off unless configured: nothing here runs, and the callers
//! keep no per-request state, when no pipeline was started.

pub mod config;
pub mod pipeline;
pub mod propagation;
mod sampler;

pub use config::Export;
pub use pipeline::Pipeline;
