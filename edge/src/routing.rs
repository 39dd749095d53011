//! Path → route, as pure functions.
//!
//! The table is compiled once per config load: routes sorted so the first
//! match is the most specific (longest prefix; with methods before without).
//! Matching allocates nothing.

use http::Method;

use crate::config::{AuthMode, ErrorFormat, RouteEntry};

#[derive(Debug, Clone)]
pub struct Route {
    pub prefix: String,
    pub methods: Vec<Method>,
    pub auth: AuthMode,
    /// Body limit of this route, overriding `edge.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
    /// Bounded metrics label for the service (index into `SERVICE_LABELS`).
    pub service: usize,
    /// Per-route origin timeout (read and write), overriding the default.
    pub timeout: Option<std::time::Duration>,
    /// Index into `rate_limit.groups`.
    pub rate_limit: Option<usize>,
    /// The edge's own errors here are HTML pages (a page route).
    pub html_errors: bool,
    /// A successful POST ends the presented session (sign-out).
    pub ends_session: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// Whether `prefix` covers `path` on whole path segments.
pub fn segment_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

/// Rejects paths an origin or a later proxy might resolve differently from
/// us (dot segments, empty segments, encoded slashes or dots), so a route's
/// auth rule cannot be sidestepped with `/api/catalog/../auth/me`.
pub fn is_clean_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if path.contains('\\') {
        return false;
    }
    let encoded_separator = path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f' | b'e') | (b'5', b'c')
            )
    });
    if encoded_separator {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// Metrics labels for services: the bounded, known set, then `other` for
/// any other service name and `none` for requests no route matched.
pub const SERVICE_LABELS: [&str; 13] = [
    "storefront",
    "auth",
    "catalog",
    "cart",
    "orders",
    "payments",
    "reviews",
    "logistics",
    "sellers",
    "search",
    "analytics",
    "other",
    "none",
];
/// Index of `none` in `SERVICE_LABELS`.
pub const NO_SERVICE: usize = SERVICE_LABELS.len() - 1;

/// The metrics label index of a service name.
pub fn service_index(service: &str) -> usize {
    SERVICE_LABELS[..NO_SERVICE - 1]
        .iter()
        .position(|k| *k == service)
        .unwrap_or(NO_SERVICE - 1)
}

impl RouteTable {
    /// `groups` are the configured rate-limit group names, in order.
    pub fn new(entries: &[RouteEntry], groups: &[&str]) -> Self {
        let mut routes: Vec<Route> = entries
            .iter()
            .map(|e| Route {
                prefix: e.prefix.clone(),
                methods: e
                    .methods
                    .iter()
                    .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                    .collect(),
                auth: e.auth,
                max_body_bytes: e.max_body_bytes,
                service: service_index(&e.service),
                timeout: e.timeout_ms.map(std::time::Duration::from_millis),
                rate_limit: e
                    .rate_limit
                    .as_deref()
                    .and_then(|g| groups.iter().position(|n| *n == g)),
                html_errors: e.errors == ErrorFormat::Html,
                ends_session: e.ends_session,
            })
            .collect();
        routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then_with(|| a.methods.is_empty().cmp(&b.methods.is_empty()))
        });
        Self { routes }
    }

    pub fn find(&self, method: &Method, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            segment_prefix(path, &r.prefix) && (r.methods.is_empty() || r.methods.contains(method))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(prefix: &str, methods: &[&str], auth: AuthMode) -> RouteEntry {
        RouteEntry {
            prefix: prefix.into(),
            service: prefix.split('/').nth(2).unwrap().into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            auth,
            max_body_bytes: None,
            timeout_ms: None,
            rate_limit: None,
            errors: ErrorFormat::Json,
            ends_session: false,
        }
    }

    fn table() -> RouteTable {
        RouteTable::new(
            &[
                entry("/api/auth", &[], AuthMode::None),
                entry("/api/auth/me", &[], AuthMode::Required),
                entry("/api/catalog", &["POST", "PATCH"], AuthMode::Required),
                entry("/api/catalog", &[], AuthMode::None),
            ],
            &[],
        )
    }

    #[test]
    fn longest_prefix_wins_on_segment_boundaries() {
        let t = table();
        let get = Method::GET;
        assert_eq!(
            t.find(&get, "/api/auth/me").unwrap().auth,
            AuthMode::Required
        );
        assert_eq!(
            t.find(&get, "/api/auth/me/").unwrap().auth,
            AuthMode::Required
        );
        assert_eq!(
            t.find(&get, "/api/auth/login").unwrap().auth,
            AuthMode::None
        );
        assert_eq!(t.find(&get, "/api/auth/meow").unwrap().prefix, "/api/auth");
        assert_eq!(t.find(&get, "/api/auth").unwrap().prefix, "/api/auth");
        assert!(t.find(&get, "/api/authx").is_none());
        assert!(t.find(&get, "/api/orders/1").is_none());
        assert!(t.find(&get, "/").is_none());
    }

    #[test]
    fn method_specific_routes_beat_generic_ones() {
        let t = table();
        let p = "/api/catalog/products";
        assert_eq!(t.find(&Method::POST, p).unwrap().auth, AuthMode::Required);
        assert_eq!(t.find(&Method::GET, p).unwrap().auth, AuthMode::None);
        assert_eq!(
            SERVICE_LABELS[t.find(&Method::GET, p).unwrap().service],
            "catalog"
        );
        assert_eq!(SERVICE_LABELS[service_index("somethingelse")], "other");
    }

    #[test]
    fn unclean_paths_are_detected() {
        for ok in ["/", "/api/auth/me", "/api/catalog/products/", "/api/x%20y"] {
            assert!(is_clean_path(ok), "{ok}");
        }
        for bad in [
            "api",
            "/api/catalog/../auth/me",
            "/api/./auth",
            "/api//auth",
            "/api/%2e%2e/auth",
            "/api/catalog%2F..%2Fauth",
            "/api\\auth",
        ] {
            assert!(!is_clean_path(bad), "{bad}");
        }
    }
}
