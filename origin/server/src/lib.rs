//! One region's origin: every service of Meridian in one process, plus the
//! health, readiness and metrics endpoints the edge and Prometheus use.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use meridian_common::client::{InternalClient, LateRouter};
use meridian_common::clients::{
    CartClient, CatalogClient, LogisticsClient, OrdersClient, PaymentsClient, SearchClient,
    SellersClient,
};
use meridian_common::config::RegionConfig;
use meridian_common::events::{relay_in_process, relay_polling, EventBus, RelayMetrics};
use meridian_common::internal::{require_edge, InternalSecret};
use meridian_common::metrics::{self, Metrics};
use meridian_common::public_api::PublicApi;
use meridian_common::readiness::Readiness;
use meridian_common::{telemetry, ApiError};
use meridian_payments::gateway::SimulatedGateway;
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

mod changes;
mod consumers;
mod keep_alive;
pub mod openapi;
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

/// Starts one relay per outbox. Embedded: memory outboxes wake their relay
/// and everything goes to the in-process bus. Kafka: every outbox is drained
/// into Kafka (acknowledged before marking published), then the bus.
async fn spawn_relays(
    config: &RegionConfig,
    stores: &stores::Stores,
    bus: &EventBus,
    metrics: &RelayMetrics,
) -> anyhow::Result<()> {
    let interval = Duration::from_millis(100);
    let sink: Arc<dyn meridian_common::events::EventSink> = match &config.events {
        meridian_common::config::EventsConfig::Memory => {
            for (service, outbox) in &stores.outboxes {
                tokio::spawn(relay_in_process(
                    outbox.clone(),
                    bus.clone(),
                    metrics.service(service),
                ));
            }
            Arc::new(bus.clone())
        }
        #[cfg(feature = "kafka")]
        meridian_common::config::EventsConfig::Kafka {
            brokers,
            partitions,
            replication_factor,
            topic_prefix,
        } => {
            let sink = meridian_common::kafka::KafkaSink::connect(
                brokers,
                meridian_common::kafka::TopicLayout {
                    partitions: *partitions,
                    replication: *replication_factor,
                },
                topic_prefix,
                Some(bus.clone()),
            )
            .await
            .map_err(|e| anyhow::anyhow!("events: connecting to Kafka: {e}"))?;
            let sink: Arc<dyn meridian_common::events::EventSink> = Arc::new(sink);
            for (service, outbox) in &stores.outboxes {
                tokio::spawn(relay_polling(
                    outbox.clone(),
                    sink.clone(),
                    interval,
                    metrics.service(service),
                ));
            }
            sink
        }
        #[cfg(not(feature = "kafka"))]
        meridian_common::config::EventsConfig::Kafka { .. } => anyhow::bail!(
            "events: this origin was built without the `kafka` cargo feature; \
             rebuild with `--features kafka` or choose backend = \"memory\""
        ),
    };
    for (service, outbox) in &stores.polled_outboxes {
        tokio::spawn(relay_polling(
            outbox.clone(),
            sink.clone(),
            interval,
            metrics.service(service),
        ));
    }
    Ok(())
}

/// Feeds the analytics store. ClickHouse with Kafka events: this origin
/// joins the loader group (unless `analytics.loader = false`, when another
/// process loads). Otherwise the region's own events come off the
/// in-process bus.
async fn spawn_analytics_feed(
    config: &RegionConfig,
    stores: &stores::Stores,
    bus: &EventBus,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    use meridian_common::config::{EventsConfig, StoreConfig};
    let stats = meridian_analytics::feed::LoadStats::registered(metrics.registry());
    match (&config.stores.analytics, &config.events) {
        #[cfg(feature = "kafka")]
        (
            StoreConfig::Clickhouse { .. },
            EventsConfig::Kafka {
                brokers,
                partitions,
                replication_factor,
                topic_prefix,
            },
        ) => {
            if config.analytics.loader {
                let settings = meridian_analytics::loader::LoaderSettings {
                    brokers: brokers.clone(),
                    group: config.analytics.loader_group.clone(),
                    topic_prefix: topic_prefix.clone(),
                    layout: meridian_common::kafka::TopicLayout {
                        partitions: *partitions,
                        replication: *replication_factor,
                    },
                    batch_max_events: config.analytics.batch_max_events,
                    batch_max_wait: Duration::from_millis(config.analytics.batch_max_wait_ms),
                };
                let loader = meridian_analytics::loader::KafkaLoader::connect(
                    settings,
                    stores.analytics.clone(),
                    stats,
                )
                .await
                .map_err(|e| anyhow::anyhow!("analytics loader: {e}"))?;
                tokio::spawn(loader.run());
            }
        }
        _ => {
            meridian_analytics::feed::spawn_bus_feed(bus, stores.analytics.clone(), stats);
        }
    }
    Ok(())
}

/// Connects the configured stores, seeds demo data where configured and
/// composes every service's router.
pub async fn build(config: &RegionConfig) -> anyhow::Result<Origin> {
    let stores = stores::Stores::connect(config).await?;
    if config.catalog.demo_data {
        let seeded = meridian_catalog::demo::seed_if_empty(stores.products.as_ref()).await?;
        if seeded > 0 {
            tracing::info!(products = seeded, "seeded demo catalog");
        }
    }
    if config.catalog.demo_data {
        meridian_sellers::demo::seed_if_empty(stores.sellers.as_ref()).await?;
    }
    let search_index = stores.search.clone();
    let indexed = consumers::index_catalog(stores.products.as_ref(), search_index.as_ref()).await?;
    tracing::debug!(products = indexed, "search index built");
    // Services call each other through their internal routes; in one origin
    // the call goes straight into this router (wired once it is built).
    let internal: LateRouter = Arc::new(OnceLock::new());
    let client =
        |service| InternalClient::in_process(service, internal.clone(), &config.internal_secret);
    let sellers_client = SellersClient(client("sellers"));
    let auth = meridian_auth::AppState {
        users: stores.users.clone(),
        sessions: stores.sessions.clone(),
        session_ttl: Duration::from_secs(config.auth.session_ttl_secs),
        cookie_secure: config.auth.cookie_secure,
        cart: Some(CartClient(client("cart"))),
    };
    let catalog = meridian_catalog::AppState {
        products: stores.products.clone(),
        sellers: sellers_client.clone(),
        search: SearchClient(client("search")),
        region: config.id.clone(),
    };
    let search = meridian_search::AppState {
        index: search_index.clone(),
    };
    let cart = meridian_cart::AppState {
        store: stores.carts.clone(),
        catalog: CatalogClient(client("catalog")),
        region: config.id.clone(),
        cookie_secure: config.auth.cookie_secure,
    };
    let payments = meridian_payments::AppState {
        store: stores.payments.clone(),
        gateway: Arc::new(SimulatedGateway::new(Duration::from_millis(
            config.payments.gateway_timeout_ms,
        ))),
        region: config.id.clone(),
    };
    let orders = meridian_orders::AppState {
        store: stores.orders.clone(),
        catalog: CatalogClient(client("catalog")),
        cart: CartClient(client("cart")),
        payments: PaymentsClient(client("payments")),
        sellers: sellers_client.clone(),
        logistics: LogisticsClient(client("logistics")),
        pricing: meridian_orders::domain::Pricing {
            tax_rate_bp: config.orders.tax_rate_bp,
            shipping_per_seller: config.orders.shipping_per_seller_cents,
            free_shipping_over: config.orders.free_shipping_over_cents,
        },
        region: config.id.clone(),
    };
    let logistics = meridian_logistics::AppState {
        store: stores.shipments.clone(),
        orders: OrdersClient(client("orders")),
        carrier_secret: InternalSecret::new(&config.logistics.carrier_secret),
        region: config.id.clone(),
    };
    let reviews = meridian_reviews::AppState {
        store: stores.reviews.clone(),
        orders: OrdersClient(client("orders")),
        sellers: sellers_client.clone(),
        region: config.id.clone(),
    };
    let sellers = meridian_sellers::AppState {
        store: stores.sellers.clone(),
        images: stores.images.clone(),
        region: config.id.clone(),
    };
    // Embedded event path: each service's outbox drains into the in-process
    // bus (Kafka replaces the bus in production).
    let bus = EventBus::new();
    let change_feed = changes::ChangeFeed::spawn(&bus);
    consumers::spawn_rating_projection(&bus, stores.products.clone());
    consumers::spawn_search_projection(&bus, stores.products.clone(), search_index.clone());
    let metrics = Metrics::new(&config.id);
    spawn_relays(
        config,
        &stores,
        &bus,
        &RelayMetrics::new(metrics.registry()),
    )
    .await?;
    spawn_analytics_feed(config, &stores, &bus, &metrics).await?;
    let analytics = meridian_analytics::AppState {
        store: stores.analytics.clone(),
        sellers: sellers_client.clone(),
        admin_token: InternalSecret::new(&config.analytics.admin_token),
    };
    // Pages call the same public APIs as any client, in process.
    let storefront = meridian_storefront::AppState {
        api: PublicApi::new(client),
    };

    let api = Router::new()
        .nest("/api/auth", meridian_auth::router(auth.clone()))
        .nest("/api/catalog", meridian_catalog::router(catalog.clone()))
        .nest("/api/sellers", meridian_sellers::router(sellers.clone()))
        .nest("/internal/auth", meridian_auth::internal_router(auth))
        .nest(
            "/internal/sellers",
            meridian_sellers::internal_router(sellers),
        )
        .nest(
            "/internal/catalog",
            meridian_catalog::internal_router(catalog),
        )
        .nest("/api/cart", meridian_cart::router(cart.clone()))
        .nest("/internal/cart", meridian_cart::internal_router(cart))
        .nest("/api/orders", meridian_orders::router(orders.clone()))
        .nest("/internal/orders", meridian_orders::internal_router(orders))
        .nest(
            "/api/logistics",
            meridian_logistics::router(logistics.clone()),
        )
        .nest(
            "/internal/logistics",
            meridian_logistics::internal_router(logistics),
        )
        .nest("/api/reviews", meridian_reviews::router(reviews))
        .nest("/api/search", meridian_search::router(search.clone()))
        .nest("/api/analytics", meridian_analytics::router(analytics))
        .nest("/internal/search", meridian_search::internal_router(search))
        .nest("/internal/cache", changes::router(change_feed))
        .nest(
            "/internal/payments",
            meridian_payments::internal_router(payments),
        )
        .route("/api/openapi.json", get(openapi::document))
        .route("/internal/openapi.json", get(openapi::internal_document))
        // Every other path: the storefront's pages (its fallback answers
        // unknown `/api/…` paths with the JSON 404).
        .merge(meridian_storefront::router(storefront))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(
            InternalSecret::new(&config.internal_secret),
            require_edge,
        ));

    // `set` fails only if already set, which cannot happen for a new router.
    let _ = internal.set(api.clone());

    let readiness = stores.readiness();
    let region = config.id.clone();
    let span_region = region.clone();
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(move || readyz(readiness.clone())))
        .route(
            "/metrics",
            get({
                let metrics = metrics.clone();
                move || async move { metrics.render() }
            }),
        )
        .with_state(region.clone());

    // Health, readiness and metrics are polled every second by the edge and
    // Prometheus: they stay out of the access log and request metrics.
    let api = api
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(keep_alive::close_if_body_unread))
        .layer(from_fn_with_state(metrics, metrics::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &axum::http::Request<_>| {
                    telemetry::request_span(&span_region, req)
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        );
    let router = api.merge(ops).layer(CatchPanicLayer::custom(|_| {
        ApiError::internal("handler panicked").into_response()
    }));
    Ok(Origin {
        router,
        region,
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

async fn healthz(
    axum::extract::State(region): axum::extract::State<String>,
) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "region": region }))
}

async fn readyz(readiness: Readiness) -> Response {
    readiness.respond().await
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}
