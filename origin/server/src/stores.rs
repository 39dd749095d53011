//! Builds each store role from the region's config. A backend whose cargo
//! feature was compiled out is a start-up error naming the feature.

use std::sync::Arc;

use anyhow::{bail, Context};
use meridian_analytics::store::memory::MemoryAnalyticsStore;
use meridian_analytics::store::AnalyticsStore;
use meridian_auth::store::memory::{MemorySessionStore, MemoryUserStore};
use meridian_auth::store::{SessionStore, UserStore};
use meridian_cart::store::memory::MemoryCartStore;
use meridian_cart::store::CartStore;
use meridian_catalog::store::memory::MemoryProductStore;
use meridian_catalog::store::ProductStore;
use meridian_common::config::{RegionConfig, StoreConfig};
use meridian_common::events::{MemoryOutbox, OutboxReader};
use meridian_common::readiness::{FnProbe, Readiness};
use meridian_logistics::store::memory::MemoryShipmentStore;
use meridian_logistics::store::ShipmentStore;
use meridian_orders::store::memory::MemoryOrderStore;
use meridian_orders::store::OrderStore;
use meridian_payments::store::memory::MemoryPaymentStore;
use meridian_payments::store::PaymentStore;
use meridian_reviews::store::memory::MemoryReviewStore;
use meridian_reviews::store::ReviewStore;
use meridian_sellers::images::{ImageStore, LocalDirImageStore};
use meridian_sellers::store::memory::MemorySellerStore;
use meridian_sellers::store::SellerStore;

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
    pub search: Arc<dyn meridian_search::index::SearchIndex>,
    pub analytics: Arc<dyn AnalyticsStore>,
    /// One outbox per event-emitting service, drained by the relays:
    /// embedded ones wake their relay, database tables are polled.
    pub outboxes: Vec<(&'static str, Arc<MemoryOutbox>)>,
    pub polled_outboxes: Vec<(&'static str, Arc<dyn OutboxReader>)>,
    config: Vec<(&'static str, &'static str)>,
}

fn unsupported(role: &str, store: &StoreConfig) -> anyhow::Error {
    anyhow::anyhow!(
        "stores.{role}: backend {:?} is not available for this store role",
        store.backend_name()
    )
}

#[cfg_attr(
    all(
        feature = "postgres",
        feature = "redis",
        feature = "dynamodb",
        feature = "s3",
        feature = "redis-cluster",
        feature = "mongodb",
        feature = "cassandra",
        feature = "elasticsearch",
        feature = "clickhouse"
    ),
    allow(dead_code)
)]
fn compiled_out(role: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "stores.{role}: this origin was built without the `{feature}` cargo feature; \
         rebuild with `--features {feature}` or choose backend = \"memory\""
    )
}

impl Stores {
    pub async fn connect(config: &RegionConfig) -> anyhow::Result<Self> {
        let users = users(&config.stores.users).await?;
        let sessions = sessions(&config.stores.sessions).await?;
        let catalog_outbox = MemoryOutbox::new();
        let mut polled: Vec<(&'static str, Arc<dyn OutboxReader>)> = Vec::new();
        let products: Arc<dyn ProductStore> = match &config.stores.products {
            StoreConfig::Memory => Arc::new(MemoryProductStore::new(catalog_outbox.clone())),
            #[cfg(feature = "dynamodb")]
            StoreConfig::Dynamodb {
                endpoint,
                region,
                table,
                cache_url,
                cache_ttl_secs,
            } => {
                let cache = match cache_url {
                    Some(url) => Some(
                        meridian_catalog::store::cache::ProductCache::connect(
                            url,
                            &format!("meridian:{table}:"),
                            std::time::Duration::from_secs(*cache_ttl_secs),
                        )
                        .await
                        .context("stores.products.cache_url: connecting to Redis")?,
                    ),
                    None => None,
                };
                let store = meridian_catalog::store::dynamo::DynamoProductStore::connect(
                    endpoint.as_deref(),
                    region,
                    table,
                    cache,
                )
                .await
                .context("stores.products: connecting to DynamoDB")?;
                polled.push(("catalog", Arc::new(store.outbox())));
                Arc::new(store)
            }
            #[cfg(not(feature = "dynamodb"))]
            StoreConfig::Dynamodb { .. } => bail!(compiled_out("products", "dynamodb")),
            other => bail!(unsupported("products", other)),
        };
        let sellers_outbox = MemoryOutbox::new();
        let sellers: Arc<dyn SellerStore> = match &config.stores.sellers {
            StoreConfig::Memory => Arc::new(MemorySellerStore::new(sellers_outbox.clone())),
            #[cfg(feature = "postgres")]
            pg @ StoreConfig::Postgres { .. } => {
                let settings = meridian_common::pg::PgSettings::from_config(pg, Some("sellers"))
                    .expect("a postgres entry");
                let store =
                    meridian_sellers::store::postgres::PostgresSellerStore::connect(&settings)
                        .await
                        .context("stores.sellers: connecting to PostgreSQL")?;
                polled.push(("sellers", Arc::new(store.outbox())));
                Arc::new(store)
            }
            #[cfg(not(feature = "postgres"))]
            StoreConfig::Postgres { .. } => bail!(compiled_out("sellers", "postgres")),
            other => bail!(unsupported("sellers", other)),
        };
        let images = images(config).await?;
        let cart_outbox = MemoryOutbox::new();
        let carts: Arc<dyn CartStore> = match &config.stores.carts {
            StoreConfig::Memory => Arc::new(MemoryCartStore::new(cart_outbox.clone())),
            #[cfg(feature = "redis-cluster")]
            StoreConfig::RedisCluster {
                nodes,
                key_prefix,
                ttl_secs,
            } => {
                let store = meridian_cart::store::cluster::ClusterCartStore::connect(
                    nodes,
                    key_prefix,
                    std::time::Duration::from_secs(*ttl_secs),
                )
                .await
                .context("stores.carts: connecting to the Redis Cluster")?;
                polled.push(("cart", Arc::new(store.outbox())));
                Arc::new(store)
            }
            #[cfg(not(feature = "redis-cluster"))]
            StoreConfig::RedisCluster { .. } => bail!(compiled_out("carts", "redis-cluster")),
            other => bail!(unsupported("carts", other)),
        };
        let payments_outbox = MemoryOutbox::new();
        let payments: Arc<dyn PaymentStore> = match &config.stores.payments {
            StoreConfig::Memory => Arc::new(MemoryPaymentStore::new(payments_outbox.clone())),
            #[cfg(feature = "dynamodb")]
            StoreConfig::Dynamodb {
                endpoint,
                region,
                table,
                ..
            } => {
                let store = meridian_payments::store::dynamo::DynamoPaymentStore::connect(
                    endpoint.as_deref(),
                    region,
                    table,
                )
                .await
                .context("stores.payments: connecting to DynamoDB")?;
                polled.push(("payments", Arc::new(store.outbox())));
                Arc::new(store)
            }
            #[cfg(not(feature = "dynamodb"))]
            StoreConfig::Dynamodb { .. } => bail!(compiled_out("payments", "dynamodb")),
            other => bail!(unsupported("payments", other)),
        };
        let orders_outbox = MemoryOutbox::new();
        let orders: Arc<dyn OrderStore> = match &config.stores.orders {
            StoreConfig::Memory => Arc::new(MemoryOrderStore::new(orders_outbox.clone())),
            #[cfg(feature = "postgres")]
            pg @ StoreConfig::Postgres { .. } => {
                let settings = meridian_common::pg::PgSettings::from_config(pg, Some("orders"))
                    .expect("a postgres entry");
                let store =
                    meridian_orders::store::postgres::PostgresOrderStore::connect(&settings)
                        .await
                        .context("stores.orders: connecting to PostgreSQL (YugabyteDB YSQL)")?;
                polled.push(("orders", Arc::new(store.outbox())));
                Arc::new(store)
            }
            #[cfg(not(feature = "postgres"))]
            StoreConfig::Postgres { .. } => bail!(compiled_out("orders", "postgres")),
            other => bail!(unsupported("orders", other)),
        };
        let logistics_outbox = MemoryOutbox::new();
        let shipments: Arc<dyn ShipmentStore> = match &config.stores.shipments {
            StoreConfig::Memory => Arc::new(MemoryShipmentStore::new(logistics_outbox.clone())),
            #[cfg(feature = "cassandra")]
            StoreConfig::Cassandra {
                nodes,
                keyspace,
                replication_factor,
            } => {
                let store = meridian_logistics::store::cassandra::CassandraShipmentStore::connect(
                    nodes,
                    keyspace,
                    *replication_factor,
                )
                .await
                .context("stores.shipments: connecting to Cassandra")?;
                polled.push(("logistics", Arc::new(store.outbox())));
                Arc::new(store)
            }
            #[cfg(not(feature = "cassandra"))]
            StoreConfig::Cassandra { .. } => bail!(compiled_out("shipments", "cassandra")),
            other => bail!(unsupported("shipments", other)),
        };
        let reviews_outbox = MemoryOutbox::new();
        let reviews: Arc<dyn ReviewStore> = match &config.stores.reviews {
            StoreConfig::Memory => Arc::new(MemoryReviewStore::new(reviews_outbox.clone())),
            #[cfg(feature = "mongodb")]
            StoreConfig::Mongodb { url, database } => {
                let store =
                    meridian_reviews::store::mongo::MongoReviewStore::connect(url, database)
                        .await
                        .context("stores.reviews: connecting to MongoDB")?;
                polled.push(("reviews", Arc::new(store.outbox())));
                Arc::new(store)
            }
            #[cfg(not(feature = "mongodb"))]
            StoreConfig::Mongodb { .. } => bail!(compiled_out("reviews", "mongodb")),
            other => bail!(unsupported("reviews", other)),
        };
        let search = search_index(config).await?;
        let analytics = analytics_store(config).await?;
        Ok(Self {
            search,
            analytics,
            users,
            sessions,
            products,
            sellers,
            images,
            carts,
            payments,
            orders,
            shipments,
            reviews,
            polled_outboxes: polled,
            outboxes: vec![
                ("reviews", reviews_outbox),
                ("logistics", logistics_outbox),
                ("orders", orders_outbox),
                ("catalog", catalog_outbox),
                ("sellers", sellers_outbox),
                ("cart", cart_outbox),
                ("payments", payments_outbox),
            ],
            config: vec![
                ("users", config.stores.users.backend_name()),
                ("sessions", config.stores.sessions.backend_name()),
                ("products", config.stores.products.backend_name()),
                ("sellers", config.stores.sellers.backend_name()),
                ("carts", config.stores.carts.backend_name()),
                ("payments", config.stores.payments.backend_name()),
                ("orders", config.stores.orders.backend_name()),
                ("shipments", config.stores.shipments.backend_name()),
                ("images", config.stores.images.backend_name()),
                ("reviews", config.stores.reviews.backend_name()),
                ("search", config.stores.search.backend_name()),
                ("analytics", config.stores.analytics.backend_name()),
            ],
        })
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

async fn users(config: &StoreConfig) -> anyhow::Result<Arc<dyn UserStore>> {
    match config {
        StoreConfig::Memory => Ok(Arc::new(MemoryUserStore::default())),
        #[cfg(feature = "postgres")]
        pg @ StoreConfig::Postgres { .. } => {
            let settings =
                meridian_common::pg::PgSettings::from_config(pg, None).expect("a postgres entry");
            let store = meridian_auth::store::postgres::PostgresUserStore::connect(&settings)
                .await
                .context("stores.users: connecting to PostgreSQL")?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "postgres"))]
        StoreConfig::Postgres { .. } => Err(compiled_out("users", "postgres")),
        other => Err(unsupported("users", other)),
    }
}

async fn sessions(config: &StoreConfig) -> anyhow::Result<Arc<dyn SessionStore>> {
    match config {
        StoreConfig::Memory => Ok(Arc::new(MemorySessionStore::default())),
        #[cfg(feature = "redis")]
        StoreConfig::Redis { url, key_prefix } => {
            let store = meridian_auth::store::redis::RedisSessionStore::connect(url, key_prefix)
                .await
                .context("stores.sessions: connecting to Redis")?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "redis"))]
        StoreConfig::Redis { .. } => Err(compiled_out("sessions", "redis")),
        other => Err(unsupported("sessions", other)),
    }
}

async fn images(config: &RegionConfig) -> anyhow::Result<Arc<dyn ImageStore>> {
    match &config.stores.images {
        StoreConfig::Memory => {
            let dir = config.sellers.images_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir()
                    .join("meridian-images")
                    .join(&config.id)
            });
            let store = LocalDirImageStore::new(&dir)
                .with_context(|| format!("sellers.images_dir: cannot create {}", dir.display()))?;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "s3")]
        StoreConfig::S3 {
            endpoint,
            region,
            bucket,
        } => {
            let store = meridian_sellers::images_s3::S3ImageStore::connect(
                endpoint.as_deref(),
                region,
                bucket,
            )
            .await
            .context("stores.images: connecting to S3")?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "s3"))]
        StoreConfig::S3 { .. } => Err(compiled_out("images", "s3")),
        other => Err(unsupported("images", other)),
    }
}

async fn search_index(
    config: &RegionConfig,
) -> anyhow::Result<Arc<dyn meridian_search::index::SearchIndex>> {
    match &config.stores.search {
        StoreConfig::Memory => Ok(Arc::new(meridian_search::index::TantivyIndex::in_memory()?)),
        #[cfg(feature = "elasticsearch")]
        StoreConfig::Elasticsearch { url, index } => Ok(Arc::new(
            meridian_search::elastic::ElasticIndex::connect(url, index)
                .await
                .context("stores.search: connecting to Elasticsearch")?,
        )),
        #[cfg(not(feature = "elasticsearch"))]
        StoreConfig::Elasticsearch { .. } => Err(compiled_out("search", "elasticsearch")),
        other => Err(unsupported("search", other)),
    }
}

async fn analytics_store(config: &RegionConfig) -> anyhow::Result<Arc<dyn AnalyticsStore>> {
    match &config.stores.analytics {
        StoreConfig::Memory => Ok(Arc::new(MemoryAnalyticsStore::new())),
        #[cfg(feature = "clickhouse")]
        StoreConfig::Clickhouse {
            url,
            database,
            user,
            password,
        } => Ok(Arc::new(
            meridian_analytics::store::clickhouse::ClickhouseAnalyticsStore::connect(
                url,
                database,
                user.as_deref(),
                password.as_deref(),
            )
            .await
            .context("stores.analytics: connecting to ClickHouse")?,
        )),
        #[cfg(not(feature = "clickhouse"))]
        StoreConfig::Clickhouse { .. } => Err(compiled_out("analytics", "clickhouse")),
        other => Err(unsupported("analytics", other)),
    }
}
