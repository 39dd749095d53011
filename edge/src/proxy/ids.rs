//! Request identity: ids unique across edges and restarts, and the
//! client's address as a header value.

use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;

/// Request ids: a random per-process prefix and a counter, hex-encoded.
/// Unique across restarts and edges without a syscall or lock per request.
pub(super) struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    pub(super) fn new() -> Self {
        Self {
            prefix: rand::random(),
            counter: AtomicU64::new(0),
        }
    }

    pub(super) fn next(&self) -> HeaderValue {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 32];
        for (i, byte) in self
            .prefix
            .to_be_bytes()
            .iter()
            .chain(n.to_be_bytes().iter())
            .enumerate()
        {
            buf[2 * i] = HEX[(byte >> 4) as usize];
            buf[2 * i + 1] = HEX[(byte & 0xf) as usize];
        }
        HeaderValue::from_bytes(&buf).expect("hex is a valid header value")
    }
}

/// An address as a header value; IPv4 (the common case) is formatted by
/// hand, which costs a tenth of `Display`.
pub(super) fn ip_header(ip: std::net::IpAddr) -> HeaderValue {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut buf = [0u8; 15];
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    buf[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    buf[n] = b'0' + octet / 10 % 10;
                    n += 1;
                }
                buf[n] = b'0' + octet % 10;
                n += 1;
            }
            HeaderValue::from_bytes(&buf[..n]).expect("digits and dots are a valid header value")
        }
        std::net::IpAddr::V6(v6) => {
            HeaderValue::from_str(&v6.to_string()).expect("an IPv6 address is a valid header value")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_format_like_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.3.255",
            "192.168.100.9",
            "::1",
            "2001:db8::7",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_header(ip).to_str().unwrap(), ip.to_string());
        }
    }

    #[test]
    fn request_ids_are_unique_hex() {
        let ids = RequestIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.to_str().unwrap().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
