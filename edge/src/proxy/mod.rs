//! The Pingora `ProxyHttp` implementation: a table of contents of the
//! request's life, each phase delegating to one module.
//!
//! 1. `request_filter`: request id, geo ranking, then admission (protocol,
//!    path hygiene, route, body limit, credentials, rate limits: see
//!    `admission`), then the cache lookup (HIT / STALE answered here, misses
//!    coalesced) — answered here or passed on.
//! 2. `upstream_peer`: nearest available region (healthy, not drained,
//!    breaker closed or trial), with the route's timeout, and one of its
//!    slots (`503 overloaded` when none comes free in time).
//! 3. `fail_to_connect`, and `error_while_proxy` before any answer: counts
//!    against the region's breaker; idempotent requests retry once on the
//!    next region if the retry budget allows (see `stale` for which).
//! 4. `upstream_request_filter`: strip client-sent identity, add ours.
//! 5. `response_filter`: breaker bookkeeping, region and request id, cache
//!    store decision (or a stale answer when the origin failed).
//! 6. `upstream_response_body_filter`: the region's slot is given back once
//!    the origin's answer is in; `response_body_filter`: collect a
//!    cacheable body, store it at the end.
//! 7. `logging`: metrics and the access log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::FailToProxy;

use crate::cache::{self, policy, OwnedFill};
use crate::geo::{self, GeoSource, Ranking};
use crate::metrics::{CacheStatus, EdgeMetrics};
use crate::request::session::{KeyInfo, Token};
use crate::state::EdgeState;

mod admission;
mod caching;
mod compressing;
mod ids;
mod respond;
mod spans;
mod stale;

use ids::{ip_header, RequestIds};

use meridian_wire::headers::{
    self, CACHE as CACHE_HEADER, INTERNAL as INTERNAL_HEADER, REGION as REGION_HEADER,
    REQUEST_ID as REQUEST_ID_HEADER, USER as USER_HEADER,
};
use meridian_wire::labels::{LABELS as SERVICE_LABELS, NONE_INDEX as NO_SERVICE};

pub struct Edge {
    pub state: Arc<ArcSwap<EdgeState>>,
    pub metrics: Arc<EdgeMetrics>,
    ids: RequestIds,
    /// `[tracing]` on: every request gets a trace.
    tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
}

impl Edge {
    pub fn new(
        state: Arc<ArcSwap<EdgeState>>,
        metrics: Arc<EdgeMetrics>,
        tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
    ) -> Self {
        Self {
            state,
            metrics,
            ids: RequestIds::new(),
            tracer,
        }
    }
}

pub struct Ctx {
    start: Instant,
    /// Config snapshot for the whole request, so a reload mid-request never
    /// mixes two configurations.
    state: Option<Arc<EdgeState>>,
    request_id: Option<HeaderValue>,
    ranking: Option<Ranking>,
    geo: GeoSource,
    region: Option<usize>,
    tried: u32,
    retried: bool,
    /// Replayed once after a stale pooled connection (see `stale`).
    replayed_stale: bool,
    user: Option<HeaderValue>,
    seller: Option<KeyInfo>,
    /// Index into `SERVICE_LABELS`.
    service: usize,
    timeout: Option<Duration>,
    max_body_bytes: u64,
    body_bytes: u64,
    logout: Option<Token>,
    revoked_key: Option<String>,
    /// The route's own errors are HTML pages.
    html_errors: bool,
    /// A shared cache rule covers the request: the origin must not see the
    /// client's credentials.
    strip_credentials: bool,
    cache_status: Option<CacheStatus>,
    cache: Option<Box<CacheCtx>>,
    /// The region whose failure was already counted (a failed connect, or
    /// a failure before any answer that sent the request elsewhere).
    failure_counted: Option<usize>,
    /// The route compresses bodies of at least this many bytes.
    compress_min: Option<u64>,
    /// The proxied body's encoder, when it is being compressed.
    encoder: Option<Box<compressing::Streaming>>,
    /// Send `Strict-Transport-Security` (configured, and not a dev name).
    hsts: bool,
    /// The region's slot this request holds while it is proxied.
    slot: Option<crate::upstream::Slot>,
    /// What the request is when slots run short (set by admission).
    class: crate::upstream::Class,
    /// The region had no slot free: answered 503 overloaded.
    shed: bool,
    /// The client may send `traceparent` (a `[tracing] trusted_sources`
    /// peer); anyone else's is dropped.
    trace_trusted: bool,
    /// The request's spans (`[tracing]` on).
    trace: Option<Box<spans::RequestTrace>>,
}

/// A cache-eligible request on its way to the origin.
pub struct CacheCtx {
    key: String,
    /// Index into the snapshot's `cache_rules`.
    rule: usize,
    /// Held by the first miss: followers wait until it drops.
    fill: Option<OwnedFill>,
    /// An expired entry still good for `stale-if-error`.
    stale: Option<Arc<cache::Entry>>,
    /// The response being collected for storage.
    pending: Option<(ResponseHeader, BytesMut, policy::Freshness)>,
    /// A stale body sent instead of a failed origin's.
    replace_body: Option<Bytes>,
}

fn client_ip(session: &Session) -> Option<std::net::IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// A gateway error from the origin counts against its region's breaker.
fn is_gateway_failure(status: u16) -> bool {
    matches!(status, 502..=504)
}

impl Edge {
    fn state<'a>(&self, ctx: &'a Ctx) -> &'a EdgeState {
        ctx.state
            .as_deref()
            .expect("state is set first thing in request_filter")
    }

    /// Region, request id and HSTS on every response, edge-made or proxied.
    fn stamp(&self, resp: &mut ResponseHeader, ctx: &Ctx) -> Result<()> {
        if let (Some(state), Some(i)) = (ctx.state.as_deref(), ctx.region) {
            resp.insert_header(REGION_HEADER, state.upstreams.region(i).header.clone())?;
        }
        if let Some(id) = &ctx.request_id {
            resp.insert_header(REQUEST_ID_HEADER, id.clone())?;
        }
        Self::strict_transport(resp, ctx)
    }

    /// `Strict-Transport-Security`, when configured (every response of this
    /// listener went over TLS).
    fn strict_transport(resp: &mut ResponseHeader, ctx: &Ctx) -> Result<()> {
        let configured = ctx.state.as_deref().and_then(|s| s.hsts.as_ref());
        if let (Some(hsts), true) = (configured, ctx.hsts) {
            resp.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
        }
        Ok(())
    }

    /// The nearest routable untried region. `take_trial` is set only when
    /// the request will really go there (it may claim a breaker's trial).
    fn pick_region(&self, ctx: &Ctx, take_trial: bool) -> Option<usize> {
        let state = ctx.state.as_deref()?;
        let ranking = ctx.ranking.as_ref()?;
        let upstreams = &state.upstreams;
        geo::pick(
            ranking,
            |i| upstreams.is_available(i, take_trial),
            ctx.tried,
        )
    }

    /// Counts a failure against the region the request went to, once.
    fn count_failure(&self, ctx: &mut Ctx) {
        ctx.failure_counted = ctx.region;
        if let Some(i) = ctx.region {
            self.state(ctx).upstreams.record_failure(i);
        }
    }

    /// Whether a request that failed before reaching an origin's answer goes
    /// to the next region: only idempotent ones, only once, only within the
    /// retry budget (so failing regions cannot multiply the load).
    fn retry_elsewhere(&self, session: &Session, ctx: &mut Ctx) -> bool {
        if ctx.retried || !session.req_header().method.is_idempotent() {
            return false;
        }
        if !self.state(ctx).retry_budget.try_retry() {
            self.metrics.retries_denied.inc();
            return false;
        }
        ctx.retried = true;
        self.metrics.retries.inc();
        true
    }
}

#[async_trait]
impl ProxyHttp for Edge {
    type CTX = Ctx;

    /// No downstream modules: Pingora's default adds a (disabled) response
    /// compression module, which still costs an allocation and three
    /// filter calls per request for nothing.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    /// Pingora could not read the request header (malformed, too large,
    /// too slow): our JSON error, not Pingora's empty 400 with its banner.
    fn invalid_request_response(&self, e: &Error) -> Option<(ResponseHeader, Bytes)> {
        let (status, code, message) = respond::invalid_request(e)?;
        Some(respond::standalone_error(status, code, message))
    }

    fn new_ctx(&self) -> Ctx {
        Ctx {
            start: Instant::now(),
            state: None,
            request_id: None,
            ranking: None,
            geo: GeoSource::EdgeDefault,
            region: None,
            tried: 0,
            retried: false,
            replayed_stale: false,
            user: None,
            seller: None,
            service: NO_SERVICE,
            timeout: None,
            max_body_bytes: 0,
            body_bytes: 0,
            logout: None,
            revoked_key: None,
            html_errors: false,
            strip_credentials: false,
            cache_status: None,
            cache: None,
            failure_counted: None,
            compress_min: None,
            encoder: None,
            hsts: false,
            slot: None,
            class: crate::upstream::Class::AnonymousRead,
            shed: false,
            trace_trusted: false,
            trace: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let state = self.state.load_full();
        ctx.request_id = Some(self.ids.next());
        let (ranking, source) =
            state
                .geo
                .ranking_for(client_ip(session), admission::client_geo(session), || {
                    state.upstreams.latency_ranking()
                });
        ctx.ranking = Some(ranking);
        ctx.geo = source;
        ctx.trace_trusted = !state.trace_sources.is_empty()
            && client_ip(session)
                .is_some_and(|ip| state.trace_sources.iter().any(|n| n.contains(&ip)));
        if let Some(tracer) = &self.tracer {
            ctx.trace = Some(Box::new(spans::RequestTrace::start(
                tracer,
                session.req_header(),
                ctx.trace_trusted,
                std::time::SystemTime::now() - ctx.start.elapsed(),
            )));
        }
        ctx.state = Some(state.clone());
        // Chosen now for the credential check's introspection and for the
        // region header of an edge-made answer; upstream_peer chooses again.
        ctx.region = self.pick_region(ctx, false);

        // Each wait for more of a body is bounded (the header's own
        // deadline is Pingora's, set at the listener).
        session.set_read_timeout(Some(state.protocol.body_read_timeout));
        let admitted = match self.admit(session, ctx, &state).await {
            Ok(admitted) => admitted,
            Err(refusal) => {
                self.respond(session, ctx, refusal).await?;
                return Ok(true);
            }
        };
        if let Some(rule) = admitted.cache_rule {
            let method = &session.req_header().method;
            if policy::cacheable_request(method, admitted.has_credential) {
                let phase = ctx.trace.as_ref().map(|t| t.phase("cache lookup"));
                let answered = self.cache_lookup(session, ctx, &state, rule).await;
                drop(phase);
                return answered;
            }
            if method == Method::GET || method == Method::HEAD {
                ctx.cache_status = Some(CacheStatus::Bypass);
            }
        }
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        if ctx.tried == 0 {
            self.state(ctx).retry_budget.record_request();
        }
        let Some(i) = self.pick_region(ctx, true) else {
            return Error::e_explain(ErrorType::HTTPStatus(503), "no region left to try");
        };
        ctx.region = Some(i);
        ctx.tried |= 1 << i;
        if let (Some(trace), Some(state)) = (ctx.trace.as_mut(), ctx.state.as_deref()) {
            trace.upstream(&state.upstreams.region(i).id);
        }
        // A retry elsewhere gives back the slot of the region it leaves.
        ctx.slot = None;
        match self.state(ctx).upstreams.take_slot(i, ctx.class).await {
            Ok(slot) => ctx.slot = slot,
            Err(crate::upstream::Full) => {
                ctx.shed = true;
                return Error::e_explain(ErrorType::HTTPStatus(503), "the region has no slot free");
            }
        }
        match self.state(ctx).upstreams.peer(i, ctx.timeout) {
            Some(peer) => Ok(peer),
            // Only when every region is down is an unresolved one picked.
            None => Error::e_explain(
                ErrorType::ConnectNoRoute,
                "the origin's name has not resolved",
            ),
        }
    }

    /// A shed request is the edge working as configured, counted by
    /// `meridian_edge_region_shed_total`: an error line for each would be
    /// tens of thousands a minute exactly when the cores are short.
    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, _error: &Error) -> bool {
        ctx.shed
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if let Some(trace) = ctx.trace.as_mut() {
            trace.upstream_failed(&e);
        }
        let failure = stale::Failure {
            reused: client_reused,
            write_error: e.etype == ErrorType::WriteError,
            retry: e.retry,
            idempotent: session.req_header().method.is_idempotent(),
            body_bytes: ctx.body_bytes,
            truncated: session.as_ref().retry_buffer_truncated(),
            replayed: ctx.replayed_stale,
            answered: session.response_written().is_some(),
            timed_out: matches!(e.etype, ErrorType::ReadTimedout | ErrorType::WriteTimedout),
        };
        match stale::decide(failure) {
            stale::Decision::Stale => {
                // The same region again, on a new connection: the pool
                // dropped the dead one.
                ctx.replayed_stale = true;
                if let Some(i) = ctx.region {
                    ctx.tried &= !(1 << i);
                }
                self.metrics.stale_replays.inc();
                e.set_retry(true);
            }
            stale::Decision::NextRegion => {
                // A fresh connection failed before any answer (the origin
                // died, or a relay or balancer in front of it could not
                // reach it): the region's failure, as a refused connect is.
                self.count_failure(ctx);
                let retry = self.retry_elsewhere(session, ctx);
                e.set_retry(retry);
            }
            stale::Decision::Default(retry) => e.set_retry(retry),
        }
        e
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(trace) = ctx.trace.as_mut() {
            trace.upstream_failed(&e);
        }
        self.count_failure(ctx);
        let retry = self.retry_elsewhere(session, ctx);
        e.set_retry(retry);
        e
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if ctx.body_bytes > ctx.max_body_bytes {
                return Error::e_explain(
                    ErrorType::HTTPStatus(413),
                    "request body exceeds the edge's limit",
                );
            }
        }
        // A body trickled in to hold the connection: past the grace
        // period, the average rate must stay above the minimum.
        let p = &self.state(ctx).protocol;
        let elapsed = ctx.start.elapsed();
        if !end_of_stream
            && p.body_min_rate > 0
            && elapsed > p.body_grace
            && (ctx.body_bytes as f64) < p.body_min_rate as f64 * elapsed.as_secs_f64()
        {
            return Error::e_explain(
                ErrorType::HTTPStatus(408),
                "request body slower than the edge's minimum rate",
            );
        }
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Identity and internal headers are ours alone: drop whatever the
        // client sent under those names before adding the real ones (and
        // trace context, unless a trusted peer sent it). Most requests
        // carry none, so look before collecting.
        let trusted = ctx.trace_trusted;
        let spoofable = |k: &http::HeaderName| {
            headers::is_edge_owned(k.as_str())
                || (!trusted && headers::is_trace_context(k.as_str()))
        };
        if upstream.headers.keys().any(spoofable) {
            let names: Vec<http::HeaderName> = upstream
                .headers
                .keys()
                .filter(|k| spoofable(k))
                .cloned()
                .collect();
            for name in names {
                upstream.remove_header(&name);
            }
        }
        // The edge compresses (and caches identity bodies, one per URL):
        // origins always answer uncompressed.
        if ctx.compress_min.is_some() {
            upstream.remove_header(&http::header::ACCEPT_ENCODING);
        }
        if ctx.strip_credentials {
            upstream.remove_header(&http::header::COOKIE);
            upstream.remove_header(&http::header::AUTHORIZATION);
        }
        let state = self.state(ctx);
        upstream.insert_header(INTERNAL_HEADER, state.internal_secret.clone())?;
        if let Some(user) = &ctx.user {
            upstream.insert_header(USER_HEADER, user.clone())?;
        }
        if let Some(key) = &ctx.seller {
            upstream.insert_header(headers::SELLER, key.seller.clone())?;
            upstream.insert_header(headers::SCOPES, key.scopes.clone())?;
        }
        if let Some(id) = &ctx.request_id {
            upstream.insert_header(REQUEST_ID_HEADER, id.clone())?;
        }
        if let Some(trace) = &ctx.trace {
            trace.inject(upstream)?;
        }
        // The client's address for the origins' logs. (No x-forwarded-proto:
        // the edge is where TLS ends, and every request it forwards came in
        // over it.)
        if let Some(ip) = client_ip(session) {
            upstream.insert_header(headers::FORWARDED_FOR, ip_header(ip))?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let status = resp.status.as_u16();
        if let Some(trace) = ctx.trace.as_mut() {
            trace.upstream_answered(status, false);
        }
        if let (Some(state), Some(i)) = (ctx.state.as_deref(), ctx.region) {
            // An origin shedding load (its overload mark on a 503) is
            // healthy, only full: counting it would eject the region and pile
            // its load onto the next one.
            let shed = resp.headers.contains_key(headers::OVERLOADED);
            if is_gateway_failure(status) && !shed {
                state.upstreams.record_failure(i);
            } else {
                state.upstreams.record_success(i);
            }
        }
        self.stamp(resp, ctx)?;
        if resp.status.is_success() {
            if let Some(token) = &ctx.logout {
                // Again after the origin revoked it, in case a concurrent
                // request re-cached it in between.
                self.state(ctx).sessions.forget(token);
            }
            if let Some(key_id) = &ctx.revoked_key {
                self.state(ctx).sessions.forget_key_id(key_id);
            }
        }
        // No banner (cached answers included): what serves the origin is
        // nobody's business.
        resp.remove_header(&http::header::SERVER);
        self.cache_response_header(session, resp, ctx)?;
        resp.remove_header(cache::SURROGATE_KEY);
        // Last: the cache keeps the origin's identity header and body.
        self.compress_response(session, resp, ctx)
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        // The origin has answered in full: its slot is free, even while a
        // slow client is still reading the answer from the edge.
        if end_of_stream {
            ctx.slot = None;
            if let Some(trace) = ctx.trace.as_mut() {
                trace.upstream_answered(0, true);
            }
        }
        Ok(None)
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        self.cache_response_body(session, body, end_of_stream, ctx);
        self.compress_body(body, end_of_stream, ctx)?;
        Ok(None)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let (status, code, message) = respond::classify(e);
        // A full region is healthy, only busy: not a failure to count.
        if !ctx.shed && e.esource() == &ErrorSource::Upstream && ctx.failure_counted != ctx.region {
            if let (Some(state), Some(i)) = (ctx.state.as_deref(), ctx.region) {
                state.upstreams.record_failure(i);
            }
        }
        if status >= 500 && session.response_written().is_none() {
            // stale-if-error: serve the old answer instead of the failure.
            let stale = ctx
                .cache
                .as_deref_mut()
                .and_then(|c| Some((c.stale.take()?, c.key.clone())));
            if let Some((stale, key)) = stale {
                if self
                    .serve_cached(session, ctx, &stale, &key, CacheStatus::Stale)
                    .await
                    .is_ok()
                {
                    return FailToProxy {
                        error_code: stale.header.status.as_u16(),
                        can_reuse_downstream: false,
                    };
                }
            }
        }
        if status > 0 && session.response_written().is_none() {
            let answer = if ctx.shed {
                respond::EdgeError::overloaded()
            } else {
                respond::EdgeError::new(status, code, message)
            };
            if let Err(write_error) = self.respond(session, ctx, answer).await {
                tracing::debug!(error = %write_error, "could not send error response");
            }
        }
        FailToProxy {
            error_code: status,
            // Nothing went wrong with a shed request's connection: a
            // keep-alive client under load keeps it rather than paying for
            // a new handshake.
            can_reuse_downstream: ctx.shed && session.as_mut().is_body_done(),
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        // Followers must never wait on a request that ended early.
        ctx.cache = None;
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        // Answered before the body was all read (a refusal, an origin's
        // early answer, a failed proxy): the connection closes after this,
        // and closing on unread bytes resets it, which can destroy the
        // answer before the client reads it. A body too slow (408) is not
        // waited for.
        if status != 408 && !session.as_mut().is_body_done() {
            if let Some(state) = ctx.state.clone() {
                self.linger(session, &state.protocol).await;
            }
        }
        let elapsed = ctx.start.elapsed();
        let state = ctx.state.as_deref();
        let region = match (state, ctx.region) {
            (Some(s), Some(i)) => Some(s.upstreams.region(i)),
            _ => None,
        };
        region
            .map_or(&self.metrics.none, |r| &r.metrics)
            .record_request(ctx.service, status, elapsed.as_secs_f64());
        // One cache outcome per request: the last one set wins (a MISS
        // answered by stale-if-error counts as STALE).
        if let Some(outcome) = ctx.cache_status {
            self.metrics.record_cache(outcome);
        }
        let trace_id = ctx.trace.as_ref().map(|t| t.trace_id());
        if let Some(trace) = ctx.trace.take() {
            trace.finish(spans::Outcome {
                status,
                service: SERVICE_LABELS[ctx.service],
                region: region.map(|r| r.id.as_str()),
                cache: ctx.cache_status.map(CacheStatus::as_str),
                retried: ctx.retried,
            });
        }
        if state.is_some_and(|s| s.access_log) {
            let req = session.req_header();
            tracing::info!(
                target: "meridian_edge::access",
                request_id = ctx.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"),
                method = %req.method,
                path = req.uri.path(),
                status,
                region = region.map_or("-", |r| r.id.as_str()),
                service = SERVICE_LABELS[ctx.service],
                cache = ctx.cache_status.map_or("-", CacheStatus::as_str),
                geo = ctx.geo.as_str(),
                retried = ctx.retried,
                trace_id = trace_id.map(tracing::field::display),
                duration_us = elapsed.as_micros() as u64,
                error = e.map(|e| e.to_string()),
            );
        }
    }
}
