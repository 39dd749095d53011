//! Logging setup and the per-request span.

use axum::http::Request;
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::internal::REQUEST_ID_HEADER;

/// Structured logs to stderr. `RUST_LOG` filters (default `info`);
/// `MERIDIAN_LOG_FORMAT=json` switches to one JSON object per line.
pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var("MERIDIAN_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests start several origins in one process) is harmless.
    if result.is_ok() {
        tracing::debug!(service, "telemetry initialised");
    }
}

/// The span every request runs in; the request id ties it to the edge's log.
pub fn request_span<B>(region: &str, request: &Request<B>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        region,
        request_id,
        method = %request.method(),
        path = request.uri().path(),
    )
}
