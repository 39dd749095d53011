//! Response compression at the edge: gzip, brotli and zstd, negotiated
//! from `Accept-Encoding`.
//!
//! Only bodies worth it are compressed: a compressible media type, at
//! least `min_bytes` long (when the length is known), not already encoded,
//! not `no-transform`, not a range. Every response that *could* be
//! compressed says `Vary: Accept-Encoding`, whichever coding it went out
//! with, so shared caches downstream keep the variants apart.
//!
//! Proxied responses stream through an [`Encoder`]; cached entries keep
//! their identity body and each coding is made once, on the first hit
//! that asks for it (see `cache::Entry::variant`).

mod encoder;
mod negotiate;

use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, TRANSFER_ENCODING, VARY,
};
use http::HeaderValue;
use pingora::http::ResponseHeader;

#[cfg(test)]
pub use encoder::decode;
pub use encoder::{encode_all, Encoder};
pub use negotiate::negotiate;

use crate::config::CompressionConfig;

pub use crate::coding::{Encoding, ENCODINGS};

/// `[compression]`, compiled once per config load.
#[derive(Debug, Clone)]
pub struct Compression {
    /// The server's order among equally acceptable codings; empty: off.
    pub prefer: Vec<Encoding>,
    pub min_bytes: u64,
    /// Media types: `text/` (a prefix), `+json` (a suffix) or exact.
    types: Vec<Box<str>>,
    /// Per coding: proxied bodies (fast), cached bodies (made once).
    stream_level: [u32; 3],
    stored_level: [u32; 3],
}

const VARY_VALUE: HeaderValue = HeaderValue::from_static("accept-encoding");
const CHUNKED: HeaderValue = HeaderValue::from_static("chunked");

impl Compression {
    pub fn new(config: &CompressionConfig) -> Self {
        let prefer = if config.enabled {
            config
                .prefer
                .iter()
                .filter_map(|n| Encoding::from_name(n))
                .collect()
        } else {
            Vec::new()
        };
        let levels = |l: &crate::config::Levels| [l.gzip, l.br, l.zstd];
        Self {
            prefer,
            min_bytes: config.min_bytes,
            types: config
                .types
                .iter()
                .map(|t| t.to_ascii_lowercase().into())
                .collect(),
            stream_level: levels(&config.stream_level),
            stored_level: levels(&config.stored_level),
        }
    }

    pub fn stream_level(&self, e: Encoding) -> u32 {
        self.stream_level[e as usize]
    }

    pub fn stored_level(&self, e: Encoding) -> u32 {
        self.stored_level[e as usize]
    }

    /// Whether the configured types cover this `Content-Type` value.
    pub fn compressible_type(&self, content_type: &[u8]) -> bool {
        let media = content_type
            .split(|b| *b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        self.types.iter().any(|t| {
            let t = t.as_bytes();
            if t.ends_with(b"/") {
                media.len() >= t.len() && media[..t.len()].eq_ignore_ascii_case(t)
            } else if t.starts_with(b"+") {
                media.len() > t.len() && media[media.len() - t.len()..].eq_ignore_ascii_case(t)
            } else {
                media.eq_ignore_ascii_case(t)
            }
        })
    }

    /// Whether `resp` is a body the edge would compress (for a client
    /// that accepts a coding). `min_bytes` is the route's threshold.
    pub fn eligible(&self, resp: &ResponseHeader, min_bytes: u64) -> bool {
        if self.prefer.is_empty() {
            return false;
        }
        let status = resp.status.as_u16();
        if status < 200 || matches!(status, 204 | 206 | 304) {
            return false;
        }
        let h = &resp.headers;
        let identity = h
            .get(CONTENT_ENCODING)
            .is_none_or(|v| v.as_bytes().eq_ignore_ascii_case(b"identity"));
        let no_transform = h.get_all(CACHE_CONTROL).iter().any(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
        });
        let big_enough = h
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_none_or(|n| n >= min_bytes);
        identity
            && !no_transform
            && big_enough
            && !h.contains_key(CONTENT_RANGE)
            && h.get(CONTENT_TYPE)
                .is_some_and(|t| self.compressible_type(t.as_bytes()))
    }
}

/// Adds `Vary: Accept-Encoding` unless the response already varies on it
/// (or on everything).
pub fn add_vary(resp: &mut ResponseHeader) -> pingora::Result<()> {
    let present = resp.headers.get_all(VARY).iter().any(|v| {
        v.as_bytes().split(|b| *b == b',').any(|name| {
            let name = name.trim_ascii();
            name == b"*" || name.eq_ignore_ascii_case(b"accept-encoding")
        })
    });
    if !present {
        resp.append_header(VARY, VARY_VALUE)?;
    }
    Ok(())
}

/// Marks `resp` as carrying `encoding`: `Content-Encoding`, the encoded
/// length (or chunked while streaming; HTTP/2 drops that header), a weak
/// `ETag` (the bytes differ from the identity body's; a malformed one is
/// dropped, as nginx does), and no byte ranges.
pub fn mark_encoded(
    resp: &mut ResponseHeader,
    encoding: Encoding,
    length: Option<usize>,
) -> pingora::Result<()> {
    resp.insert_header(CONTENT_ENCODING, encoding.as_str())?;
    match length {
        Some(n) => resp.insert_header(CONTENT_LENGTH, n)?,
        None => {
            resp.remove_header(&CONTENT_LENGTH);
            resp.insert_header(TRANSFER_ENCODING, CHUNKED)?;
        }
    }
    resp.remove_header(&ACCEPT_RANGES);
    let etag = resp.headers.get(ETAG).map(HeaderValue::as_bytes);
    match etag {
        Some(tag) if tag.starts_with(b"\"") => {
            let weak = HeaderValue::from_bytes(&[b"W/", tag].concat())
                .expect("a valid value stays valid behind W/");
            resp.insert_header(ETAG, weak)?;
        }
        Some(tag) if !tag.starts_with(b"W/") => {
            resp.remove_header(&ETAG);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CompressionConfig;

    fn settings() -> Compression {
        Compression::new(&CompressionConfig::default())
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn types_match_by_prefix_suffix_or_exactly() {
        let c = settings();
        for (t, want) in [
            ("text/html; charset=utf-8", true),
            ("TEXT/CSS", true),
            ("application/json", true),
            ("application/problem+json", true),
            ("image/svg+xml", true),
            ("application/javascript", true),
            ("image/png", false),
            ("application/octet-stream", false),
            ("application/jsonx", false),
            ("", false),
        ] {
            assert_eq!(c.compressible_type(t.as_bytes()), want, "{t}");
        }
    }

    #[test]
    fn only_worthwhile_identity_bodies_are_eligible() {
        let c = settings();
        let json = ("content-type", "application/json");
        type Case<'a> = (u16, Vec<(&'a str, &'a str)>, bool);
        let cases: [Case<'_>; 9] = [
            (200, vec![json, ("content-length", "5000")], true),
            (200, vec![json], true),
            (404, vec![json, ("content-length", "2000")], true),
            (200, vec![json, ("content-length", "100")], false),
            (200, vec![json, ("content-encoding", "gzip")], false),
            (
                200,
                vec![json, ("cache-control", "public, no-transform")],
                false,
            ),
            (206, vec![json, ("content-range", "bytes 0-9/99")], false),
            (304, vec![json], false),
            (200, vec![("content-type", "image/jpeg")], false),
        ];
        for (status, headers, want) in cases {
            assert_eq!(
                c.eligible(&resp(status, &headers), 1024),
                want,
                "{status} {headers:?}"
            );
        }
        let off = Compression::new(&CompressionConfig {
            enabled: false,
            ..CompressionConfig::default()
        });
        assert!(!off.eligible(&resp(200, &[json]), 0));
    }

    #[test]
    fn vary_is_added_once_and_etags_become_weak() {
        let mut r = resp(200, &[("vary", "Accept-Language"), ("etag", "\"v1\"")]);
        add_vary(&mut r).unwrap();
        add_vary(&mut r).unwrap();
        let vary: Vec<_> = r.headers.get_all("vary").iter().collect();
        assert_eq!(vary, ["Accept-Language", "accept-encoding"]);
        let mut star = resp(200, &[("vary", "*")]);
        add_vary(&mut star).unwrap();
        assert_eq!(star.headers.get_all("vary").iter().count(), 1);

        mark_encoded(&mut r, Encoding::Brotli, Some(42)).unwrap();
        assert_eq!(r.headers["content-encoding"], "br");
        assert_eq!(r.headers["content-length"], "42");
        assert_eq!(r.headers["etag"], "W/\"v1\"");
        mark_encoded(&mut r, Encoding::Gzip, None).unwrap();
        assert!(r.headers.get("content-length").is_none());
        assert_eq!(r.headers["transfer-encoding"], "chunked");
        assert_eq!(r.headers["etag"], "W/\"v1\"");
        let mut odd = resp(200, &[("etag", "v1")]);
        mark_encoded(&mut odd, Encoding::Zstd, Some(1)).unwrap();
        assert!(odd.headers.get("etag").is_none());
    }
}
