//! TLS certificates by SNI name, swappable at run time.
//!
//! The resolver holds the current set behind an `ArcSwap`: a handshake reads
//! it lock-free, and a reload validates every file first, then swaps the
//! whole set at once, so new connections get the new certificate and a bad
//! file leaves the old ones serving.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::CertEntry;

/// A loaded, validated set of certificates, ready to install.
#[derive(Debug)]
pub struct CertSet {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<CertSet>,
}

fn load_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("{} does not match {}: {e}", key.display(), cert.display()))?;
    Ok(Arc::new(certified))
}

pub fn build(entries: &[CertEntry]) -> Result<CertSet, String> {
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    let mut default = None;
    for entry in entries {
        let key = load_key(&entry.cert, &entry.key)?;
        default.get_or_insert_with(|| key.clone());
        for name in &entry.names {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(base) => wildcard.insert(base.to_owned(), key.clone()),
                None => exact.insert(name, key.clone()),
            };
        }
    }
    Ok(CertSet {
        exact,
        wildcard,
        default: default.ok_or("tls.certs: at least one certificate is required")?,
    })
}

impl CertStore {
    pub fn load(entries: &[CertEntry]) -> Result<Self, String> {
        Ok(Self {
            current: ArcSwap::from_pointee(build(entries)?),
        })
    }

    /// Installs a set built (and so validated) by `build`; handshakes that
    /// start afterwards use it.
    pub fn install(&self, set: CertSet) {
        self.current.store(Arc::new(set));
    }

    fn lookup(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let set = self.current.load();
        if let Some(name) = server_name {
            let name = name.to_ascii_lowercase();
            if let Some(key) = set.exact.get(&name) {
                return key.clone();
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(key) = set.wildcard.get(parent) {
                    return key.clone();
                }
            }
        }
        set.default.clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.lookup(hello.server_name()))
    }
}
