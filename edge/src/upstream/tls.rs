//! mTLS from the edge to origins: the CA that signs origin certificates
//! and the edge's client certificate, read once per config and shared by
//! the proxy path (Pingora) and the edge's own calls (reqwest).

use std::sync::Arc;

/// The mTLS material for origin connections, loaded once per config.
pub struct OriginTls {
    pub(super) ca: Arc<pingora::protocols::tls::CaType>,
    pub(super) client: Arc<pingora::utils::tls::CertKey>,
    pub(super) server_name: String,
    /// The same material for the edge's own calls (health, introspection,
    /// cache refreshes).
    pub(super) pem: (reqwest::Certificate, reqwest::Identity),
}

impl OriginTls {
    /// Reads each PEM file once; the proxy path (Pingora) and the edge's
    /// own client (reqwest) both use those bytes.
    pub fn load(config: &crate::config::UpstreamTls) -> Result<Self, String> {
        use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("upstream.tls: {}: {e}", path.display()))
        };
        let certs_of = |pem: &[u8], path: &std::path::Path| -> Result<Vec<Vec<u8>>, String> {
            let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("upstream.tls: {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("upstream.tls: {}: no certificate", path.display()));
            }
            Ok(certs)
        };
        let (ca_pem, cert_pem, key_pem) =
            (read(&config.ca)?, read(&config.cert)?, read(&config.key)?);
        let ca: Vec<WrappedX509> = certs_of(&ca_pem, &config.ca)?
            .into_iter()
            .map(|raw| WrappedX509::new(raw, parse_x509))
            .collect();
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("upstream.tls.key: {}: {e}", config.key.display()))?;
        let client = CertKey::new(
            certs_of(&cert_pem, &config.cert)?,
            key.secret_der().to_vec(),
        );
        let identity = [cert_pem.as_slice(), key_pem.as_slice()].concat();
        let pem = (
            reqwest::Certificate::from_pem(&ca_pem).map_err(|e| format!("upstream.tls.ca: {e}"))?,
            reqwest::Identity::from_pem(&identity)
                .map_err(|e| format!("upstream.tls.cert: {e}"))?,
        );
        Ok(Self {
            pem,
            ca: Arc::from(ca.into_boxed_slice()),
            client: Arc::new(client),
            server_name: config.server_name.clone(),
        })
    }
}
