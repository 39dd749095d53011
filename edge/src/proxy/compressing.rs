//! Compression in the request's life: proxied bodies stream through an
//! encoder; cached bodies are served from the entry's stored variant (made
//! once, on the first hit that asks for that coding).

use std::sync::Arc;

use bytes::Bytes;
use http::header::ACCEPT_ENCODING;
use http::Method;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;

use super::{Ctx, Edge};
use crate::cache;
use crate::compress::{self, Encoder, Encoding};
use crate::metrics::CacheStatus;

/// A proxied response being compressed as it streams through.
pub struct Streaming {
    encoding: Encoding,
    encoder: Encoder,
}

fn accepted(req: &RequestHeader) -> Option<&[u8]> {
    req.headers.get(ACCEPT_ENCODING).map(|v| v.as_bytes())
}

impl Edge {
    /// The compression settings and the route's threshold, when the
    /// route compresses at all.
    fn compression<'a>(&self, ctx: &'a Ctx) -> Option<(&'a compress::Compression, u64)> {
        Some((&ctx.state.as_deref()?.compression, ctx.compress_min?))
    }

    /// For a response worth compressing: `Vary: Accept-Encoding` (on every
    /// such response, whichever coding it goes out with) and the coding.
    fn negotiate(
        req: &RequestHeader,
        settings: &compress::Compression,
        resp: &mut ResponseHeader,
    ) -> Result<Option<Encoding>> {
        compress::add_vary(resp)?;
        Ok(compress::negotiate(accepted(req), &settings.prefer))
    }

    /// On a proxied response: set up the encoder and the headers.
    pub(super) fn compress_response(
        &self,
        session: &Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // A stale body swapped in for a failed origin's goes out as stored.
        if ctx.cache_status == Some(CacheStatus::Stale) {
            return Ok(());
        }
        let Some((settings, min)) = self.compression(ctx) else {
            return Ok(());
        };
        if !settings.eligible(resp, min) {
            return Ok(());
        }
        let req = session.req_header();
        let Some(encoding) = Self::negotiate(req, settings, resp)? else {
            return Ok(());
        };
        if req.method == Method::HEAD {
            return Ok(());
        }
        let level = settings.stream_level(encoding);
        let encoder = Encoder::new(encoding, level)
            .or_err(ErrorType::InternalError, "starting a response encoder")?;
        compress::mark_encoded(resp, encoding, None)?;
        ctx.encoder = Some(Box::new(Streaming { encoding, encoder }));
        Ok(())
    }

    /// Feeds a proxied body chunk through the encoder, if any.
    pub(super) fn compress_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(s) = ctx.encoder.as_deref_mut() else {
            return Ok(());
        };
        let input = body.as_deref().unwrap_or_default();
        if input.is_empty() && !end_of_stream {
            return Ok(());
        }
        let out = s
            .encoder
            .encode(input, end_of_stream)
            .or_err(ErrorType::InternalError, "compressing a response body")?;
        self.metrics
            .record_compression(s.encoding, input.len(), out.len());
        // An empty chunk would end an HTTP/1.1 chunked body early.
        *body = (!out.is_empty()).then_some(out);
        Ok(())
    }

    /// The body to send for a cached entry: a stored variant in the coding
    /// the client prefers (made now if no one asked for it before), else
    /// the identity body. Edits `resp` to match.
    pub(super) fn cached_body(
        &self,
        session: &Session,
        ctx: &Ctx,
        entry: &Arc<cache::Entry>,
        key: &str,
        resp: &mut ResponseHeader,
    ) -> Result<Bytes> {
        let identity = || Ok(entry.body.clone());
        let Some((settings, min)) = self.compression(ctx) else {
            return identity();
        };
        if !entry.compressible || (entry.body.len() as u64) < min {
            return identity();
        }
        let req = session.req_header();
        let Some(encoding) = Self::negotiate(req, settings, resp)? else {
            return identity();
        };
        let (variant, made_now) = entry.variant(encoding, settings.stored_level(encoding));
        if made_now {
            self.state(ctx).cache.reweigh(key, entry);
        }
        let Some(variant) = variant else {
            return identity();
        };
        compress::mark_encoded(resp, encoding, Some(variant.len()))?;
        if req.method != Method::HEAD {
            self.metrics
                .record_compression(encoding, entry.body.len(), variant.len());
        }
        Ok(variant.clone())
    }
}
