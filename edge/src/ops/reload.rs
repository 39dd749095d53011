//! Live reloads of the config file and certificates (SIGHUP or
//! `POST /admin/reload`).
//!
//! The file is read, validated in full and compiled into a new state and a
//! new certificate set off the request path; only then are both swapped in
//! (two pointer stores). Requests in flight keep the snapshot they started
//! with; new ones and new TLS handshakes see the new one. Anything invalid
//! leaves the running config untouched and says why.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::unix_secs;
use crate::config::EdgeConfig;
use crate::listen::tls::{self, CertStore};
use crate::metrics::EdgeMetrics;
use crate::state::EdgeState;

pub struct Reloader {
    path: PathBuf,
    state: Arc<ArcSwap<EdgeState>>,
    certs: Arc<CertStore>,
    metrics: Arc<EdgeMetrics>,
    /// One reload at a time (a signal and an API call may race).
    running: tokio::sync::Mutex<()>,
}

/// What a successful reload installed.
#[derive(Debug, serde::Serialize)]
pub struct Reloaded {
    pub regions: usize,
    pub routes: usize,
    pub certificates: usize,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        state: Arc<ArcSwap<EdgeState>>,
        certs: Arc<CertStore>,
        metrics: Arc<EdgeMetrics>,
    ) -> Self {
        metrics.config_loaded_at.set(unix_secs());
        Self {
            path,
            state,
            certs,
            metrics,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// The config file and every file the running config reads.
    pub fn files(&self) -> Vec<PathBuf> {
        let state = self.state.load();
        std::iter::once(self.path.clone())
            .chain(state.config.files().into_iter().map(PathBuf::from))
            .collect()
    }

    pub async fn reload(&self) -> Result<Reloaded, String> {
        let _one = self.running.lock().await;
        let path = self.path.clone();
        let current = self.state.load_full();
        let metrics = self.metrics.clone();
        // File reads and certificate parsing stay off the proxy's threads.
        let built = tokio::task::spawn_blocking(move || prepare(&path, &current, &metrics))
            .await
            .map_err(|e| format!("reload task failed: {e}"))?;
        match built {
            Ok((state, certs)) => {
                let summary = Reloaded {
                    regions: state.upstreams.len(),
                    routes: state.config.routes.len(),
                    certificates: state.config.tls.certs.len(),
                };
                self.certs.install(certs);
                self.state.store(Arc::new(state));
                self.metrics.record_reload(true);
                self.metrics.config_loaded_at.set(unix_secs());
                tracing::info!(file = %self.path.display(), regions = summary.regions, routes = summary.routes, "configuration reloaded");
                Ok(summary)
            }
            Err(message) => {
                self.metrics.record_reload(false);
                tracing::warn!(file = %self.path.display(), error = %message, "reload rejected; the running configuration stays");
                Err(message)
            }
        }
    }
}

fn prepare(
    path: &std::path::Path,
    current: &EdgeState,
    metrics: &EdgeMetrics,
) -> Result<(EdgeState, tls::CertSet), String> {
    let config = EdgeConfig::load(path).map_err(|e| e.to_string())?;
    let file = path.display();
    // Sockets are bound once; moving them takes a graceful upgrade.
    if config.listen != current.config.listen {
        return Err(format!(
            "{file}: listen: listeners cannot change on reload (restart or upgrade the edge)"
        ));
    }
    // The exporter is the process's (its runtime, batches and sampler):
    // only whom the edge believes a traceparent from changes live.
    let exporter = |c: &EdgeConfig| c.tracing.as_ref().map(|t| t.export());
    if exporter(&config) != exporter(&current.config) {
        return Err(format!(
            "{file}: tracing: the exporter (on/off, endpoint, sample_ratio, service_name) \
             cannot change on reload (restart or upgrade the edge); trusted_sources can"
        ));
    }
    if config.admin.listen != current.config.admin.listen {
        return Err(format!(
            "{file}: admin.listen: the admin listener cannot change on reload"
        ));
    }
    let certs = tls::build(&config.tls.certs).map_err(|e| format!("{file}: tls.certs: {e}"))?;
    let state =
        EdgeState::new(&config, Some(current), metrics).map_err(|e| format!("{file}: {e:#}"))?;
    Ok((state, certs))
}
