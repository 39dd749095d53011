//! Which spans are recorded: parent-based ratio sampling, where only an
//! entry point may start a trace.
//!
//! An origin's background work (relays polling outboxes every 100 ms,
//! checkout sweepers, health rounds) calls the same instrumented stores as
//! requests do; without a parent those calls would each start a trace of
//! their own and bury the requests' traces. So a span without a parent is
//! a root only when it is where work enters the system — a server span (a
//! request) or a consumer span (a message) — and is dropped otherwise.

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

#[derive(Debug, Clone)]
pub(crate) struct EntrySampler {
    inner: Sampler,
}

impl EntrySampler {
    pub(crate) fn new(ratio: f64) -> Self {
        Self {
            inner: Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))),
        }
    }
}

impl ShouldSample for EntrySampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let has_parent = parent_context.is_some_and(|cx| cx.span().span_context().is_valid());
        if !has_parent && !matches!(span_kind, SpanKind::Server | SpanKind::Consumer) {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        self.inner
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags};

    use super::*;

    fn decide(
        sampler: &EntrySampler,
        parent: Option<&Context>,
        kind: SpanKind,
    ) -> SamplingDecision {
        sampler
            .should_sample(parent, TraceId::from(7), "span", &kind, &[], &[])
            .decision
    }

    fn remote_parent(sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            flags,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn only_entry_points_start_traces_and_children_follow_their_parent() {
        let all = EntrySampler::new(1.0);
        let none = EntrySampler::new(0.0);
        let root = Context::new();
        use SamplingDecision::{Drop, RecordAndSample as Keep};
        let table = [
            // (sampler, parent, kind, decision)
            (&all, None, SpanKind::Server, Keep),
            (&all, Some(&root), SpanKind::Consumer, Keep),
            (&all, None, SpanKind::Client, Drop),
            (&all, Some(&root), SpanKind::Internal, Drop),
            (&all, None, SpanKind::Producer, Drop),
            (&none, None, SpanKind::Server, Drop),
        ];
        for (i, (sampler, parent, kind, want)) in table.into_iter().enumerate() {
            assert_eq!(decide(sampler, parent, kind), want, "row {i}");
        }
        // With a parent, its decision stands whatever the ratio or kind.
        let (yes, no) = (remote_parent(true), remote_parent(false));
        for kind in [SpanKind::Server, SpanKind::Client, SpanKind::Internal] {
            assert_eq!(decide(&none, Some(&yes), kind.clone()), Keep);
            assert_eq!(decide(&all, Some(&no), kind), Drop);
        }
    }
}
