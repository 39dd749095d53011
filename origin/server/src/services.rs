//! Every service's state, built from the region's config and stores. In
//! one origin, services call each other's internal routes in process,
//! through the router this origin is about to build (`LateRouter`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use meridian_common::client::{InternalClient, LateRouter};
use meridian_common::clients::{
    CartClient, CatalogClient, LogisticsClient, OrdersClient, PaymentsClient, SearchClient,
    SellersClient,
};
use meridian_common::internal::InternalSecret;
use meridian_common::public_api::PublicApi;
use meridian_payments::gateway::SimulatedGateway;

use crate::config::RegionConfig;
use crate::stores::Stores;

pub struct Services {
    pub auth: meridian_auth::AppState,
    pub catalog: meridian_catalog::AppState,
    pub search: meridian_search::AppState,
    pub cart: meridian_cart::AppState,
    pub payments: meridian_payments::AppState,
    pub orders: meridian_orders::AppState,
    pub logistics: meridian_logistics::AppState,
    pub reviews: meridian_reviews::AppState,
    pub sellers: meridian_sellers::AppState,
    pub analytics: meridian_analytics::AppState,
    pub storefront: meridian_storefront::AppState,
    /// Set to the composed router once it exists; until then in-process
    /// calls have nowhere to go (none is made before serving).
    pub internal: LateRouter,
}

impl Services {
    pub fn new(config: &RegionConfig, stores: &Stores) -> Self {
        let internal: LateRouter = Arc::new(OnceLock::new());
        let client = |service| {
            InternalClient::in_process(service, internal.clone(), &config.internal_secret)
        };
        let sellers_client = SellersClient(client("sellers"));
        let region = || config.id.clone();
        Self {
            auth: meridian_auth::AppState {
                users: stores.users.clone(),
                sessions: stores.sessions.clone(),
                session_ttl: Duration::from_secs(config.auth.session_ttl_secs),
                cookie_secure: config.auth.cookie_secure,
                cart: Some(CartClient(client("cart"))),
                hashing: meridian_auth::password::gate(
                    config.auth.max_password_hashes_in_flight,
                    Duration::from_millis(config.auth.password_hash_wait_ms),
                ),
            },
            catalog: meridian_catalog::AppState {
                products: stores.products.clone(),
                sellers: sellers_client.clone(),
                search: SearchClient(client("search")),
                region: region(),
            },
            search: meridian_search::AppState {
                index: stores.search.clone(),
            },
            cart: meridian_cart::AppState {
                store: stores.carts.clone(),
                catalog: CatalogClient(client("catalog")),
                region: region(),
                cookie_secure: config.auth.cookie_secure,
            },
            payments: meridian_payments::AppState {
                store: stores.payments.clone(),
                gateway: Arc::new(SimulatedGateway::new(Duration::from_millis(
                    config.payments.gateway_timeout_ms,
                ))),
                region: region(),
            },
            orders: meridian_orders::AppState {
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
                region: region(),
                admission: meridian_orders::admission::Admission::new(
                    config.orders.checkout_limits(),
                ),
            },
            logistics: meridian_logistics::AppState {
                store: stores.shipments.clone(),
                orders: OrdersClient(client("orders")),
                carrier_secret: InternalSecret::new(&config.logistics.carrier_secret),
                region: region(),
            },
            reviews: meridian_reviews::AppState {
                store: stores.reviews.clone(),
                orders: OrdersClient(client("orders")),
                sellers: sellers_client.clone(),
                region: region(),
            },
            sellers: meridian_sellers::AppState {
                store: stores.sellers.clone(),
                images: stores.images.clone(),
                region: region(),
            },
            analytics: meridian_analytics::AppState {
                store: stores.analytics.clone(),
                sellers: sellers_client,
                admin_token: InternalSecret::new(&config.analytics.admin_token),
            },
            // Pages call the same public APIs as any client, in process.
            storefront: meridian_storefront::AppState {
                api: PublicApi::new(client),
            },
            internal,
        }
    }
}
