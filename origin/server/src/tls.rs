//! The origin's mutual-TLS listener (`tls` in the region file): HTTPS with
//! a required client certificate from the configured CA, so only the edge
//! (holding a certificate that CA signed) can reach the services.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ServerTls;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::sync::watch;

use crate::Origin;

/// Loads certificates and builds the server config; errors name the file.
pub fn server_config(tls: &ServerTls) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let read_certs = |path: &std::path::Path| -> anyhow::Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow::anyhow!("tls: {}: {e}", path.display()))?;
        anyhow::ensure!(!certs.is_empty(), "tls: {}: no certificate", path.display());
        Ok(certs)
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certs(&tls.client_ca)? {
        roots
            .add(ca)
            .map_err(|e| anyhow::anyhow!("tls.client_ca: {e}"))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| anyhow::anyhow!("tls.client_ca: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| anyhow::anyhow!("tls.key: {}: {e}", tls.key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("tls: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(read_certs(&tls.cert)?, key)
        .map_err(|e| anyhow::anyhow!("tls.cert: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `origin` over mutual TLS until `shutdown` resolves, then lets
/// open connections finish their requests (up to 10 s).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    origin: Origin,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(region = %origin.region, addr = %listener.local_addr()?, "origin listening (mutual TLS)");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let router = origin.router;
    let (closing, close) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (acceptor, router, mut close) = (acceptor.clone(), router.clone(), close.clone());
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
            let tls = match handshake.await {
                Ok(Ok(tls)) => tls,
                // No or a foreign client certificate: the handshake fails
                // and nothing reaches a service.
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => return,
            };
            let builder = Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(tls),
                TowerToHyperService::new(router),
            );
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { close.wait_for(|c| *c).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = closing.send(true);
    drop(close);
    let _ = tokio::time::timeout(Duration::from_secs(10), closing.closed()).await;
    Ok(())
}
