//! The edge's own HTTP client for one origin.

use std::net::SocketAddr;

use super::tls::OriginTls;

/// The edge's own HTTP calls to one region's origin (health checks,
/// credential introspection, background cache refreshes), over mTLS when
/// the proxy path uses it.
#[derive(Clone)]
pub struct OriginClient {
    pub client: reqwest::Client,
    /// `http://addr` or `https://<server name>:port` (resolved to addr).
    pub base: String,
}

impl OriginClient {
    pub(super) fn new(origin: SocketAddr, tls: Option<&OriginTls>) -> Result<Self, String> {
        let builder = reqwest::Client::builder().pool_max_idle_per_host(4);
        Ok(match tls {
            None => Self {
                client: builder.build().map_err(|e| e.to_string())?,
                base: format!("http://{origin}"),
            },
            Some(tls) => Self {
                client: builder
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(tls.pem.0.clone())
                    .identity(tls.pem.1.clone())
                    .resolve(&tls.server_name, origin)
                    .build()
                    .map_err(|e| format!("upstream.tls: {e}"))?,
                base: format!("https://{}:{}", tls.server_name, origin.port()),
            },
        })
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }
}
