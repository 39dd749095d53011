//! The checks a request passes before anything is proxied or served from
//! the cache, in order: protocol (target size, `Host`), path hygiene, the
//! route (405 before credentials), the declared body size, credentials,
//! rate limits. Each either fills the request's context or refuses it
//! with the answer to send.

use http::{HeaderValue, Method};
use meridian_wire::headers::CLIENT_GEO;
use pingora::prelude::*;

use super::respond::EdgeError;
use super::{client_ip, Ctx, Edge};
use crate::cache::policy;
use crate::config::AuthMode;
use crate::listen::protocol;
use crate::paths;
use crate::request::rate_limit::Kind;
use crate::request::routing::{Resolved, Route};
use crate::request::session::{self, Credential, Lookup, Principal};
use crate::state::EdgeState;
use crate::upstream::Class;

/// `DELETE` of a key under this prefix revokes it; cached answers for it
/// are dropped when the origin confirms.
const KEYS_PATH: &str = "/api/sellers/me/keys/";

/// The edge answers the request itself, with this.
pub(super) type Refusal = EdgeError<'static>;

/// GET and HEAD: reads, which change nothing under any identity.
fn is_safe(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

fn refuse(status: u16, code: &'static str, message: &'static str) -> Refusal {
    EdgeError::new(status, code, message)
}

/// What admission decided that later phases need.
pub(super) struct Admitted {
    /// Index into the snapshot's `cache_rules`, when one covers the path.
    pub cache_rule: Option<usize>,
    /// The request presented a credential (checked or not): it bypasses
    /// the shared cache both ways.
    pub has_credential: bool,
}

impl Edge {
    /// Runs every check; `Ok` means the request goes on to the cache or
    /// an origin.
    pub(super) async fn admit(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        state: &EdgeState,
    ) -> Result<Admitted, Refusal> {
        self.check_protocol(session, ctx, state)?;
        let route = self.take_route(session, ctx, state)?;
        self.check_declared_body(session, ctx)?;
        let req = session.req_header();
        let cache_rule = policy::rule_for(&state.cache_rules, req.uri.path());
        // A shared page is the same for everyone: its request is treated as
        // anonymous (no session lookup) and forwarded without credentials.
        ctx.strip_credentials = cache_rule.is_some_and(|r| state.cache_rules[r].shared)
            && (req.method == Method::GET || req.method == Method::HEAD);
        let presented = if ctx.strip_credentials {
            None
        } else {
            session::credential_from(req)
        };
        let has_credential = presented.is_some();
        let checked = self
            .check_credentials(session, ctx, state, route, presented)
            .await?;
        if let Some(group) = route.rate_limit {
            self.check_limits(session, state, group, checked.as_ref())
                .await?;
        }
        ctx.class = if route.critical {
            Class::Critical
        } else if !is_safe(&session.req_header().method) {
            Class::Write
        } else if ctx.user.is_some() || ctx.seller.is_some() {
            Class::SignedInRead
        } else {
            Class::AnonymousRead
        };
        Ok(Admitted {
            cache_rule,
            has_credential,
        })
    }

    /// Request target size and `Host` (Pingora's own limits came first).
    fn check_protocol(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        state: &EdgeState,
    ) -> Result<(), Refusal> {
        let host = state
            .protocol
            .check(session.req_header())
            .map_err(|(status, code, message)| refuse(status, code, message))?;
        ctx.hsts =
            state.hsts.is_some() && (state.hsts_on_dev_names || !protocol::is_dev_host(host));
        Ok(())
    }

    /// Path hygiene, then the route; the route's settings go into `ctx`.
    fn take_route<'s>(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        state: &'s EdgeState,
    ) -> Result<&'s Route, Refusal> {
        let req = session.req_header();
        let path = req.uri.path();
        if !paths::is_clean_path(path) {
            return Err(refuse(
                400,
                "bad_path",
                "path contains dot segments, empty segments or encoded separators",
            ));
        }
        let route = match state.routes.resolve(&req.method, path) {
            Resolved::Route(route) => route,
            Resolved::MethodNotAllowed(allow) => {
                if req.method == Method::CONNECT {
                    // What follows a CONNECT is not another request.
                    session.set_keepalive(None);
                }
                let mut e = EdgeError::new(405, "method_not_allowed", "method not allowed here");
                e.allow = Some(allow.clone());
                return Err(e);
            }
            Resolved::NotFound => return Err(refuse(404, "not_found", "no such route")),
        };
        ctx.service = route.service;
        if let Some(trace) = &ctx.trace {
            trace.route(&req.method, route.pattern.as_str());
        }
        ctx.html_errors = route.html_errors;
        ctx.timeout = route.timeout;
        ctx.max_body_bytes = route.max_body_bytes.unwrap_or(state.max_body_bytes);
        ctx.compress_min = (route.compress && !state.compression.prefer.is_empty()).then(|| {
            route
                .compress_min_bytes
                .unwrap_or(state.compression.min_bytes)
        });
        if req.method == Method::DELETE {
            ctx.revoked_key = path.strip_prefix(KEYS_PATH).map(str::to_owned);
        }
        Ok(route)
    }

    /// A body declared larger than the route allows is refused before it
    /// is read (a streamed one is counted in `request_body_filter`).
    fn check_declared_body(&self, session: &Session, ctx: &Ctx) -> Result<(), Refusal> {
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > ctx.max_body_bytes) {
            return Err(refuse(
                413,
                "body_too_large",
                "request body exceeds the edge's limit",
            ));
        }
        Ok(())
    }

    /// Checks a presented credential (`None`: none presented; `Some(None)`:
    /// a malformed one). Returns the credential when it names a principal,
    /// for per-session and per-key rate limits.
    async fn check_credentials(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        state: &EdgeState,
        route: &Route,
        presented: Option<Option<Credential>>,
    ) -> Result<Option<Credential>, Refusal> {
        let required = route.auth == AuthMode::Required;
        let credential = match presented {
            None | Some(None) if required => {
                return Err(refuse(401, "unauthorized", "sign in required"));
            }
            None | Some(None) => return Ok(None),
            Some(Some(credential)) => credential,
        };
        let Some(region) = ctx.region else {
            return Err(refuse(503, "unavailable", "no region available"));
        };
        let Some(endpoint) = state.upstreams.endpoint(region) else {
            return Err(refuse(503, "unavailable", "no region available"));
        };
        let phase = ctx.trace.as_ref().map(|t| t.phase("session check"));
        let lookup = state
            .sessions
            .validate(
                &credential,
                &endpoint.api,
                ctx.request_id.as_ref(),
                &self.metrics,
            )
            .await;
        drop(phase);
        match lookup {
            Lookup::Valid(Principal::User(user)) => ctx.user = Some(user),
            Lookup::Valid(Principal::Seller(key)) => ctx.seller = Some(key),
            Lookup::Invalid if required => {
                return Err(refuse(
                    401,
                    "unauthorized",
                    "credential is invalid, revoked or expired",
                ));
            }
            // A credential that cannot be checked is not a missing one: a
            // write under it would land under the wrong identity (found
            // under load: an add-to-cart went to a fresh guest cart, and
            // the shopper's checkout then found the cart empty). Writes and
            // signed-in routes wait for the store; reads of public routes
            // stay up, anonymously.
            Lookup::Unavailable if required || !is_safe(&session.req_header().method) => {
                let mut e = refuse(
                    503,
                    "unavailable",
                    "credentials cannot be checked right now",
                );
                e.retry_after = Some(1);
                return Err(e);
            }
            // Public route: an unusable session just means anonymous.
            Lookup::Invalid | Lookup::Unavailable => {}
        }
        let is_logout = session.req_header().method == Method::POST && route.ends_session;
        if let (true, Credential::Session(token)) = (is_logout, &credential) {
            state.sessions.forget(token);
            ctx.logout = Some(*token);
        }
        Ok((ctx.user.is_some() || ctx.seller.is_some()).then_some(credential))
    }

    /// Rate limits of the route's group, on every dimension the request
    /// has: client IP, session, seller key.
    async fn check_limits(
        &self,
        session: &Session,
        state: &EdgeState,
        group: usize,
        credential: Option<&Credential>,
    ) -> Result<(), Refusal> {
        let limiter = &state.limiter;
        let mut clients = [(Kind::Ip, 0u64); 3];
        let mut n = 0;
        if let Some(ip) = client_ip(session) {
            let id = match ip {
                std::net::IpAddr::V4(v4) => limiter.client_id(&v4.octets()),
                std::net::IpAddr::V6(v6) => limiter.client_id(&v6.octets()),
            };
            clients[n] = (Kind::Ip, id);
            n += 1;
        }
        match credential {
            Some(Credential::Session(token)) => {
                clients[n] = (Kind::Session, limiter.client_id(token));
                n += 1;
            }
            Some(Credential::Key(key)) => {
                clients[n] = (Kind::Key, limiter.client_id(key));
                n += 1;
            }
            None => {}
        }
        let rejection = match limiter.check(group, &clients[..n], &self.metrics).await {
            Ok(()) => return Ok(()),
            Err(rejection) => rejection,
        };
        let message = match rejection.kind {
            Kind::Ip => "too many requests from this address; retry later",
            Kind::Session => "too many requests for this session; retry later",
            Kind::Key => "too many requests for this API key; retry later",
        };
        let mut e = EdgeError::new(429, "rate_limited", message);
        e.retry_after = Some(rejection.retry_after_secs);
        Err(e)
    }
}

/// The `x-client-geo` header's bytes, if any.
pub(super) fn client_geo(session: &Session) -> Option<&[u8]> {
    session
        .req_header()
        .headers
        .get(CLIENT_GEO)
        .map(HeaderValue::as_bytes)
}
