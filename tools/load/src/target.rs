//! Where the load goes: only this machine or a lab it built. A load
//! generator pointed at someone else's address is an attack, so the base URL
//! must name a loopback address (127.0.0.0/8, ::1, `localhost`) or a private
//! lab address (10.0.0.0/8, where `deploy/lab` puts its namespaces).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

/// The base URL, checked: scheme http(s), a host that is loopback or lab.
pub fn check_base(base: &str) -> anyhow::Result<String> {
    let base = base.trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .with_context(|| format!("--base {base:?}: must start with https:// or http://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if rest.len() != authority.len() {
        bail!("--base {base:?}: give the origin only (scheme, host, port), no path");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if !allowed_host(host) {
        bail!(
            "--base {base:?}: {host:?} is neither loopback (127.0.0.0/8, ::1, localhost) \
             nor a lab address (10.0.0.0/8); meridian-load sends load only there"
        );
    }
    Ok(base.to_owned())
}

fn allowed_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback() || v4.octets()[0] == 10,
        Ok(IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => false,
    }
}

/// The shoppers' connections: `n` HTTP clients, each its own connection
/// pool, so each keeps one connection to the edge (h2 over https). Shoppers
/// arrive on their own connections, not all on one: the edge, like any h2
/// server, lets one connection carry 100 requests at a time, and a run of
/// thousands of sessions over a single client queued in that client with the
/// cores idle (docs/performance.md, "The whole mix"). Each trusts `ca` for
/// https, times every request out after `timeout`, keeps no cookies
/// (sessions go as bearer tokens, as the API's clients send them).
pub fn clients(
    ca: Option<&Path>,
    timeout: Duration,
    n: usize,
) -> anyhow::Result<Vec<reqwest::Client>> {
    let cert = match ca {
        Some(ca) => {
            let pem = std::fs::read(ca).with_context(|| format!("--ca {}", ca.display()))?;
            Some(
                reqwest::Certificate::from_pem(&pem)
                    .with_context(|| format!("--ca {}: not a PEM certificate", ca.display()))?,
            )
        }
        None => None,
    };
    (0..n.max(1))
        .map(|_| {
            let mut builder = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(3))
                .pool_max_idle_per_host(1024)
                .user_agent("meridian-load");
            if let Some(cert) = &cert {
                builder = builder.add_root_certificate(cert.clone());
            }
            Ok(builder.build()?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_lab_addresses_are_targets() {
        for ok in [
            "https://localhost:8443",
            "https://127.0.0.1:8443/",
            "http://127.9.0.1",
            "https://[::1]:8443",
            "https://10.77.0.2:8443",
        ] {
            assert!(check_base(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            check_base("https://127.0.0.1:8443/").unwrap(),
            "https://127.0.0.1:8443"
        );
        for bad in [
            "https://example.com",
            "https://192.168.1.5",
            "https://8.8.8.8:443",
            "ftp://127.0.0.1",
            "https://127.0.0.1:8443/api",
            "https://[2001:db8::1]",
            "127.0.0.1:8443",
        ] {
            assert!(check_base(bad).is_err(), "{bad}");
        }
    }
}
