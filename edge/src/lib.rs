//! Meridian's edge: the one front door, built on Pingora.
//!
//! Modules are layered, and imports point down only (a test checks that
//! no two sibling modules import each other, directly or round a circle):
//!
//! - pure leaves: `clock`, `paths`, `geo`, `coding`;
//! - `config`: the validated `edge.toml` (data only) and `metrics`;
//! - one group per phase of a request: `listen` (TLS, protocol checks,
//!   redirect), `request` (route, credentials, rate limits), `cache` and
//!   `compress`, `upstream` (regions, breakers, origin clients, retries);
//! - `state`: one config compiled into all of the above, swapped whole on
//!   reload;
//! - `proxy`: the `ProxyHttp` impl, a table of contents of a request that
//!   calls into the phases; `ops`: admin API, reloads, health checks,
//!   purge feed, metrics endpoint.
//!
//! What crosses to origins (header names, service labels, error bodies,
//! internal messages) is the `meridian-wire` crate's, shared with them.

pub mod cache;
pub mod clock;
pub mod coding;
pub mod compress;
pub mod config;
pub mod geo;
pub mod listen;
pub mod metrics;
pub mod ops;
pub mod paths;
pub mod proxy;
pub mod request;
pub mod state;
pub mod upstream;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use pingora::apps::HttpServerOptions;
use pingora::listeners::tls::TlsSettings;
use pingora::proxy::{http_proxy_service_with_name, HttpProxy};
use pingora::server::configuration::ServerConf;
use pingora::server::ShutdownWatch;
use pingora::services::listening::Service;
use pingora::services::Service as _;

use config::EdgeConfig;
use listen::redirect::Redirect;
use listen::tls::CertStore;
use metrics::EdgeMetrics;
use ops::admin::AdminApp;
use ops::health::HealthChecker;
use ops::metrics_app::MetricsApp;
use ops::purge_feed::PurgeFeed;
use ops::reload::Reloader;
use proxy::Edge;
use state::EdgeState;

/// Every service of a configured edge, not yet started.
pub struct EdgeApp {
    pub proxy: Service<HttpProxy<Edge>>,
    pub redirect: Option<Service<Redirect>>,
    pub metrics_endpoint: Option<Service<MetricsApp>>,
    pub admin: Option<Service<AdminApp>>,
    pub health: HealthChecker,
    pub purge_feed: PurgeFeed,
    pub reloader: Arc<Reloader>,
    pub certs: Arc<CertStore>,
    pub state: Arc<ArcSwap<EdgeState>>,
    pub metrics: Arc<EdgeMetrics>,
    /// The span exporter (`[tracing]`), flushed at shutdown.
    pub tracing: Option<Arc<meridian_telemetry::Pipeline>>,
}

/// rustls needs a process-wide crypto provider; installing twice is fine.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Pingora server settings derived from the config.
pub fn server_conf(config: &EdgeConfig) -> ServerConf {
    ServerConf {
        threads: config.listen.threads,
        work_stealing: config.listen.work_stealing,
        upgrade_sock: config.listen.upgrade_sock.display().to_string(),
        pid_file: config
            .listen
            .upgrade_sock
            .with_extension("pid")
            .display()
            .to_string(),
        grace_period_seconds: Some(5),
        graceful_shutdown_timeout_seconds: Some(10),
        ..ServerConf::default()
    }
}

/// Builds every service of an edge from `config`, loaded from `path` (which
/// reloads re-read).
pub fn build(config: &EdgeConfig, path: &Path) -> anyhow::Result<EdgeApp> {
    install_crypto_provider();
    let conf = Arc::new(server_conf(config));
    let metrics = Arc::new(EdgeMetrics::new());
    let state = Arc::new(ArcSwap::from_pointee(EdgeState::new(
        config, None, &metrics,
    )?));
    let certs = Arc::new(CertStore::load(&config.tls.certs).map_err(anyhow::Error::msg)?);
    let reloader = Arc::new(Reloader::new(
        path.to_owned(),
        state.clone(),
        certs.clone(),
        metrics.clone(),
    ));

    let tracing = config
        .tracing
        .as_ref()
        .map(|t| meridian_telemetry::Pipeline::start(&t.export(), "meridian-edge", Vec::new()))
        .transpose()
        .map_err(anyhow::Error::msg)?
        .map(Arc::new);
    let tracer = tracing.as_ref().map(|p| p.tracer("meridian-edge"));
    let edge = Edge::new(state.clone(), metrics.clone(), tracer);
    let mut proxy = http_proxy_service_with_name(&conf, edge, "meridian-edge");
    if let Some(app) = proxy.app_logic_mut() {
        let mut options = HttpServerOptions::default();
        // Set at the listener: a reload keeps the one it started with.
        options.h1_header_timeout = Some(std::time::Duration::from_millis(
            config.protocol.header_timeout_ms,
        ));
        // CONNECT reaches the route table, which answers 405 (JSON, with
        // Allow) instead of Pingora's bare one.
        options.allow_connect_method_proxying = true;
        app.server_options = Some(options);
    }
    let mut tls = TlsSettings::intermediate("", "").context("tls settings")?;
    tls.set_cert_resolver(certs.clone());
    tls.enable_h2();
    proxy.add_tls_with_settings(&config.listen.https.to_string(), None, tls);

    let redirect = config.listen.http.map(|addr| {
        let port = config
            .listen
            .public_https_port
            .unwrap_or(config.listen.https.port());
        let mut service = Service::new("http-redirect".to_owned(), Redirect { https_port: port });
        service.add_tcp(&addr.to_string());
        service
    });
    let metrics_endpoint = config.listen.metrics.map(|addr| {
        let app = MetricsApp {
            metrics: metrics.clone(),
            state: state.clone(),
        };
        let mut service = Service::new("metrics".to_owned(), app);
        service.add_tcp(&addr.to_string());
        service
    });
    let admin = config.admin.listen.map(|addr| {
        let app = AdminApp {
            state: state.clone(),
            reloader: reloader.clone(),
            metrics: metrics.clone(),
        };
        let mut service = Service::new("admin".to_owned(), app);
        service.add_tcp(&addr.to_string());
        service
    });
    Ok(EdgeApp {
        proxy,
        redirect,
        metrics_endpoint,
        admin,
        health: HealthChecker::new(state.clone()),
        purge_feed: PurgeFeed {
            state: state.clone(),
            metrics: metrics.clone(),
        },
        reloader,
        certs,
        state,
        metrics,
        tracing,
    })
}

/// Sends the spans still batched when the edge shuts down.
pub struct FlushSpans(pub Arc<meridian_telemetry::Pipeline>);

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for FlushSpans {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let _ = shutdown.changed().await;
        let pipeline = self.0.clone();
        let _ = tokio::task::spawn_blocking(move || pipeline.shutdown()).await;
    }
}

/// Reloads on every SIGHUP until shutdown.
pub async fn reload_on_sighup(reloader: Arc<Reloader>, mut shutdown: ShutdownWatch) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; reload through the admin API");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = hangups.recv() => {
                // The outcome is logged and counted by the reloader.
                let _ = reloader.reload().await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// SIGHUP handling as a Pingora background service.
pub struct SighupReload(pub Arc<Reloader>);

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for SighupReload {
    async fn start(&self, shutdown: ShutdownWatch) {
        reload_on_sighup(self.0.clone(), shutdown).await;
    }
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
            admin,
            health,
            purge_feed,
            tracing,
            ..
        } = self;
        if let Some(pipeline) = tracing {
            let flush = FlushSpans(pipeline);
            let s = shutdown.clone();
            tasks.spawn(async move {
                pingora::services::background::BackgroundService::start(&flush, s).await
            });
        }
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
        if let Some(mut admin) = admin {
            let s = shutdown.clone();
            tasks.spawn(async move { admin.start_service(None, s, 1).await });
        }
        let s = shutdown.clone();
        tasks.spawn(async move { purge_feed.run(s).await });
        tasks.spawn(async move { health.run(shutdown).await });
        // A service that panics (a listener that cannot bind) ends the
        // edge rather than leaving it half up; dropping the set stops the rest.
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    }
}
