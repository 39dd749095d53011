//! Logs, and the spans requests and calls between services run in.
//!
//! Logs always; spans are exported only when `[tracing]` is configured
//! (`init` then installs the OpenTelemetry layer). Without it the request
//! span keeps its plain log fields and nothing is propagated.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use meridian_telemetry::{propagation, Export, Pipeline};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::KeyValue;
use tracing::field::Empty;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::internal::{InternalSecret, INTERNAL_HEADER, REQUEST_ID_HEADER};

/// Set once an OpenTelemetry layer is installed: spans get their trace
/// fields and calls carry `traceparent` only then.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported (tracing configured).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Structured logs to stderr, and spans to `tracing`'s OTLP endpoint when
/// given. `RUST_LOG` filters (default `info`); `MERIDIAN_LOG_FORMAT=json`
/// switches to one JSON object per line. The pipeline returned must be
/// kept, and shut down at exit to send the last spans.
pub fn init(
    service: &str,
    tracing: Option<&Export>,
    region: &str,
) -> Result<Option<Pipeline>, String> {
    let pipeline = tracing
        .map(|export| {
            Pipeline::start(
                export,
                &format!("meridian-{service}"),
                vec![KeyValue::new("meridian.region", region.to_owned())],
            )
        })
        .transpose()?;
    // Spans are info-level; `RUST_LOG` quietening the logs must not
    // silence the traces, so each layer has its own filter.
    let otel = pipeline.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("meridian"))
            .with_threads(false)
            .with_filter(LevelFilter::INFO)
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if std::env::var("MERIDIAN_LOG_FORMAT").as_deref() == Ok("json") {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let result = tracing_subscriber::registry()
        .with(otel)
        .with(fmt)
        .try_init();
    // A second init (tests start several origins in one process) keeps
    // the first subscriber, and so its pipeline.
    match result {
        Ok(()) => {
            EXPORTING.store(pipeline.is_some(), Ordering::Relaxed);
            tracing::debug!(
                service,
                exporting = pipeline.is_some(),
                "telemetry initialised"
            );
            Ok(pipeline)
        }
        Err(_) => Ok(None),
    }
}

/// Marks a request an `InternalClient` sends into this process's router:
/// it never passed the network layer that opens request spans.
#[derive(Debug, Clone, Copy)]
pub struct InProcessCall;

/// The span every request runs in. Logs: region, request id, method, path.
/// Exported (tracing on): a server span named by the route template,
/// continuing the caller's trace when the request carries the edge's
/// credential (nobody else's `traceparent` is believed), with bounded
/// attributes only — the path and request id stay out of it.
pub fn request_span<B>(region: &str, secret: &InternalSecret, request: &Request<B>) -> Span {
    if !exporting() {
        let request_id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        return tracing::info_span!(
            "request",
            region,
            request_id,
            method = %request.method(),
            path = request.uri().path(),
        );
    }
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let service = meridian_wire::labels::of_path(request.uri().path());
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {}", route.unwrap_or(service)),
        otel.kind = "server",
        otel.status_code = Empty,
        region,
        meridian.service = service,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
        trace_id = Empty,
    );
    let trusted = request
        .headers()
        .get(INTERNAL_HEADER)
        .is_some_and(|v| secret.matches(v.as_bytes()));
    if trusted {
        let _ = span.set_parent(propagation::extract(request.headers()));
    }
    record_trace_id(&span);
    span
}

/// Puts the span's trace id in its log fields (every log line inside it).
fn record_trace_id(span: &Span) {
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// The answer's status on its request span (5xx marks the span failed).
pub fn record_status(span: &Span, status: StatusCode) {
    if exporting() {
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// Middleware of the services' router: a request made in process gets the
/// server span a network request gets from the origin's trace layer, so a
/// call between services shows as client span → server span either way.
pub async fn in_process_span(
    axum::extract::State((region, secret)): axum::extract::State<(
        std::sync::Arc<str>,
        InternalSecret,
    )>,
    request: Request,
    next: Next,
) -> Response {
    if !exporting() || request.extensions().get::<InProcessCall>().is_none() {
        return next.run(request).await;
    }
    let span = request_span(&region, &secret, &request);
    let response = next.run(request).instrument(span.clone()).await;
    record_status(&span, response.status());
    response
}

/// A call to another service: a client span (`<service> <METHOD>`) and the
/// `traceparent` that makes the callee's span its child. `None` when not
/// exporting (nothing to propagate).
pub fn call_span(service: &'static str, method: &axum::http::Method) -> Option<Span> {
    if !exporting() {
        return None;
    }
    Some(tracing::info_span!(
        "call",
        otel.name = %format_args!("{service} {method}"),
        otel.kind = "client",
        otel.status_code = Empty,
        peer.service = service,
        http.request.method = method.as_str(),
        http.response.status_code = Empty,
    ))
}

/// `traceparent`/`tracestate` naming `span` as the parent, into `headers`.
pub fn inject(span: &Span, headers: &mut axum::http::HeaderMap) {
    propagation::inject(&span.context(), headers);
}

/// The current span's `traceparent`, to store with an event it causes
/// (`None` when not exporting or not sampled).
pub fn current_traceparent() -> Option<String> {
    if !exporting() {
        return None;
    }
    traceparent_of(&Span::current())
}

/// A span that continues the trace a stored `traceparent` names: the relay
/// publishing an event (`producer`), a loader consuming it (`consumer`).
/// `None` when not exporting or the event carries no trace.
pub fn message_span(kind: MessageSpan, traceparent: Option<&str>, topic: &str) -> Option<Span> {
    if !exporting() {
        return None;
    }
    let parent = propagation::from_traceparent(traceparent?);
    let (otel_kind, operation) = match kind {
        MessageSpan::Publish => ("producer", "publish"),
        MessageSpan::Consume => ("consumer", "process"),
    };
    let span = tracing::info_span!(
        "message",
        otel.name = %format_args!("{operation} {topic}"),
        otel.kind = otel_kind,
        otel.status_code = Empty,
        messaging.system = "kafka",
        messaging.operation.type = operation,
        messaging.destination.name = topic,
    );
    let _ = span.set_parent(parent);
    Some(span)
}

/// Which side of a message a `message_span` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageSpan {
    Publish,
    Consume,
}

/// `span`'s own `traceparent` (a message header naming the publish span
/// as the consumer's parent).
pub fn traceparent_of(span: &Span) -> Option<String> {
    propagation::traceparent(span.context().span().span_context())
}
