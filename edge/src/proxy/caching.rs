//! The response cache in the request's life: lookup (HIT, STALE with one
//! background refresh, coalesced misses) before the origin, and the store
//! decision, stale-if-error and body collection after it.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::Method;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::{CacheCtx, Ctx, Edge, CACHE_HEADER, INTERNAL_HEADER, REGION_HEADER, REQUEST_ID_HEADER};
use crate::cache::{self, policy, Fill};
use crate::metrics::CacheStatus;
use crate::state::EdgeState;

impl Edge {
    /// The stored response's header as sent for this request: `Age`,
    /// `x-cache` and the request id added. Marks the request's cache
    /// outcome (counted once, in `logging`).
    fn cached_header(
        &self,
        ctx: &mut Ctx,
        entry: &cache::Entry,
        status: CacheStatus,
    ) -> Result<ResponseHeader> {
        let mut resp = entry.header.clone();
        resp.insert_header(http::header::AGE, entry.age().as_secs())?;
        resp.insert_header(CACHE_HEADER, status.as_str())?;
        if let Some(id) = &ctx.request_id {
            resp.insert_header(REQUEST_ID_HEADER, id.clone())?;
        }
        Self::strict_transport(&mut resp, ctx)?;
        ctx.cache_status = Some(status);
        Ok(resp)
    }

    /// Answers from the cache (HIT or STALE), compressed when the client
    /// accepts it; HEAD gets the headers only.
    pub(super) async fn serve_cached(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        entry: &Arc<cache::Entry>,
        key: &str,
        status: CacheStatus,
    ) -> Result<()> {
        let mut resp = self.cached_header(ctx, entry, status)?;
        let body = self.cached_body(session, ctx, entry, key, &mut resp)?;
        let head = session.req_header().method == Method::HEAD;
        session.write_response_header(Box::new(resp), head).await?;
        if !head {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }

    /// Cache lookup for an eligible request. `Ok(true)` when answered.
    pub(super) async fn cache_lookup(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        state: &Arc<EdgeState>,
        rule: usize,
    ) -> Result<bool> {
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri.host())
            .unwrap_or("");
        let key = policy::key(host, req.uri.path(), req.uri.query());
        let cache = state.cache.clone();
        let stale = match cache.lookup(&key, req) {
            cache::Lookup::Fresh(entry) => {
                self.serve_cached(session, ctx, &entry, &key, CacheStatus::Hit)
                    .await?;
                return Ok(true);
            }
            cache::Lookup::Revalidate(entry) => {
                self.serve_cached(session, ctx, &entry, &key, CacheStatus::Stale)
                    .await?;
                if entry.claim_refresh() {
                    self.spawn_refresh(session, ctx, state, &entry, key, rule);
                }
                return Ok(true);
            }
            cache::Lookup::Miss(stale) => stale.filter(|e| e.usable_on_error()),
        };
        let fill = match cache.join(&key) {
            Fill::Leader(guard) => {
                // A fill may have finished between the lookup and the join.
                if let cache::Lookup::Fresh(entry) = cache.lookup(&key, session.req_header()) {
                    drop(guard);
                    self.serve_cached(session, ctx, &entry, &key, CacheStatus::Hit)
                        .await?;
                    return Ok(true);
                }
                Some(guard)
            }
            Fill::Follower(mut done) => {
                // Another request is fetching this key: wait for its answer.
                let _ = tokio::time::timeout(cache.lock_timeout, done.changed()).await;
                if let cache::Lookup::Fresh(entry) = cache.lookup(&key, session.req_header()) {
                    self.metrics.cache_coalesced.inc();
                    self.serve_cached(session, ctx, &entry, &key, CacheStatus::Hit)
                        .await?;
                    return Ok(true);
                }
                None
            }
        };
        ctx.cache_status = Some(CacheStatus::Miss);
        ctx.cache = Some(Box::new(CacheCtx {
            key,
            rule,
            fill,
            stale,
            pending: None,
            replace_body: None,
        }));
        Ok(false)
    }

    /// Refreshes a stale entry in the background (one at a time per entry)
    /// from the region serving this request.
    fn spawn_refresh(
        &self,
        session: &Session,
        ctx: &Ctx,
        state: &Arc<EdgeState>,
        entry: &Arc<cache::Entry>,
        key: String,
        rule: usize,
    ) {
        let Some(region) = ctx.region else {
            entry.release_refresh();
            return;
        };
        let state = state.clone();
        let entry = entry.clone();
        let req = session.req_header().clone();
        let request_id = ctx.request_id.clone();
        tokio::spawn(async move {
            let Some(endpoint) = state.upstreams.endpoint(region) else {
                entry.release_refresh();
                return;
            };
            let r = state.upstreams.region(region);
            let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut call = endpoint
                .api
                .client
                .get(endpoint.api.url(target))
                .timeout(Duration::from_secs(10))
                .header(INTERNAL_HEADER, state.internal_secret.clone());
            if let Some(id) = request_id {
                call = call.header(REQUEST_ID_HEADER, id);
            }
            for (name, value) in entry.vary_headers() {
                call = call.header(name.clone(), value.clone());
            }
            let stored = async {
                let resp = call.send().await.ok()?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let fresh = policy::freshness(status, &headers, &state.cache_rules[rule])?;
                let body = resp.bytes().await.ok()?;
                let mut header = ResponseHeader::build(status, Some(headers.len() + 1)).ok()?;
                for (name, value) in &headers {
                    header.append_header(name.clone(), value.clone()).ok()?;
                }
                header.insert_header(REGION_HEADER, r.header.clone()).ok()?;
                let entry = cache::entry(&header, &req, body, fresh, &state.compression);
                state.cache.insert(key, entry);
                Some(())
            }
            .await;
            if stored.is_none() {
                entry.release_refresh();
            }
        });
    }

    /// On a cache-eligible response: stale-if-error for a 5xx, else the
    /// store decision; `x-cache` on whatever is sent.
    pub(super) fn cache_response_header(
        &self,
        session: &Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if resp.status.as_u16() >= 500 {
            if let Some(stale) = ctx.cache.as_deref_mut().and_then(|c| c.stale.take()) {
                // stale-if-error: the old answer beats the failure.
                *resp = self.cached_header(ctx, &stale, CacheStatus::Stale)?;
                if let Some(c) = ctx.cache.as_deref_mut() {
                    c.replace_body = Some(stale.body.clone());
                }
                return Ok(());
            }
        }
        if let Some(c) = ctx.cache.as_deref_mut() {
            let state = ctx.state.as_deref().expect("set in request_filter");
            let fresh = policy::freshness(resp.status, &resp.headers, &state.cache_rules[c.rule]);
            let small = resp
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .is_none_or(|n| n <= state.cache.max_object_bytes);
            if let (Some(fresh), true, true) =
                (fresh, small, session.req_header().method == Method::GET)
            {
                c.pending = Some((resp.clone(), BytesMut::new(), fresh));
            }
            resp.insert_header(CACHE_HEADER, CacheStatus::Miss.as_str())?;
        } else if ctx.cache_status == Some(CacheStatus::Bypass) {
            resp.insert_header(CACHE_HEADER, CacheStatus::Bypass.as_str())?;
        }
        Ok(())
    }

    /// Collects a storable body and stores it at the end (waking the
    /// coalesced followers), or swaps in a stale body for a failed origin's.
    pub(super) fn cache_response_body(
        &self,
        session: &Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) {
        let Some(c) = ctx.cache.as_deref_mut() else {
            return;
        };
        if c.replace_body.is_some() || ctx.cache_status == Some(CacheStatus::Stale) {
            // Swap the failed origin's body for the stale one, once.
            *body = c.replace_body.take();
            return;
        }
        let state = ctx.state.as_deref().expect("set in request_filter");
        if let Some((_, collected, _)) = c.pending.as_mut() {
            if let Some(chunk) = body.as_ref() {
                if (collected.len() + chunk.len()) as u64 > state.cache.max_object_bytes {
                    c.pending = None;
                } else {
                    collected.extend_from_slice(chunk);
                }
            }
        }
        if end_of_stream {
            if let Some((header, collected, fresh)) = c.pending.take() {
                let entry = cache::entry(
                    &header,
                    session.req_header(),
                    collected.freeze(),
                    fresh,
                    &state.compression,
                );
                state.cache.insert(std::mem::take(&mut c.key), entry);
            }
            // Wake the followers now that the answer is (or is not) stored.
            c.fill = None;
        }
    }
}
