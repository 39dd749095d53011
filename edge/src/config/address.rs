//! A region's origin address as the config names it: an IP address and
//! port, or a DNS name and port (a Kubernetes Service, a load balancer).
//!
//! Names are checked for shape here and resolved by the health checker,
//! not at load: `edge --check` runs where the names do not resolve (CI, an
//! operator's laptop), a reload never blocks on DNS, and an origin whose
//! address changes (a Service recreated, a failover record) is followed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OriginAddr {
    Ip(SocketAddr),
    Name { host: String, port: u16 },
}

impl OriginAddr {
    /// The address when it needs no lookup.
    pub fn literal(&self) -> Option<SocketAddr> {
        match self {
            OriginAddr::Ip(addr) => Some(*addr),
            OriginAddr::Name { .. } => None,
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            OriginAddr::Ip(addr) => addr.port(),
            OriginAddr::Name { port, .. } => *port,
        }
    }
}

impl std::str::FromStr for OriginAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(OriginAddr::Ip(addr));
        }
        let shape = "must be host:port (an IP address or a DNS name, and a port)";
        let (host, port) = s.rsplit_once(':').ok_or(shape)?;
        let port: u16 = port.parse().map_err(|_| shape)?;
        if port == 0 {
            return Err("the port must not be 0".into());
        }
        if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
            // An IP that did not parse with its port above (e.g. an IPv6
            // address without brackets).
            return Err("an IPv6 address needs brackets: [addr]:port".into());
        }
        if !is_dns_name(host) {
            return Err(format!(
                "{host:?} is not a DNS name (labels of letters, digits and '-', at most 63 each)"
            ));
        }
        Ok(OriginAddr::Name {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// RFC 1123 host names: dot-separated labels of letters, digits and
/// hyphens, none starting or ending with a hyphen; a trailing dot (fully
/// qualified) is allowed.
fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        // All digits would be a malformed IPv4 address, not a name.
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl fmt::Display for OriginAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginAddr::Ip(addr) => addr.fmt(f),
            OriginAddr::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl<'de> Deserialize<'de> for OriginAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_parse_and_print_back() {
        for (input, printed) in [
            ("127.0.0.1:7101", "127.0.0.1:7101"),
            ("[::1]:7101", "[::1]:7101"),
            ("origin-portland:7100", "origin-portland:7100"),
            (
                "Origin-Portland.meridian.svc.cluster.local:7100",
                "origin-portland.meridian.svc.cluster.local:7100",
            ),
            ("origin.example.com.:443", "origin.example.com.:443"),
        ] {
            let addr: OriginAddr = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(addr.to_string(), printed, "{input}");
        }
        assert!("10.0.0.1:80"
            .parse::<OriginAddr>()
            .unwrap()
            .literal()
            .is_some());
        assert!("origin:80"
            .parse::<OriginAddr>()
            .unwrap()
            .literal()
            .is_none());
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_reason() {
        for (input, reason) in [
            ("origin-portland", "host:port"),
            ("origin:", "host:port"),
            ("origin:http", "host:port"),
            ("origin:70000", "host:port"),
            ("origin:0", "port must not be 0"),
            ("::1:7101", "brackets"),
            ("[::1]", "host:port"),
            ("bad_name:80", "not a DNS name"),
            ("-lead.example:80", "not a DNS name"),
            ("a..b:80", "not a DNS name"),
            ("256.1.1.1:80", "not a DNS name"),
            (":80", "not a DNS name"),
            ("http://origin:80", "not a DNS name"),
        ] {
            let err = input.parse::<OriginAddr>().unwrap_err();
            assert!(err.contains(reason), "{input}: {err}");
        }
        let long = format!("{}:80", "a".repeat(64));
        assert!(long.parse::<OriginAddr>().is_err());
    }
}
