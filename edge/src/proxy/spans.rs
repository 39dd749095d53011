//! The request's trace at the edge (`[tracing]` on): a server span for the
//! whole request, and under it the phases that take time — the session
//! check, the cache lookup, each try at an origin (a client span whose
//! `traceparent` the origin continues).
//!
//! All of it lives behind `Ctx::trace`: with tracing off the request pays
//! one `None` check per phase. Attributes are bounded (method, route
//! pattern, service, region, status, cache outcome) and never carry the
//! path, query or identity.

use std::time::SystemTime;

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, TraceId, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, Span};
use pingora::http::RequestHeader;

use meridian_telemetry::propagation::{self, TRACEPARENT, TRACESTATE};

pub struct RequestTrace {
    tracer: SdkTracer,
    /// The server span, the parent of every phase.
    cx: Context,
    /// The current try at an origin.
    upstream: Option<Span>,
}

/// What the server span says about the request once it is answered.
pub(super) struct Outcome<'a> {
    pub status: u16,
    pub service: &'static str,
    pub region: Option<&'a str>,
    pub cache: Option<&'static str>,
    pub retried: bool,
}

impl RequestTrace {
    /// Opens the server span: continuing the request's `traceparent` when it
    /// came from a trusted peer, a new trace otherwise.
    pub(super) fn start(
        tracer: &SdkTracer,
        req: &RequestHeader,
        trusted: bool,
        start: SystemTime,
    ) -> Self {
        let parent = if trusted {
            propagation::extract(&req.headers)
        } else {
            Context::new()
        };
        let span = tracer
            .span_builder(req.method.as_str().to_owned())
            .with_kind(SpanKind::Server)
            .with_start_time(start)
            .with_attributes([KeyValue::new(
                "http.request.method",
                req.method.as_str().to_owned(),
            )])
            .start_with_context(tracer, &parent);
        Self {
            tracer: tracer.clone(),
            cx: parent.with_span(span),
            upstream: None,
        }
    }

    pub(super) fn trace_id(&self) -> TraceId {
        self.cx.span().span_context().trace_id()
    }

    /// The route that took the request names the span (`GET /api/cart`).
    pub(super) fn route(&self, method: &http::Method, pattern: &str) {
        let span = self.cx.span();
        span.update_name(format!("{method} {pattern}"));
        span.set_attribute(KeyValue::new("http.route", pattern.to_owned()));
    }

    /// A phase of the request; it ends when dropped.
    pub(super) fn phase(&self, name: &'static str) -> Span {
        self.tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .start_with_context(&self.tracer, &self.cx)
    }

    /// A try at `region`'s origin begins (a retry ends the failed one).
    pub(super) fn upstream(&mut self, region: &str) {
        let span = self
            .tracer
            .span_builder("upstream")
            .with_kind(SpanKind::Client)
            .with_attributes([KeyValue::new("meridian.region", region.to_owned())])
            .start_with_context(&self.tracer, &self.cx);
        self.upstream = Some(span);
    }

    /// The try failed before an answer (refused, reset, timed out).
    pub(super) fn upstream_failed(&mut self, error: &pingora::Error) {
        if let Some(mut span) = self.upstream.take() {
            span.set_status(Status::error(error.etype().as_str()));
            span.end();
        }
    }

    /// The origin's answer is in (its headers; `end` once the body is).
    pub(super) fn upstream_answered(&mut self, status: u16, end: bool) {
        if let Some(span) = self.upstream.as_mut() {
            if status > 0 {
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 500 {
                    span.set_status(Status::error(""));
                }
            }
            if end {
                span.end();
                self.upstream = None;
            }
        }
    }

    /// `traceparent`/`tracestate` naming the current try as the origin's
    /// parent (nothing before a try began).
    pub(super) fn inject(&self, upstream: &mut RequestHeader) -> pingora::Result<()> {
        let Some(span) = &self.upstream else {
            return Ok(());
        };
        let mut headers = http::HeaderMap::new();
        propagation::inject(
            &Context::new().with_remote_span_context(span.span_context().clone()),
            &mut headers,
        );
        for name in [TRACEPARENT, TRACESTATE] {
            match headers.remove(name) {
                Some(value) if !value.is_empty() => upstream.insert_header(name, value)?,
                _ => {
                    upstream.remove_header(name);
                }
            }
        }
        Ok(())
    }

    /// Ends the request's spans with what became of it.
    pub(super) fn finish(mut self, outcome: Outcome<'_>) {
        self.upstream_answered(0, true);
        let span = self.cx.span();
        let mut attributes = vec![
            KeyValue::new("meridian.service", outcome.service),
            KeyValue::new("meridian.retried", outcome.retried),
        ];
        if outcome.status > 0 {
            attributes.push(KeyValue::new(
                "http.response.status_code",
                i64::from(outcome.status),
            ));
        }
        if let Some(region) = outcome.region {
            attributes.push(KeyValue::new("meridian.region", region.to_owned()));
        }
        if let Some(cache) = outcome.cache {
            attributes.push(KeyValue::new("meridian.cache", cache));
        }
        span.set_attributes(attributes);
        if outcome.status >= 500 || outcome.status == 0 {
            span.set_status(Status::error(""));
        }
        span.end();
    }
}
