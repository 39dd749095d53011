//! Connects each store role from the region's config, through the owning
//! service's `store::connect`: the service knows its backends; this only
//! collects what it connected (and the outboxes the relays drain).

use std::sync::Arc;

use meridian_analytics::store::AnalyticsStore;
use meridian_auth::store::{SessionStore, UserStore};
use meridian_cart::store::CartStore;
use meridian_catalog::store::ProductStore;
use meridian_common::events::{MemoryOutbox, OutboxReader};
use meridian_common::readiness::{FnProbe, Readiness};
use meridian_common::store_config::{Connected, Outbox};
use meridian_logistics::store::ShipmentStore;
use meridian_orders::store::OrderStore;
use meridian_payments::store::PaymentStore;
use meridian_reviews::store::ReviewStore;
use meridian_search::index::SearchIndex;
use meridian_sellers::images::ImageStore;
use meridian_sellers::store::SellerStore;

use crate::config::RegionConfig;

pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub products: Arc<dyn ProductStore>,
    pub sellers: Arc<dyn SellerStore>,
    pub images: Arc<dyn ImageStore>,
    pub carts: Arc<dyn CartStore>,
    pub payments: Arc<dyn PaymentStore>,
    pub orders: Arc<dyn OrderStore>,
    pub shipments: Arc<dyn ShipmentStore>,
    pub reviews: Arc<dyn ReviewStore>,
    pub search: Arc<dyn SearchIndex>,
    pub analytics: Arc<dyn AnalyticsStore>,
    /// One outbox per event-emitting service, drained by the relays:
    /// embedded ones wake their relay, database tables are polled.
    pub outboxes: Vec<(&'static str, Arc<MemoryOutbox>)>,
    pub polled_outboxes: Vec<(&'static str, Arc<dyn OutboxReader>)>,
    config: Vec<(&'static str, &'static str)>,
}

/// Collects a service's connected store, filing its outbox under the
/// service's name.
#[derive(Default)]
struct Outboxes {
    embedded: Vec<(&'static str, Arc<MemoryOutbox>)>,
    polled: Vec<(&'static str, Arc<dyn OutboxReader>)>,
}

impl Outboxes {
    fn take<S: ?Sized>(&mut self, service: &'static str, connected: Connected<S>) -> Arc<S> {
        match connected.outbox {
            Outbox::Embedded(o) => self.embedded.push((service, o)),
            Outbox::Polled(o) => self.polled.push((service, o)),
        }
        connected.store
    }
}

impl Stores {
    pub async fn connect(config: &RegionConfig) -> anyhow::Result<Self> {
        let stores = &config.stores;
        let images_dir = config.sellers.images_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir()
                .join("meridian-images")
                .join(&config.id)
        });
        let mut outboxes = Outboxes::default();
        Ok(Self {
            users: meridian_auth::store::connect::users(&stores.users).await?,
            sessions: meridian_auth::store::connect::sessions(&stores.sessions).await?,
            products: outboxes.take(
                "catalog",
                meridian_catalog::store::connect::connect(&stores.products).await?,
            ),
            sellers: outboxes.take(
                "sellers",
                meridian_sellers::store::connect::connect(&stores.sellers).await?,
            ),
            images: meridian_sellers::store::connect::images(&stores.images, &images_dir).await?,
            carts: outboxes.take(
                "cart",
                meridian_cart::store::connect::connect(&stores.carts).await?,
            ),
            payments: outboxes.take(
                "payments",
                meridian_payments::store::connect::connect(&stores.payments).await?,
            ),
            orders: outboxes.take(
                "orders",
                meridian_orders::store::connect::connect(&stores.orders).await?,
            ),
            shipments: outboxes.take(
                "logistics",
                meridian_logistics::store::connect::connect(&stores.shipments).await?,
            ),
            reviews: outboxes.take(
                "reviews",
                meridian_reviews::store::connect::connect(&stores.reviews).await?,
            ),
            search: meridian_search::connect::connect(&stores.search).await?,
            analytics: meridian_analytics::store::connect::connect(&stores.analytics).await?,
            outboxes: outboxes.embedded,
            polled_outboxes: outboxes.polled,
            config: vec![
                ("users", stores.users.backend_name()),
                ("sessions", stores.sessions.backend_name()),
                ("products", stores.products.backend_name()),
                ("sellers", stores.sellers.backend_name()),
                ("carts", stores.carts.backend_name()),
                ("payments", stores.payments.backend_name()),
                ("orders", stores.orders.backend_name()),
                ("shipments", stores.shipments.backend_name()),
                ("images", stores.images.backend_name()),
                ("reviews", stores.reviews.backend_name()),
                ("search", stores.search.backend_name()),
                ("analytics", stores.analytics.backend_name()),
            ],
        })
    }

    /// The connection pools' metrics of the stores that pool connections.
    pub fn pool_metrics(&self) -> Vec<meridian_common::store::PoolMetrics> {
        [
            self.users.pool_metrics(),
            self.sellers.pool_metrics(),
            self.orders.pool_metrics(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// One probe per store role for `/readyz`.
    pub fn readiness(&self) -> Readiness {
        let mut readiness = Readiness::default();
        let name = |role: &str| {
            let backend = self
                .config
                .iter()
                .find(|(r, _)| *r == role)
                .map_or("?", |(_, b)| b);
            format!("{role}:{backend}")
        };
        // Every store's `ping`, one probe per role; each store trait has
        // its own error type, so the closure is stamped out per role.
        macro_rules! probes {
            ($($role:literal => $store:expr),* $(,)?) => {
                $(readiness.add(probe(name($role), $store.clone(), |s| async move {
                    s.ping().await.map_err(|e| e.to_string())
                }));)*
            };
        }
        probes!(
            "users" => self.users,
            "sessions" => self.sessions,
            "products" => self.products,
            "sellers" => self.sellers,
            "images" => self.images,
            "carts" => self.carts,
            "payments" => self.payments,
            "orders" => self.orders,
            "shipments" => self.shipments,
            "reviews" => self.reviews,
            "search" => self.search,
            "analytics" => self.analytics,
        );
        readiness
    }
}

fn probe<S, F, Fut>(name: String, store: S, ping: F) -> Arc<FnProbe>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    FnProbe::new(name, move || ping(store.clone()))
}
