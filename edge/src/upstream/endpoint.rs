//! How the edge reaches one region's origin at its current address: the
//! proxy path's peer and the edge's own client, built together so they
//! always point at the same place.

use std::net::SocketAddr;
use std::time::Duration;

use pingora::upstreams::peer::HttpPeer;

use super::client::OriginClient;
use super::tls::OriginTls;
use crate::config::UpstreamConfig;

pub struct Endpoint {
    pub addr: SocketAddr,
    /// The edge's own calls (health checks, introspection, refreshes).
    pub api: OriginClient,
    /// Cloned per proxied request.
    pub(super) peer: HttpPeer,
}

impl Endpoint {
    pub(super) fn new(
        addr: SocketAddr,
        tls: Option<&OriginTls>,
        upstream: &UpstreamConfig,
    ) -> Result<Self, String> {
        let mut peer = match tls {
            Some(tls) => {
                let mut peer = HttpPeer::new(addr, true, tls.server_name.clone());
                peer.options.ca = Some(tls.ca.clone());
                peer.client_cert_key = Some(tls.client.clone());
                peer
            }
            None => HttpPeer::new(addr, false, String::new()),
        };
        peer.options.connection_timeout = Some(Duration::from_millis(upstream.connect_timeout_ms));
        peer.options.read_timeout = Some(Duration::from_millis(upstream.read_timeout_ms));
        peer.options.write_timeout = Some(Duration::from_millis(upstream.read_timeout_ms));
        peer.options.idle_timeout = Some(Duration::from_millis(upstream.idle_timeout_ms));
        Ok(Self {
            addr,
            api: OriginClient::new(addr, tls)?,
            peer,
        })
    }
}
