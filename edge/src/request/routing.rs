//! Path → route, as pure functions.
//!
//! The table is compiled once per config load: routes sorted so the first
//! match is the most specific (deepest pattern, literal segments before
//! `{param}` ones, exact before prefix; with methods before without).
//! Matching allocates nothing.
//!
//! As in the origins' routers, the most specific *path* decides: routes of
//! the same depth that a more literal pattern shadows (`/orders/{id}` on
//! `/orders/quote`) are skipped, so a method the literal path does not
//! take falls through only to shallower prefixes, never sideways into a
//! parameter route with other rules (a signed-in one, say).

use http::{HeaderValue, Method};

use meridian_wire::labels;

use crate::config::{AuthMode, EdgeConfig, ErrorFormat, RouteEntry};
use crate::paths::PathPattern;

#[derive(Debug, Clone)]
pub struct Route {
    pub pattern: PathPattern,
    pub methods: Vec<Method>,
    pub auth: AuthMode,
    /// Body limit of this route, overriding `edge.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
    /// Bounded metrics label for the service (index into the wire
    /// contract's `labels::LABELS`).
    pub service: usize,
    /// Per-route origin timeout (read and write), overriding the default.
    pub timeout: Option<std::time::Duration>,
    /// Index into `rate_limit.groups`.
    pub rate_limit: Option<usize>,
    /// The edge's own errors here are HTML pages (a page route).
    pub html_errors: bool,
    /// A successful POST ends the presented session (sign-out).
    pub ends_session: bool,
    /// First in line for a region's slots (`upstream::Class::Critical`).
    pub critical: bool,
    /// Responses may be compressed (`[compression]` decides the rest).
    pub compress: bool,
    /// The route's compression threshold, overriding `compression.min_bytes`.
    pub compress_min_bytes: Option<u64>,
    /// `Allow` for a 405 at this prefix: the methods routes of this prefix
    /// declare, or what the edge proxies when none do.
    pub allow: HeaderValue,
}

/// What the table says of a request.
#[derive(Debug)]
pub enum Resolved<'a> {
    Route(&'a Route),
    /// The path is routed, not for this method: 405 with this `Allow`.
    MethodNotAllowed(&'a HeaderValue),
    NotFound,
}

/// Methods a route without a `methods` list takes. TRACE (it would echo
/// credentials back), CONNECT and unknown methods are refused at the edge,
/// before anything looks at credentials.
pub const PROXIED_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

fn allow_value(methods: &[Method]) -> HeaderValue {
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    // A GET route answers HEAD too (Pingora and the origins do).
    if names.contains(&"GET") && !names.contains(&"HEAD") {
        names.insert(
            names.iter().position(|m| *m == "GET").unwrap_or(0) + 1,
            "HEAD",
        );
    }
    names.dedup();
    HeaderValue::from_str(&names.join(", ")).expect("method names are tokens")
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// `groups` are the configured rate-limit group names, in order.
    pub fn new(entries: &[RouteEntry], groups: &[&str]) -> Self {
        let mut routes: Vec<Route> = entries
            .iter()
            .map(|e| Route {
                pattern: PathPattern::new(&e.prefix, e.exact),
                methods: e
                    .methods
                    .iter()
                    .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                    .collect(),
                auth: e.auth,
                max_body_bytes: e.max_body_bytes,
                service: labels::index(&e.service),
                timeout: e.timeout_ms.map(std::time::Duration::from_millis),
                rate_limit: e
                    .rate_limit
                    .as_deref()
                    .and_then(|g| groups.iter().position(|n| *n == g)),
                html_errors: e.errors == ErrorFormat::Html,
                ends_session: e.ends_session,
                critical: e.critical,
                compress: e.compress,
                compress_min_bytes: e.compress_min_bytes,
                allow: HeaderValue::from_static(""),
            })
            .collect();
        // A prefix's Allow: every method its method-restricted routes name.
        let allows: Vec<HeaderValue> = routes
            .iter()
            .map(|r| {
                if r.methods.is_empty() {
                    return allow_value(&PROXIED_METHODS);
                }
                let mut methods: Vec<Method> = routes
                    .iter()
                    .filter(|o| o.pattern == r.pattern)
                    .flat_map(|o| o.methods.iter().cloned())
                    .collect();
                methods.sort_by_key(|m| {
                    PROXIED_METHODS
                        .iter()
                        .position(|p| p == m)
                        .unwrap_or(PROXIED_METHODS.len())
                });
                methods.dedup();
                allow_value(&methods)
            })
            .collect();
        for (route, allow) in routes.iter_mut().zip(allows) {
            route.allow = allow;
        }
        routes.sort_by(|a, b| {
            b.pattern
                .specificity()
                .cmp(&a.pattern.specificity())
                .then_with(|| a.methods.is_empty().cmp(&b.methods.is_empty()))
        });
        Self { routes }
    }

    /// The table of a whole config (its routes and rate-limit groups).
    pub fn for_config(config: &EdgeConfig) -> Self {
        let groups: Vec<&str> = config
            .rate_limit
            .groups
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        Self::new(&config.routes, &groups)
    }

    pub fn find(&self, method: &Method, path: &str) -> Option<&Route> {
        match self.resolve(method, path) {
            Resolved::Route(r) => Some(r),
            _ => None,
        }
    }

    /// The most specific route for the request; a path some route covers
    /// but not for this method is a 405 (never a credential check first).
    pub fn resolve(&self, method: &Method, path: &str) -> Resolved<'_> {
        let mut allow = None;
        // The most specific pattern that covers the path.
        let mut winner: Option<&PathPattern> = None;
        for r in &self.routes {
            if !r.pattern.covers(path) {
                continue;
            }
            match winner {
                Some(w) if w.depth() == r.pattern.depth() && w.as_str() != r.pattern.as_str() => {
                    continue; // shadowed by a more literal path
                }
                None => winner = Some(&r.pattern),
                _ => {}
            }
            if r.methods.is_empty() {
                return if PROXIED_METHODS.contains(method) {
                    Resolved::Route(r)
                } else {
                    Resolved::MethodNotAllowed(allow.unwrap_or(&r.allow))
                };
            }
            // A GET route answers HEAD too (its Allow says so).
            if r.methods.contains(method)
                || (method == Method::HEAD && r.methods.contains(&Method::GET))
            {
                return Resolved::Route(r);
            }
            allow.get_or_insert(&r.allow);
        }
        allow.map_or(Resolved::NotFound, Resolved::MethodNotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(prefix: &str, methods: &[&str], auth: AuthMode) -> RouteEntry {
        RouteEntry {
            prefix: prefix.into(),
            exact: false,
            service: prefix.split('/').nth(2).unwrap().into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            auth,
            max_body_bytes: None,
            timeout_ms: None,
            rate_limit: None,
            errors: ErrorFormat::Json,
            ends_session: false,
            critical: false,
            compress: true,
            compress_min_bytes: None,
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
        assert_eq!(
            t.find(&get, "/api/auth/meow").unwrap().pattern.as_str(),
            "/api/auth"
        );
        assert_eq!(
            t.find(&get, "/api/auth").unwrap().pattern.as_str(),
            "/api/auth"
        );
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
            labels::LABELS[t.find(&Method::GET, p).unwrap().service],
            "catalog"
        );
    }

    #[test]
    fn undeclared_methods_are_405_with_allow() {
        let mut entries = vec![
            entry("/api/auth/me", &[], AuthMode::Required),
            entry("/api/orders/quote", &["POST"], AuthMode::None),
            entry("/api/cart/items", &["GET", "DELETE"], AuthMode::Required),
            entry("/api/cart/items", &["POST"], AuthMode::Required),
        ];
        entries.push(entry("/api/cart", &[], AuthMode::Required));
        let t = RouteTable::new(&entries, &[]);
        let allow =
            |m: &str, p: &str| match t.resolve(&Method::from_bytes(m.as_bytes()).unwrap(), p) {
                Resolved::MethodNotAllowed(v) => v.to_str().unwrap().to_owned(),
                Resolved::Route(r) => format!("route {}", r.pattern.as_str()),
                Resolved::NotFound => "404".to_owned(),
            };
        let any = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
        assert_eq!(allow("TRACE", "/api/auth/me"), any);
        assert_eq!(allow("PROPFIND", "/api/auth/me"), any);
        assert_eq!(allow("GET", "/api/auth/me"), "route /api/auth/me");
        assert_eq!(allow("GET", "/api/orders/quote"), "POST");
        assert_eq!(
            allow("POST", "/api/orders/quote"),
            "route /api/orders/quote"
        );
        // Method-restricted routes fall through to a generic one above them.
        assert_eq!(allow("PUT", "/api/cart/items"), "route /api/cart");
        assert_eq!(allow("TRACE", "/api/cart/items"), "GET, HEAD, POST, DELETE");
        assert_eq!(allow("GET", "/api/nothing"), "404");
    }

    #[test]
    fn parameter_routes_are_shadowed_by_literal_paths() {
        let exact = |prefix: &str, methods: &[&str], auth| RouteEntry {
            exact: true,
            ..entry(prefix, methods, auth)
        };
        let t = RouteTable::new(
            &[
                entry("/api/orders", &[], AuthMode::None),
                exact("/api/orders", &["GET"], AuthMode::Required),
                entry("/api/orders/quote", &["POST"], AuthMode::None),
                exact("/api/orders/{id}", &["GET"], AuthMode::Required),
                entry("/api/orders/{id}/sub-orders", &["POST"], AuthMode::Required),
            ],
            &[],
        );
        let at = |m: Method, p: &str| match t.resolve(&m, p) {
            Resolved::Route(r) => format!("{} {:?}", r.pattern.as_str(), r.auth),
            Resolved::MethodNotAllowed(v) => format!("405 {}", v.to_str().unwrap()),
            Resolved::NotFound => "404".to_owned(),
        };
        let id = "0190a8d0-0000-7000-8000-000000000001";
        assert_eq!(at(Method::GET, "/api/orders"), "/api/orders Required");
        assert_eq!(at(Method::HEAD, "/api/orders"), "/api/orders Required");
        assert_eq!(at(Method::POST, "/api/orders"), "/api/orders None");
        assert_eq!(
            at(Method::GET, &format!("/api/orders/{id}")),
            "/api/orders/{id} Required"
        );
        assert_eq!(
            at(Method::POST, "/api/orders/quote"),
            "/api/orders/quote None"
        );
        // Not the parameter route beside it: the literal path decides,
        // then the shallower prefix (the origin answers 405).
        assert_eq!(at(Method::GET, "/api/orders/quote"), "/api/orders None");
        assert_eq!(at(Method::PUT, "/api/orders/quote"), "/api/orders None");
        assert_eq!(
            at(Method::POST, &format!("/api/orders/{id}/sub-orders/2/ship")),
            "/api/orders/{id}/sub-orders Required"
        );
        assert_eq!(
            at(Method::GET, &format!("/api/orders/{id}/sub-orders/2/ship")),
            "/api/orders None"
        );
        assert_eq!(
            at(Method::TRACE, &format!("/api/orders/{id}")),
            "405 GET, HEAD"
        );
    }
}
