//! The Pingora `ProxyHttp` implementation: a table of contents of the
//! request's life, each phase delegating to one module.
//!
//! 1. `request_filter`: request id, path hygiene, route, body limit, geo
//!    ranking, session check — answered here (4xx) or passed on.
//! 2. `upstream_peer`: nearest healthy untried region.
//! 3. `fail_to_connect`: idempotent requests retry once on the next region.
//! 4. `upstream_request_filter`: strip client-sent identity, add ours.
//! 5. `response_filter`: region and request id on every response.
//! 6. `logging`: metrics and the access log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderValue, Method};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::FailToProxy;

use crate::config::AuthMode;
use crate::geo::{self, GeoSource, Ranking};
use crate::metrics::EdgeMetrics;
use crate::routing;
use crate::session::{self, Credential, KeyInfo, Lookup, Principal, Token};
use crate::state::EdgeState;

pub const REGION_HEADER: &str = "x-meridian-region";
pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const USER_HEADER: &str = "x-user-id";
pub const INTERNAL_HEADER: &str = "x-meridian-internal";
const GEO_HEADER: &str = "x-client-geo";
const LOGOUT_PATH: &str = "/api/auth/logout";
/// `DELETE` of a key under this prefix revokes it; cached answers for it
/// are dropped when the origin confirms.
const KEYS_PATH: &str = "/api/sellers/me/keys/";

pub struct Edge {
    pub state: Arc<ArcSwap<EdgeState>>,
    pub metrics: Arc<EdgeMetrics>,
    ids: RequestIds,
}

impl Edge {
    pub fn new(state: Arc<ArcSwap<EdgeState>>, metrics: Arc<EdgeMetrics>) -> Self {
        Self {
            state,
            metrics,
            ids: RequestIds::new(),
        }
    }
}

/// Request ids: a random per-process prefix and a counter, hex-encoded.
/// Unique across restarts and edges without a syscall or lock per request.
struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self {
            prefix: rand::random(),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> HeaderValue {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 32];
        for (i, byte) in self
            .prefix
            .to_be_bytes()
            .iter()
            .chain(n.to_be_bytes().iter())
            .enumerate()
        {
            buf[2 * i] = HEX[(byte >> 4) as usize];
            buf[2 * i + 1] = HEX[(byte & 0xf) as usize];
        }
        HeaderValue::from_bytes(&buf).expect("hex is a valid header value")
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
    user: Option<HeaderValue>,
    seller: Option<KeyInfo>,
    service: &'static str,
    max_body_bytes: u64,
    body_bytes: u64,
    logout: Option<Token>,
    revoked_key: Option<String>,
}

fn client_ip(session: &Session) -> Option<std::net::IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

impl Edge {
    fn state<'a>(&self, ctx: &'a Ctx) -> &'a EdgeState {
        ctx.state
            .as_deref()
            .expect("state is set first thing in request_filter")
    }

    /// Writes an edge-generated JSON error (`{"error":{"code","message"}}`).
    async fn respond_error(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        code: &str,
        message: &str,
    ) -> Result<()> {
        let body = Bytes::from(
            serde_json::json!({ "error": { "code": code, "message": message } }).to_string(),
        );
        let mut resp = ResponseHeader::build(status, Some(6))?;
        resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
        resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        if status == 401 {
            resp.insert_header(http::header::WWW_AUTHENTICATE, "Bearer realm=\"meridian\"")?;
        }
        self.stamp(&mut resp, ctx)?;
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(body), true).await
    }

    /// Region and request id on every response, edge-made or proxied.
    fn stamp(&self, resp: &mut ResponseHeader, ctx: &Ctx) -> Result<()> {
        if let (Some(state), Some(i)) = (ctx.state.as_deref(), ctx.region) {
            resp.insert_header(REGION_HEADER, state.upstreams.region(i).header.clone())?;
        }
        if let Some(id) = &ctx.request_id {
            resp.insert_header(REQUEST_ID_HEADER, id.clone())?;
        }
        Ok(())
    }

    fn pick_region(&self, ctx: &mut Ctx) -> Option<usize> {
        let state = ctx.state.as_deref()?;
        let ranking = ctx.ranking.as_ref()?;
        let upstreams = &state.upstreams;
        geo::pick(ranking, |i| upstreams.is_healthy(i), ctx.tried)
    }
}

#[async_trait]
impl ProxyHttp for Edge {
    type CTX = Ctx;

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
            user: None,
            seller: None,
            service: "none",
            max_body_bytes: 0,
            body_bytes: 0,
            logout: None,
            revoked_key: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let state = self.state.load_full();
        ctx.request_id = Some(self.ids.next());

        let (ranking, source) = state.geo.ranking_for(
            client_ip(session),
            session
                .req_header()
                .headers
                .get(GEO_HEADER)
                .map(HeaderValue::as_bytes),
        );
        ctx.ranking = Some(ranking);
        ctx.geo = source;
        ctx.state = Some(state);
        ctx.region = self.pick_region(ctx);
        let state = ctx.state.clone().expect("just set");

        let req = session.req_header();
        let path = req.uri.path();
        if !routing::is_clean_path(path) {
            self.respond_error(
                session,
                ctx,
                400,
                "bad_path",
                "path contains dot segments, empty segments or encoded separators",
            )
            .await?;
            return Ok(true);
        }
        let Some(route) = state.routes.find(&req.method, path) else {
            self.respond_error(session, ctx, 404, "not_found", "no such route")
                .await?;
            return Ok(true);
        };
        ctx.service = route.service_label;
        ctx.max_body_bytes = route.max_body_bytes.unwrap_or(state.max_body_bytes);
        let declared = req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > ctx.max_body_bytes) {
            self.respond_error(
                session,
                ctx,
                413,
                "body_too_large",
                "request body exceeds the edge's limit",
            )
            .await?;
            return Ok(true);
        }
        let is_logout = req.method == Method::POST && path == LOGOUT_PATH;
        if req.method == Method::DELETE {
            ctx.revoked_key = path.strip_prefix(KEYS_PATH).map(str::to_owned);
        }
        let required = route.auth == AuthMode::Required;

        match session::credential_from(session.req_header()) {
            None | Some(None) if required => {
                self.respond_error(session, ctx, 401, "unauthorized", "sign in required")
                    .await?;
                return Ok(true);
            }
            None | Some(None) => {}
            Some(Some(credential)) => {
                let Some(region) = ctx.region else {
                    self.respond_error(session, ctx, 503, "unavailable", "no region available")
                        .await?;
                    return Ok(true);
                };
                let origin = state.upstreams.region(region).origin;
                match state
                    .sessions
                    .validate(&credential, origin, ctx.request_id.as_ref(), &self.metrics)
                    .await
                {
                    Lookup::Valid(Principal::User(user)) => ctx.user = Some(user),
                    Lookup::Valid(Principal::Seller(key)) => ctx.seller = Some(key),
                    Lookup::Invalid if required => {
                        self.respond_error(
                            session,
                            ctx,
                            401,
                            "unauthorized",
                            "credential is invalid, revoked or expired",
                        )
                        .await?;
                        return Ok(true);
                    }
                    Lookup::Unavailable if required => {
                        self.respond_error(
                            session,
                            ctx,
                            503,
                            "unavailable",
                            "credentials cannot be checked right now",
                        )
                        .await?;
                        return Ok(true);
                    }
                    // Public route: an unusable session just means anonymous.
                    Lookup::Invalid | Lookup::Unavailable => {}
                }
                if let (true, Credential::Session(token)) = (is_logout, &credential) {
                    state.sessions.forget(token);
                    ctx.logout = Some(*token);
                }
            }
        }
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Some(i) = self.pick_region(ctx) else {
            return Error::e_explain(ErrorType::HTTPStatus(503), "no region left to try");
        };
        ctx.region = Some(i);
        ctx.tried |= 1 << i;
        Ok(self.state(ctx).upstreams.peer(i))
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // Nothing reached the origin, but only idempotent requests are
        // replayed, and only once, so a dead region costs one extra connect.
        if !ctx.retried && session.req_header().method.is_idempotent() {
            ctx.retried = true;
            self.metrics.retries.inc();
            e.set_retry(true);
        }
        e
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
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
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Identity and internal headers are ours alone: drop whatever the
        // client sent under those names before adding the real ones.
        let spoofable: Vec<http::HeaderName> = upstream
            .headers
            .keys()
            .filter(|k| {
                let k = k.as_str();
                k.starts_with("x-meridian-")
                    || k.starts_with("x-seller-")
                    || k == USER_HEADER
                    || k == REQUEST_ID_HEADER
                    || k.starts_with("x-forwarded-")
            })
            .cloned()
            .collect();
        for name in spoofable {
            upstream.remove_header(&name);
        }
        let state = self.state(ctx);
        upstream.insert_header(INTERNAL_HEADER, state.internal_secret.clone())?;
        if let Some(user) = &ctx.user {
            upstream.insert_header(USER_HEADER, user.clone())?;
        }
        if let Some(key) = &ctx.seller {
            upstream.insert_header("x-seller-id", key.seller.clone())?;
            upstream.insert_header("x-seller-scopes", key.scopes.clone())?;
        }
        if let Some(id) = &ctx.request_id {
            upstream.insert_header(REQUEST_ID_HEADER, id.clone())?;
        }
        if let Some(ip) = client_ip(session) {
            upstream.insert_header("x-forwarded-for", ip.to_string())?;
        }
        upstream.insert_header("x-forwarded-proto", "https")?;
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
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
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let (status, code, message) = match e.etype() {
            ErrorType::HTTPStatus(413) => (
                413,
                "body_too_large",
                "request body exceeds the edge's limit",
            ),
            ErrorType::HTTPStatus(503) => (503, "unavailable", "no region is available"),
            ErrorType::HTTPStatus(s) => {
                (*s, "upstream_error", "the request could not be completed")
            }
            _ => match e.esource() {
                ErrorSource::Upstream => (502, "bad_gateway", "the region did not answer"),
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                        (0, "", "")
                    }
                    _ => (400, "bad_request", "malformed request"),
                },
                ErrorSource::Internal | ErrorSource::Unset => (500, "internal", "internal error"),
            },
        };
        if status > 0 && session.response_written().is_none() {
            if let Err(write_error) = self
                .respond_error(session, ctx, status, code, message)
                .await
            {
                tracing::debug!(error = %write_error, "could not send error response");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.start.elapsed();
        self.metrics
            .record_request(ctx.region, status, elapsed.as_secs_f64());
        let access_log = ctx.state.as_deref().is_some_and(|s| s.access_log);
        if access_log {
            let region = match (ctx.state.as_deref(), ctx.region) {
                (Some(s), Some(i)) => s.upstreams.region(i).id.as_str(),
                _ => "-",
            };
            let req = session.req_header();
            tracing::info!(
                target: "meridian_edge::access",
                request_id = ctx.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"),
                method = %req.method,
                path = req.uri.path(),
                status,
                region,
                service = ctx.service,
                geo = ctx.geo.as_str(),
                retried = ctx.retried,
                duration_us = elapsed.as_micros() as u64,
                error = e.map(|e| e.to_string()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_hex() {
        let ids = RequestIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.to_str().unwrap().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
