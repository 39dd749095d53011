//! Request hygiene before routing, as pure functions: the host a request
//! names, whether the edge answers for it, whether it is a development
//! name (no HSTS there), and the size of the header block.

use std::time::Duration;

use pingora::http::RequestHeader;

use crate::config::ProtocolConfig;

/// `[protocol]`, compiled once per config load.
#[derive(Debug, Clone)]
pub struct Protocol {
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
    pub header_timeout: Duration,
    pub body_min_rate: u64,
    pub body_grace: Duration,
    pub body_read_timeout: Duration,
    pub linger_bytes: u64,
    pub linger: Duration,
    /// Lowercased; empty: any host.
    hosts: Vec<Box<str>>,
}

/// Why a request is refused before routing: (status, code, message).
pub type Refusal = (u16, &'static str, &'static str);

impl Protocol {
    pub fn new(c: &ProtocolConfig) -> Self {
        Self {
            max_uri_bytes: c.max_uri_bytes,
            max_header_bytes: c.max_header_bytes,
            header_timeout: Duration::from_millis(c.header_timeout_ms),
            body_min_rate: c.body_min_rate,
            body_grace: Duration::from_millis(c.body_grace_ms),
            body_read_timeout: Duration::from_millis(c.body_read_timeout_ms),
            linger_bytes: c.linger_bytes,
            linger: Duration::from_millis(c.linger_ms),
            hosts: c
                .hosts
                .iter()
                .map(|h| h.to_ascii_lowercase().into())
                .collect(),
        }
    }

    /// The checks every request passes before routing, cheapest first.
    /// `Ok(host)` hands back the host the request names (no port).
    pub fn check<'r>(&self, req: &'r RequestHeader) -> Result<&'r str, Refusal> {
        let target = req.uri.path_and_query().map_or(0, |p| p.as_str().len());
        if target > self.max_uri_bytes {
            return Err((414, "uri_too_long", "the request target is too long"));
        }
        if header_bytes(req) > self.max_header_bytes {
            return Err((
                431,
                "headers_too_large",
                "the request headers are too large",
            ));
        }
        let Some(host) = host_of(req) else {
            // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1
            // request without Host.
            return Err((400, "missing_host", "the request names no host"));
        };
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| host_matches(h, host)) {
            return Err((
                421,
                "misdirected_request",
                "this server does not answer for that host",
            ));
        }
        Ok(host)
    }
}

/// `pattern` is lowercase: a name, or `*.name` for its subdomains.
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            host.len() > suffix.len()
                && host.as_bytes()[host.len() - suffix.len()..]
                    .eq_ignore_ascii_case(suffix.as_bytes())
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// Names and values of every header, as nginx counts its header buffers.
fn header_bytes(req: &RequestHeader) -> usize {
    req.headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// The host a request names, without port: `Host`, else the target's
/// authority (HTTP/2's `:authority`). `None` when an HTTP/1.1 request
/// has neither; HTTP/1.0 requests may omit it (`Some("")`).
pub fn host_of(req: &RequestHeader) -> Option<&str> {
    let raw = req
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()));
    match raw {
        Some(raw) => Some(strip_port(raw)),
        None if req.version <= http::Version::HTTP_10 => Some(""),
        None => None,
    }
}

fn strip_port(authority: &str) -> &str {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.split_once(':').map_or(host, |(h, _)| h)
}

/// `localhost`, `*.localhost` and IP literals: names HSTS must not stick
/// to on a developer's browser.
pub fn is_dev_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case("localhost")
        || host
            .get(host.len().saturating_sub(10)..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".localhost"))
        || host.parse::<std::net::Ipv4Addr>().is_ok()
        || (host.starts_with('[') && host.ends_with(']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(version: http::Version, target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        r.set_version(version);
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn protocol(hosts: &[&str]) -> Protocol {
        Protocol::new(&ProtocolConfig {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..ProtocolConfig::default()
        })
    }

    #[test]
    fn hosts_come_from_host_or_the_authority() {
        use http::Version;
        let h11 = |headers: &[(&str, &str)]| {
            host_of(&req(Version::HTTP_11, "/", headers)).map(str::to_owned)
        };
        assert_eq!(
            h11(&[("host", "Shop.Example:8443")]).as_deref(),
            Some("Shop.Example")
        );
        assert_eq!(h11(&[("host", "[::1]:443")]).as_deref(), Some("[::1]"));
        assert_eq!(h11(&[]), None);
        let mut h2 = req(Version::HTTP_2, "/x", &[]);
        h2.set_uri(http::Uri::from_static("https://shop.example/x"));
        assert_eq!(host_of(&h2), Some("shop.example"));
        assert_eq!(host_of(&req(Version::HTTP_10, "/", &[])), Some(""));
    }

    #[test]
    fn refusals_name_their_status() {
        const HTTP_11: http::Version = http::Version::HTTP_11;
        let p = protocol(&["shop.example", "localhost", "*.meridian.test"]);
        for (host, ok) in [
            ("sell.meridian.test", true),
            ("a.b.meridian.test", true),
            ("meridian.test", false),
            ("xmeridian.test", false),
        ] {
            assert_eq!(
                p.check(&req(HTTP_11, "/", &[("host", host)])).is_ok(),
                ok,
                "{host}"
            );
        }
        let host = [("host", "shop.example")];
        assert_eq!(p.check(&req(HTTP_11, "/", &host)), Ok("shop.example"));
        assert_eq!(
            p.check(&req(HTTP_11, "/", &[("host", "LOCALHOST:9443")])),
            Ok("LOCALHOST")
        );
        let status = |r: RequestHeader| p.check(&r).map_err(|e| e.0).err();
        assert_eq!(status(req(HTTP_11, "/", &[])), Some(400));
        assert_eq!(
            status(req(HTTP_11, "/", &[("host", "evil.example")])),
            Some(421)
        );
        let long = format!("/{}", "a".repeat(9000));
        assert_eq!(status(req(HTTP_11, &long, &host)), Some(414));
        let cookie = "c".repeat(40_000);
        assert_eq!(
            status(req(HTTP_11, "/", &[host[0], ("cookie", &cookie)])),
            Some(431)
        );
        assert_eq!(
            protocol(&[]).check(&req(HTTP_11, "/", &[("host", "any.example")])),
            Ok("any.example")
        );
    }

    #[test]
    fn dev_names_are_localhost_and_ip_literals() {
        for dev in [
            "localhost",
            "LOCALHOST",
            "shop.localhost",
            "127.0.0.1",
            "[::1]",
            "localhost.",
        ] {
            assert!(is_dev_host(dev), "{dev}");
        }
        for public in ["shop.example", "localhost.example", "mylocalhost", ""] {
            assert!(!is_dev_host(public), "{public}");
        }
    }
}
