//! `[protocol]`: limits on what clients send, as nginx's
//! `large_client_header_buffers`, `client_header_timeout`,
//! `client_body_timeout`, lingering close and `server_name` give operators.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Longest request target (path and query, bytes); longer → 414.
    #[serde(default = "default_max_uri")]
    pub max_uri_bytes: usize,
    /// Largest request header block (names and values, bytes); larger → 431.
    #[serde(default = "default_max_header")]
    pub max_header_bytes: usize,
    /// A request header must arrive whole within this time of its first
    /// byte (HTTP/1.1); past it the connection is answered 408 and closed,
    /// so a client trickling header lines cannot hold a connection open.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// A request body must keep arriving at this average rate (bytes/s),
    /// measured after `body_grace_ms`; slower → 408. 0: no minimum.
    #[serde(default = "default_body_min_rate")]
    pub body_min_rate: u64,
    #[serde(default = "default_body_grace")]
    pub body_grace_ms: u64,
    /// Longest wait for the next piece of a request body.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_ms: u64,
    /// After refusing a body (413) the edge reads and drops up to this much
    /// of it, for up to `linger_ms`, so a client that sends the whole body
    /// before reading gets the answer instead of a reset connection.
    #[serde(default = "default_linger_bytes")]
    pub linger_bytes: u64,
    #[serde(default = "default_linger")]
    pub linger_ms: u64,
    /// Host names this edge answers for (without port; `*.example.com`
    /// covers its subdomains). Empty: any; else another
    /// `Host`/`:authority` is answered 421.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            max_uri_bytes: default_max_uri(),
            max_header_bytes: default_max_header(),
            header_timeout_ms: default_header_timeout(),
            body_min_rate: default_body_min_rate(),
            body_grace_ms: default_body_grace(),
            body_read_timeout_ms: default_body_read_timeout(),
            linger_bytes: default_linger_bytes(),
            linger_ms: default_linger(),
            hosts: Vec::new(),
        }
    }
}

impl ProtocolConfig {
    /// `(key, message)` of the first invalid setting.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let invalid = |key: &str, message: &str| Err((format!("protocol.{key}"), message.into()));
        if self.max_uri_bytes < 256 {
            return invalid("max_uri_bytes", "must be at least 256");
        }
        if self.max_header_bytes < 1024 {
            return invalid("max_header_bytes", "must be at least 1024");
        }
        if self.header_timeout_ms == 0 || self.body_read_timeout_ms == 0 {
            return invalid("header_timeout_ms", "timeouts must be above 0");
        }
        for (i, host) in self.hosts.iter().enumerate() {
            let name = host
                .strip_prefix("*.")
                .unwrap_or(host)
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            let ipv6 = host.starts_with('[') && host.ends_with(']');
            if host.is_empty() || !(name || ipv6) {
                return invalid(
                    &format!("hosts[{i}]"),
                    "a host name, without port or scheme",
                );
            }
        }
        Ok(())
    }
}

fn default_max_uri() -> usize {
    8 * 1024
}
fn default_max_header() -> usize {
    // nginx's four 8 KiB buffers.
    32 * 1024
}
fn default_header_timeout() -> u64 {
    10_000
}
fn default_body_min_rate() -> u64 {
    // Slower than any phone on a bad network, far faster than a slowloris.
    1024
}
fn default_body_grace() -> u64 {
    5_000
}
fn default_body_read_timeout() -> u64 {
    10_000
}
fn default_linger_bytes() -> u64 {
    4 << 20
}
fn default_linger() -> u64 {
    5_000
}
