//! Meridian's edge: the one front door, built on Pingora.
//!
//! One concern per module, composed in `proxy.rs`'s `ProxyHttp` impl.

pub mod apps;
pub mod config;
pub mod geo;
pub mod metrics;
pub mod proxy;
pub mod routing;
pub mod session;
pub mod state;
pub mod tls;
pub mod upstreams;

use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use pingora::listeners::tls::TlsSettings;
use pingora::proxy::{http_proxy_service_with_name, HttpProxy};
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;
use pingora::services::listening::Service;
use pingora::services::Service as _;

use config::EdgeConfig;
use metrics::EdgeMetrics;
use proxy::Edge;
use state::EdgeState;
use tls::CertStore;
use upstreams::{HealthChecker, Upstreams};

/// Every service of a configured edge, not yet started.
pub struct EdgeApp {
    pub proxy: Service<HttpProxy<Edge>>,
    pub redirect: Option<Service<apps::Redirect>>,
    pub metrics_endpoint: Option<Service<apps::MetricsApp>>,
    pub health: HealthChecker,
    pub certs: Arc<CertStore>,
    pub state: Arc<ArcSwap<EdgeState>>,
    pub metrics: Arc<EdgeMetrics>,
}

/// rustls needs a process-wide crypto provider; installing twice is fine.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Pingora server settings derived from the config.
pub fn server_conf(config: &EdgeConfig) -> ServerConf {
    ServerConf {
        threads: config.listen.threads,
        grace_period_seconds: Some(5),
        graceful_shutdown_timeout_seconds: Some(10),
        ..ServerConf::default()
    }
}

pub fn build(config: &EdgeConfig) -> anyhow::Result<EdgeApp> {
    install_crypto_provider();
    let conf = Arc::new(server_conf(config));
    let upstreams = Arc::new(Upstreams::new(&config.regions, &config.upstream));
    let metrics = Arc::new(EdgeMetrics::new(&upstreams.ids()));
    let state = Arc::new(ArcSwap::from_pointee(EdgeState::new(
        config,
        upstreams.clone(),
    )?));
    let certs = Arc::new(CertStore::load(&config.tls.certs).map_err(anyhow::Error::msg)?);

    let edge = Edge::new(state.clone(), metrics.clone());
    let mut proxy = http_proxy_service_with_name(&conf, edge, "meridian-edge");
    let mut tls = TlsSettings::intermediate("", "").context("tls settings")?;
    tls.set_cert_resolver(certs.clone());
    tls.enable_h2();
    proxy.add_tls_with_settings(&config.listen.https.to_string(), None, tls);

    let redirect = config.listen.http.map(|addr| {
        let port = config
            .listen
            .public_https_port
            .unwrap_or(config.listen.https.port());
        let mut service = Service::new(
            "http-redirect".to_owned(),
            apps::Redirect { https_port: port },
        );
        service.add_tcp(&addr.to_string());
        service
    });
    let metrics_endpoint = config.listen.metrics.map(|addr| {
        let mut service = Service::new(
            "metrics".to_owned(),
            apps::MetricsApp {
                metrics: metrics.clone(),
            },
        );
        service.add_tcp(&addr.to_string());
        service
    });
    let health = HealthChecker::new(upstreams, metrics.clone(), config.health.clone());
    Ok(EdgeApp {
        proxy,
        redirect,
        metrics_endpoint,
        health,
        certs,
        state,
        metrics,
    })
}

impl EdgeApp {
    /// Runs every service on the current tokio runtime until `shutdown`
    /// flips. The `edge` binary uses Pingora's `Server` instead; this is for
    /// embedding the edge (end-to-end tests).
    pub async fn run(self, shutdown: ShutdownWatch) {
        let mut tasks = tokio::task::JoinSet::new();
        let EdgeApp {
            mut proxy,
            redirect,
            metrics_endpoint,
            health,
            ..
        } = self;
        let s = shutdown.clone();
        tasks.spawn(async move { proxy.start_service(None, s, 1).await });
        if let Some(mut redirect) = redirect {
            let s = shutdown.clone();
            tasks.spawn(async move { redirect.start_service(None, s, 1).await });
        }
        if let Some(mut endpoint) = metrics_endpoint {
            let s = shutdown.clone();
            tasks.spawn(async move { endpoint.start_service(None, s, 1).await });
        }
        tasks.spawn(async move { health.run(shutdown).await });
        while tasks.join_next().await.is_some() {}
    }
}
