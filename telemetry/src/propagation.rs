//! W3C Trace Context (`traceparent`, `tracestate`) in and out of the
//! carriers a trace crosses: HTTP headers, outbox events (the
//! `traceparent` text stored with the event) and Kafka message headers.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::Context;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The header a trace's parent travels in.
pub const TRACEPARENT: &str = "traceparent";
/// Vendor state that travels with it.
pub const TRACESTATE: &str = "tracestate";

/// The remote parent in `headers` (an empty context when there is none or
/// it is malformed).
pub fn extract(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// `cx`'s span as the parent of the request `headers` belong to.
pub fn inject(cx: &Context, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
}

/// The `traceparent` of a span, for an event or a message header; `None`
/// when the span is not recorded (an unsampled trace stays unsampled
/// downstream by carrying nothing).
pub fn traceparent(span: &SpanContext) -> Option<String> {
    if !span.is_valid() || !span.is_sampled() {
        return None;
    }
    let mut out = One::default();
    TraceContextPropagator::new().inject_context(
        &Context::new().with_remote_span_context(span.clone()),
        &mut out,
    );
    out.traceparent
}

/// The remote parent a stored `traceparent` names (empty when malformed).
pub fn from_traceparent(traceparent: &str) -> Context {
    TraceContextPropagator::new().extract(&One {
        traceparent: Some(traceparent.to_owned()),
    })
}

/// A carrier holding only `traceparent`.
#[derive(Default)]
struct One {
    traceparent: Option<String>,
}

impl Injector for One {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.traceparent = Some(value);
        }
    }
}

impl Extractor for One {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.traceparent.as_deref()?)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn headers_round_trip_and_bad_ones_start_nothing() {
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, PARENT.parse().unwrap());
        headers.insert(TRACESTATE, "vendor=x".parse().unwrap());
        let cx = extract(&headers);
        let span = cx.span().span_context().clone();
        assert!(span.is_valid() && span.is_remote() && span.is_sampled());
        assert_eq!(
            format!("{:032x}", span.trace_id()),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut out = http::HeaderMap::new();
        inject(&cx, &mut out);
        assert_eq!(out[TRACEPARENT], PARENT);
        assert_eq!(out[TRACESTATE], "vendor=x");

        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert(TRACEPARENT, bad.parse().unwrap());
            assert!(!extract(&headers).span().span_context().is_valid(), "{bad}");
        }
    }

    #[test]
    fn stored_parents_round_trip_only_when_sampled() {
        let cx = from_traceparent(PARENT);
        let span = cx.span().span_context().clone();
        assert_eq!(traceparent(&span).as_deref(), Some(PARENT));
        let unsampled = SpanContext::new(
            TraceId::from(1),
            SpanId::from(2),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        assert_eq!(traceparent(&unsampled), None);
        assert!(!from_traceparent("nonsense")
            .span()
            .span_context()
            .is_valid());
    }
}
