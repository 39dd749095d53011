//! What may be cached and for how long, as pure functions: request keys,
//! `Cache-Control` parsing and the freshness of a response.

use http::{header, HeaderMap, Method, StatusCode};

use crate::config::CacheRule;
use crate::paths::segment_prefix;

/// The directives of a `Cache-Control` header that matter to a shared cache.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    pub no_store: bool,
    pub no_cache: bool,
    pub private: bool,
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

/// Parses every `Cache-Control` value; unknown directives are ignored, a
/// malformed number is treated as absent (so it never extends freshness).
pub fn directives(headers: &HeaderMap) -> Directives {
    let mut d = Directives::default();
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let part = part.trim();
            let (name, arg) = match part.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (part, None),
            };
            let secs = arg.and_then(|a| a.parse::<u64>().ok());
            match name.to_ascii_lowercase().as_str() {
                "no-store" => d.no_store = true,
                // `no-cache="field"` restricts fields; treat it as no-cache too.
                "no-cache" => d.no_cache = true,
                "private" => d.private = true,
                "max-age" => d.max_age = secs,
                "s-maxage" => d.s_maxage = secs,
                "stale-while-revalidate" => d.stale_while_revalidate = secs,
                "stale-if-error" => d.stale_if_error = secs,
                _ => {}
            }
        }
    }
    d
}

/// How long a stored response is fresh, and how long past that it may be
/// served stale (while revalidating / when the origin fails), in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub ttl_ms: u64,
    pub swr_ms: u64,
    pub sie_ms: u64,
}

fn cacheable_status(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 410
    )
}

/// Whether and how long a response may be stored under `rule`. Never for
/// `no-store`, `private`, `no-cache`, `Set-Cookie`, `Vary: *`, or statuses
/// that are not cacheable by default.
pub fn freshness(status: StatusCode, headers: &HeaderMap, rule: &CacheRule) -> Option<Freshness> {
    if !cacheable_status(status) || headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    if headers.get_all(header::VARY).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|f| f.trim_ascii() == b"*")
    }) {
        return None;
    }
    let d = directives(headers);
    if d.no_store || d.private || d.no_cache {
        return None;
    }
    let ttl_ms = d
        .s_maxage
        .or(d.max_age)
        .map_or(rule.default_ttl_ms, |s| s.saturating_mul(1000))
        .min(rule.max_ttl_ms);
    if ttl_ms == 0 {
        return None;
    }
    Some(Freshness {
        ttl_ms,
        swr_ms: d
            .stale_while_revalidate
            .map_or(rule.stale_while_revalidate_ms, |s| s.saturating_mul(1000)),
        sie_ms: d
            .stale_if_error
            .map_or(rule.stale_if_error_ms, |s| s.saturating_mul(1000)),
    })
}

/// The request is one the cache may answer: GET or HEAD, no credential.
pub fn cacheable_request(method: &Method, has_credential: bool) -> bool {
    (method == Method::GET || method == Method::HEAD) && !has_credential
}

/// The index of the rule covering `path`: the longest prefix on whole
/// segments (an exact rule covers its own path only, and beats a prefix
/// of the same length).
pub fn rule_for(rules: &[CacheRule], path: &str) -> Option<usize> {
    rules
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            if r.exact {
                path == r.prefix
            } else {
                segment_prefix(path, &r.prefix)
            }
        })
        .max_by_key(|(_, r)| (r.prefix.len(), r.exact))
        .map(|(i, _)| i)
}

/// `host path?query` with the query's parameters sorted (and empty ones
/// dropped), so `?b=2&a=1` and `?a=1&b=2` share an entry. HEAD shares GET's
/// entries. The host is lowercased without its port.
pub fn key(host: &str, path: &str, query: Option<&str>) -> String {
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            // `[::1]:8443` → `[::1]`, but a bare `::1` keeps its last group.
            if h.starts_with('[') == h.ends_with(']') {
                h
            } else {
                host
            }
        }
        _ => host,
    };
    let mut key = String::with_capacity(host.len() + path.len() + 2 + query.map_or(0, str::len));
    key.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    key.push(' ');
    key.push_str(path);
    if let Some(query) = query {
        let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        if !params.is_empty() {
            params.sort_unstable();
            key.push('?');
            for (i, p) in params.iter().enumerate() {
                if i > 0 {
                    key.push('&');
                }
                key.push_str(p);
            }
        }
    }
    key
}

/// The path and query part of a key (what purges by key and prefix match).
pub fn key_path(key: &str) -> &str {
    key.split_once(' ').map_or(key, |(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn rule() -> CacheRule {
        CacheRule {
            prefix: "/api/catalog".into(),
            exact: false,
            shared: false,
            default_ttl_ms: 0,
            max_ttl_ms: 60_000,
            stale_while_revalidate_ms: 5_000,
            stale_if_error_ms: 0,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn parses_directives() {
        let d = directives(&headers(&[
            ("cache-control", "public, max-age=30, S-MAXAGE=\"60\""),
            (
                "cache-control",
                "stale-while-revalidate=10, stale-if-error=x",
            ),
        ]));
        assert_eq!(d.max_age, Some(30));
        assert_eq!(d.s_maxage, Some(60));
        assert_eq!(d.stale_while_revalidate, Some(10));
        assert_eq!(d.stale_if_error, None);
        assert!(!d.no_store && !d.private);
    }

    #[test]
    fn freshness_follows_the_origin_within_the_rule() {
        let ok = StatusCode::OK;
        let f = freshness(
            ok,
            &headers(&[("cache-control", "public, max-age=30")]),
            &rule(),
        );
        assert_eq!(
            f,
            Some(Freshness {
                ttl_ms: 30_000,
                swr_ms: 5_000,
                sie_ms: 0
            })
        );
        // s-maxage beats max-age; the rule caps it.
        let f = freshness(
            ok,
            &headers(&[("cache-control", "max-age=1, s-maxage=600, stale-if-error=9")]),
            &rule(),
        )
        .unwrap();
        assert_eq!((f.ttl_ms, f.sie_ms), (60_000, 9_000));
        // No directive and no default → not stored.
        assert_eq!(freshness(ok, &HeaderMap::new(), &rule()), None);
        let mut with_default = rule();
        with_default.default_ttl_ms = 2_000;
        assert_eq!(
            freshness(ok, &HeaderMap::new(), &with_default)
                .unwrap()
                .ttl_ms,
            2_000
        );
    }

    #[test]
    fn never_stores_private_or_personal_responses() {
        let ok = StatusCode::OK;
        for h in [
            headers(&[("cache-control", "private, max-age=30")]),
            headers(&[("cache-control", "no-store")]),
            headers(&[("cache-control", "no-cache, max-age=30")]),
            headers(&[("cache-control", "max-age=30"), ("set-cookie", "a=b")]),
            headers(&[("cache-control", "max-age=30"), ("vary", "accept, *")]),
            headers(&[("cache-control", "max-age=0")]),
        ] {
            assert_eq!(freshness(ok, &h, &rule()), None, "{h:?}");
        }
        let h = headers(&[("cache-control", "max-age=30")]);
        assert_eq!(
            freshness(StatusCode::INTERNAL_SERVER_ERROR, &h, &rule()),
            None
        );
        assert_eq!(freshness(StatusCode::CREATED, &h, &rule()), None);
        assert!(freshness(StatusCode::NOT_FOUND, &h, &rule()).is_some());
    }

    #[test]
    fn requests_with_credentials_or_writes_bypass() {
        assert!(cacheable_request(&Method::GET, false));
        assert!(cacheable_request(&Method::HEAD, false));
        assert!(!cacheable_request(&Method::GET, true));
        assert!(!cacheable_request(&Method::POST, false));
    }

    #[test]
    fn keys_normalise_query_and_host() {
        assert_eq!(
            key(
                "Meridian.Test:8443",
                "/api/catalog/products",
                Some("sort=new&&category=x")
            ),
            "meridian.test /api/catalog/products?category=x&sort=new"
        );
        assert_eq!(key("localhost", "/p", Some("")), "localhost /p");
        assert_eq!(key("[::1]:8443", "/p", None), "[::1] /p");
        assert_eq!(key_path("h /p?a=1"), "/p?a=1");
    }

    #[test]
    fn longest_rule_wins() {
        let mut a = rule();
        a.prefix = "/api/catalog".into();
        let mut b = rule();
        b.prefix = "/api/catalog/products".into();
        let rules = [a, b];
        assert_eq!(rule_for(&rules, "/api/catalog/products/1"), Some(1));
        assert_eq!(rule_for(&rules, "/api/catalog/categories"), Some(0));
        assert!(rule_for(&rules, "/api/catalogue").is_none());
    }

    #[test]
    fn an_exact_rule_covers_its_path_only() {
        let mut home = rule();
        home.prefix = "/".into();
        home.exact = true;
        let mut products = rule();
        products.prefix = "/p".into();
        let rules = [home, products];
        assert_eq!(rule_for(&rules, "/"), Some(0));
        assert_eq!(rule_for(&rules, "/p/1"), Some(1));
        assert_eq!(rule_for(&rules, "/cart"), None);
        assert_eq!(rule_for(&rules, "/account/orders"), None);
    }
}
