//! One region's origin: every service of Meridian in one process, plus the
//! health, readiness and metrics endpoints the edge and Prometheus use.

use std::future::Future;

use axum::Router;
use meridian_common::events::{EventBus, RelayMetrics};
use meridian_common::internal::InternalSecret;
use meridian_common::metrics::Metrics;

use crate::config::RegionConfig;

mod changes;
pub mod config;
mod consumers;
mod events;
mod keep_alive;
pub mod openapi;
mod routes;
mod services;
mod stores;
pub mod tls;

/// Largest request body an origin accepts; the edge enforces the same bound.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A built origin, ready to serve.
pub struct Origin {
    pub router: Router,
    pub region: String,
    /// Everything the region's services published (embedded event path).
    pub events: EventBus,
}

/// Connects the configured stores, seeds demo data where configured,
/// builds every service and their router, and starts the event path.
pub async fn build(config: &RegionConfig) -> anyhow::Result<Origin> {
    let stores = stores::Stores::connect(config).await?;
    if config.catalog.demo_data {
        let seeded = meridian_catalog::demo::seed_if_empty(stores.products.as_ref()).await?;
        if seeded > 0 {
            tracing::info!(products = seeded, "seeded demo catalog");
        }
        meridian_sellers::demo::seed_if_empty(stores.sellers.as_ref()).await?;
    }
    let indexed =
        consumers::index_catalog(stores.products.as_ref(), stores.search.as_ref()).await?;
    tracing::debug!(products = indexed, "search index built");

    // Embedded event path: each service's outbox drains into the in-process
    // bus (Kafka first, in production); projections follow the bus.
    let bus = EventBus::new();
    let change_feed = changes::ChangeFeed::spawn(&bus);
    consumers::spawn_rating_projection(&bus, stores.products.clone());
    consumers::spawn_search_projection(&bus, stores.products.clone(), stores.search.clone());
    let metrics = Metrics::new(&config.id);
    events::spawn_relays(
        config,
        &stores,
        &bus,
        &RelayMetrics::new(metrics.registry()),
    )
    .await?;
    events::spawn_analytics_feed(config, &stores, &bus, &metrics).await?;

    let secret = InternalSecret::new(&config.internal_secret);
    let services = services::Services::new(config, &stores);
    services.orders.admission.register(metrics.registry())?;
    services.auth.hashing.register(metrics.registry())?;
    let sweeper = meridian_orders::sweeper::Sweeper::new();
    sweeper.register(metrics.registry())?;
    sweeper.spawn(services.orders.clone(), config.orders.sweep_settings());
    let api = routes::services(services, change_feed, &config.id, &secret);
    let gate = meridian_common::admission::Gate::new(
        "meridian_http_requests",
        "Requests from the network",
        config.admission.max_requests_in_flight,
        std::time::Duration::from_millis(config.admission.request_wait_ms),
    );
    gate.register(metrics.registry())?;
    for pool in stores.pool_metrics() {
        metrics.registry().register(pool)?;
    }
    let router = routes::origin(api, &config.id, &secret, metrics, stores.readiness(), gate);
    Ok(Origin {
        router,
        region: config.id.clone(),
        events: bus,
    })
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    origin: Origin,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(region = %origin.region, addr = %listener.local_addr()?, "origin listening");
    axum::serve(listener, origin.router)
        .with_graceful_shutdown(shutdown)
        .await
}
