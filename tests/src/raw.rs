//! A raw TLS connection to the edge, for what an HTTP client library will
//! not send: no `Host`, header lines trickled over seconds, a whole body
//! written before the answer is read.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::Cluster;

/// A TLS connection to the cluster's edge as `localhost`, HTTP/1.1 only.
pub async fn connect(cluster: &Cluster) -> TlsStream<TcpStream> {
    meridian_edge::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&cluster.ca_pem) {
        roots.add(cert.expect("the test CA is PEM")).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(cluster.https).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the edge")
}

/// Everything the edge sends until it closes (or `within` passes), as text.
pub async fn read_all(stream: &mut TlsStream<TcpStream>, within: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request written in full, then the whole answer.
pub async fn exchange(cluster: &Cluster, request: &[u8]) -> String {
    let mut stream = connect(cluster).await;
    stream.write_all(request).await.unwrap();
    read_all(&mut stream, Duration::from_secs(10)).await
}

/// The status of a raw HTTP/1.1 answer (`HTTP/1.1 413 …` → 413).
pub fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
