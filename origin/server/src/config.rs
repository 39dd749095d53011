//! A region's origin configuration: `regions/<id>.toml`.
//!
//! Parsed with `deny_unknown_fields` so a typo is an error rather than a
//! silently ignored setting, then validated; every error names the file and
//! the key.

use std::net::SocketAddr;
use std::path::Path;

pub use meridian_common::store_config::StoreConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Stable id used in routing, headers and metrics, e.g. `chicago`.
    pub id: String,
    /// Human-readable name, e.g. `Chicago`.
    pub name: String,
    /// Data-center location in degrees; the edge ranks regions by distance.
    pub latitude: f64,
    pub longitude: f64,
    /// Address the origin listens on.
    pub listen: SocketAddr,
    /// Serve HTTPS and require a client certificate signed by `client_ca`
    /// (mutual TLS with the edge). Absent: plain HTTP on a private network.
    pub tls: Option<ServerTls>,
    /// Shared secret the edge sends in `x-meridian-internal`. The environment
    /// variable `MERIDIAN_INTERNAL_SECRET` overrides it, so production never
    /// keeps it in a file.
    #[serde(default)]
    pub internal_secret: String,
    #[serde(default)]
    pub stores: StoresConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub catalog: CatalogConfig,
    #[serde(default)]
    pub sellers: SellersConfig,
    #[serde(default)]
    pub payments: PaymentsConfig,
    #[serde(default)]
    pub orders: OrdersConfig,
    #[serde(default)]
    pub logistics: LogisticsConfig,
    #[serde(default)]
    pub events: EventsConfig,
    #[serde(default)]
    pub analytics: AnalyticsConfig,
    #[serde(default)]
    pub admission: AdmissionConfig,
    /// Spans exported over OTLP; absent: off.
    #[serde(default)]
    pub tracing: Option<meridian_telemetry::Export>,
}

/// How much the origin takes on at once from the network (service-to-service
/// calls are never refused: that would fail work admitted at its own door).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Requests in progress at most; more wait (below), then get 503
    /// `overloaded` (a short page for pages). Size it to what the cores and
    /// the stores serve without queueing: past that, more only slows all.
    #[serde(default = "default_requests_in_flight")]
    pub max_requests_in_flight: usize,
    /// How long a request waits for a slot before its 503.
    #[serde(default = "default_request_wait")]
    pub request_wait_ms: u64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            max_requests_in_flight: default_requests_in_flight(),
            request_wait_ms: default_request_wait(),
        }
    }
}

fn default_requests_in_flight() -> usize {
    512
}
fn default_request_wait() -> u64 {
    50
}

/// The origin's mutual-TLS listener; paths are relative to the region file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// Certificate chain and key the origin presents (PEM).
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// CA whose client certificates are accepted (the edge's).
    pub client_ca: std::path::PathBuf,
}

/// The analytics service and its Kafka → ClickHouse loader.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Ops credential for platform-wide figures, sent as
    /// `Authorization: Bearer <token>`; `MERIDIAN_ANALYTICS_ADMIN_TOKEN`
    /// overrides it. Empty disables the platform endpoints.
    #[serde(default)]
    pub admin_token: String,
    /// Run the loader in this origin (when `stores.analytics` is ClickHouse
    /// and `events` is Kafka). Every region may run one: they share the
    /// consumer group, so each partition is loaded by one of them.
    #[serde(default = "default_true")]
    pub loader: bool,
    #[serde(default = "default_loader_group")]
    pub loader_group: String,
    /// A batch is written when it holds this many events…
    #[serde(default = "default_batch_events")]
    pub batch_max_events: usize,
    /// …or this long after its first event arrived.
    #[serde(default = "default_batch_wait")]
    pub batch_max_wait_ms: u64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            admin_token: String::new(),
            loader: true,
            loader_group: default_loader_group(),
            batch_max_events: default_batch_events(),
            batch_max_wait_ms: default_batch_wait(),
        }
    }
}

fn default_loader_group() -> String {
    "meridian-analytics".to_owned()
}
fn default_batch_events() -> usize {
    1_000
}
fn default_batch_wait() -> u64 {
    500
}

/// Where the outbox relays deliver events: the in-process bus only
/// (embedded), or Kafka first (then the bus, for the region's projections).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum EventsConfig {
    #[default]
    Memory,
    Kafka {
        /// `host:port[,host:port…]`
        brokers: String,
        /// Partitions of each topic when the origin creates it.
        #[serde(default = "default_partitions")]
        partitions: i32,
        /// Replicas of each topic when the origin creates it (1 suits a
        /// single local broker; production clusters use 3).
        #[serde(default = "default_replication_factor")]
        replication_factor: i32,
        /// Topics are `<topic_prefix>.<service>.events`.
        #[serde(default = "default_topic_prefix")]
        topic_prefix: String,
    },
}

fn default_replication_factor() -> i32 {
    1
}

fn default_topic_prefix() -> String {
    "meridian".to_owned()
}

fn default_partitions() -> i32 {
    3
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticsConfig {
    /// Secret carriers send in `x-carrier-secret`; `MERIDIAN_CARRIER_SECRET`
    /// overrides it. Empty disables carrier updates.
    #[serde(default)]
    pub carrier_secret: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    /// How long the simulated processor hangs on `tok_timeout`.
    #[serde(default = "default_gateway_timeout")]
    pub gateway_timeout_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            gateway_timeout_ms: default_gateway_timeout(),
        }
    }
}

fn default_gateway_timeout() -> u64 {
    3_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersConfig {
    /// Sales tax in basis points of the items subtotal (825 = 8.25%).
    #[serde(default = "default_tax_bp")]
    pub tax_rate_bp: u32,
    /// Flat shipping per seller's sub-order, in cents.
    #[serde(default = "default_shipping")]
    pub shipping_per_seller_cents: i64,
    /// Sub-orders at or above this items subtotal (cents) ship free.
    #[serde(default = "default_free_shipping")]
    pub free_shipping_over_cents: i64,
    /// Checkouts this origin runs at once; more wait (below) or get 503.
    /// Size it to what the stores' pools serve: a checkout holds about one
    /// connection of the orders store at a time.
    #[serde(default = "default_checkouts_in_flight")]
    pub max_checkouts_in_flight: usize,
    /// How long a checkout waits for a slot before its 503 `overloaded`.
    #[serde(default = "default_checkout_wait")]
    pub checkout_wait_ms: u64,
    /// How long an unanswered Idempotency-Key claim holds before a retry may
    /// take it over; longer than a checkout can run (each of its calls is
    /// bounded at 10 s), so it only frees keys of a process that died.
    #[serde(default = "default_checkout_lease")]
    pub checkout_lease_secs: u64,
    /// How long a checkout key stays without an answer (after a 503 the
    /// shopper never retried, or a process that died) before the sweeper
    /// cancels its order, voids or refunds its payment and releases its
    /// stock; until then a retry resumes it.
    #[serde(default = "default_abandoned_checkout")]
    pub abandoned_checkout_secs: u64,
    /// How often the sweeper looks for such keys.
    #[serde(default = "default_checkout_sweep")]
    pub checkout_sweep_secs: u64,
}

impl OrdersConfig {
    pub fn checkout_limits(&self) -> meridian_orders::admission::CheckoutLimits {
        meridian_orders::admission::CheckoutLimits {
            max_in_flight: self.max_checkouts_in_flight,
            max_wait: std::time::Duration::from_millis(self.checkout_wait_ms),
            lease: std::time::Duration::from_secs(self.checkout_lease_secs),
        }
    }

    pub fn sweep_settings(&self) -> meridian_orders::sweeper::SweepSettings {
        meridian_orders::sweeper::SweepSettings {
            idle: std::time::Duration::from_secs(self.abandoned_checkout_secs),
            every: std::time::Duration::from_secs(self.checkout_sweep_secs),
        }
    }
}

impl Default for OrdersConfig {
    fn default() -> Self {
        Self {
            tax_rate_bp: default_tax_bp(),
            shipping_per_seller_cents: default_shipping(),
            free_shipping_over_cents: default_free_shipping(),
            max_checkouts_in_flight: default_checkouts_in_flight(),
            checkout_wait_ms: default_checkout_wait(),
            checkout_lease_secs: default_checkout_lease(),
            abandoned_checkout_secs: default_abandoned_checkout(),
            checkout_sweep_secs: default_checkout_sweep(),
        }
    }
}

fn default_checkouts_in_flight() -> usize {
    meridian_orders::admission::CheckoutLimits::default().max_in_flight
}
fn default_checkout_wait() -> u64 {
    meridian_orders::admission::CheckoutLimits::default()
        .max_wait
        .as_millis() as u64
}
fn default_abandoned_checkout() -> u64 {
    meridian_orders::sweeper::SweepSettings::default()
        .idle
        .as_secs()
}
fn default_checkout_sweep() -> u64 {
    meridian_orders::sweeper::SweepSettings::default()
        .every
        .as_secs()
}
fn default_checkout_lease() -> u64 {
    meridian_orders::admission::CheckoutLimits::default()
        .lease
        .as_secs()
}

fn default_tax_bp() -> u32 {
    825
}
fn default_shipping() -> i64 {
    599
}
fn default_free_shipping() -> i64 {
    5_000
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SellersConfig {
    /// Directory of the embedded image store; default
    /// `<temp dir>/meridian-images/<region id>`.
    pub images_dir: Option<std::path::PathBuf>,
}

/// Which backend each store role uses. Embedded (`memory`) by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoresConfig {
    #[serde(default)]
    pub sessions: StoreConfig,
    #[serde(default)]
    pub users: StoreConfig,
    #[serde(default)]
    pub products: StoreConfig,
    #[serde(default)]
    pub sellers: StoreConfig,
    #[serde(default)]
    pub carts: StoreConfig,
    #[serde(default)]
    pub payments: StoreConfig,
    #[serde(default)]
    pub orders: StoreConfig,
    #[serde(default)]
    pub shipments: StoreConfig,
    #[serde(default)]
    pub reviews: StoreConfig,
    /// Product search index: `memory` (embedded tantivy) or `elasticsearch`.
    #[serde(default)]
    pub search: StoreConfig,
    /// Seller images: `memory` (files under `sellers.images_dir`) or `s3`.
    #[serde(default)]
    pub images: StoreConfig,
    /// Analytics rollups: `memory` (fed by the region's own events) or
    /// `clickhouse` (fed by the Kafka loader).
    #[serde(default)]
    pub analytics: StoreConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a login session lives.
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
    /// `Secure` on the session cookie. Only turn off for plain-HTTP debugging.
    #[serde(default = "default_true")]
    pub cookie_secure: bool,
    /// Passwords hashed at once (sign-ins and registrations; argon2 takes
    /// a core for tens of milliseconds each). Default: half the cores.
    #[serde(default = "meridian_auth::password::default_max_in_flight")]
    pub max_password_hashes_in_flight: usize,
    /// How long a sign-in waits for its turn before `503 overloaded`.
    #[serde(default = "default_password_hash_wait")]
    pub password_hash_wait_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: default_session_ttl(),
            cookie_secure: true,
            max_password_hashes_in_flight: meridian_auth::password::default_max_in_flight(),
            password_hash_wait_ms: default_password_hash_wait(),
        }
    }
}

fn default_password_hash_wait() -> u64 {
    2_000
}

fn default_session_ttl() -> u64 {
    7 * 24 * 3600
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// Load the deterministic demo catalog into an empty store at start.
    #[serde(default = "default_true")]
    pub demo_data: bool,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self { demo_data: true }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: &'static str,
        message: String,
    },
}

impl RegionConfig {
    /// Read, parse and validate a region file; apply environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: file.clone(),
            source,
        })?;
        let mut config = Self::parse(&text, &file)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(tls) = &mut config.tls {
            for p in [&mut tls.cert, &mut tls.key, &mut tls.client_ca] {
                *p = base.join(&*p);
            }
        }
        if let Ok(secret) = std::env::var("MERIDIAN_INTERNAL_SECRET") {
            config.internal_secret = secret;
        }
        if let Ok(secret) = std::env::var("MERIDIAN_CARRIER_SECRET") {
            config.logistics.carrier_secret = secret;
        }
        if let Ok(token) = std::env::var("MERIDIAN_ANALYTICS_ADMIN_TOKEN") {
            config.analytics.admin_token = token;
        }
        config.clickhouse_password_from_env();
        config.validate(&file)?;
        Ok(config)
    }

    /// `load`, with the `[stores.*]` tables taken from a separate file
    /// when one is given: one stores file serves every region of a
    /// deployment (`deploy/local/real-stores.toml`).
    pub fn load_with_stores(path: &Path, stores: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = Self::load(path)?;
        if let Some(stores_path) = stores {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct StoresFile {
                stores: StoresConfig,
                events: Option<EventsConfig>,
            }
            let file = stores_path.display().to_string();
            let text = std::fs::read_to_string(stores_path).map_err(|source| ConfigError::Io {
                file: file.clone(),
                source,
            })?;
            let parsed: StoresFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                file: file.clone(),
                message: e.to_string().trim_end().replace('\n', " "),
            })?;
            config.stores = parsed.stores;
            config.clickhouse_password_from_env();
            if let Some(events) = parsed.events {
                config.events = events;
            }
            config.validate(&file)?;
        }
        Ok(config)
    }

    /// Secrets stay out of files: the ClickHouse password may come from
    /// `MERIDIAN_CLICKHOUSE_PASSWORD`.
    fn clickhouse_password_from_env(&mut self) {
        if let (StoreConfig::Clickhouse { password, .. }, Ok(secret)) = (
            &mut self.stores.analytics,
            std::env::var("MERIDIAN_CLICKHOUSE_PASSWORD"),
        ) {
            *password = Some(secret);
        }
    }

    /// Parse without environment overrides or validation (tests use this).
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
    }

    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                key,
                message: message.to_owned(),
            })
        };
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return invalid("id", "must be non-empty lowercase letters, digits and '-'");
        }
        if self.name.trim().is_empty() {
            return invalid("name", "must not be empty");
        }
        if !(-90.0..=90.0).contains(&self.latitude) {
            return invalid("latitude", "must be within -90..=90 degrees");
        }
        if !(-180.0..=180.0).contains(&self.longitude) {
            return invalid("longitude", "must be within -180..=180 degrees");
        }
        if let Some(Err((key, message))) = self.tracing.as_ref().map(|t| t.validate()) {
            return invalid(meridian_telemetry::config::qualified(key), &message);
        }
        if self.internal_secret.len() < 16 {
            return invalid(
                "internal_secret",
                "must be at least 16 characters (or set MERIDIAN_INTERNAL_SECRET)",
            );
        }
        if !self.logistics.carrier_secret.is_empty() && self.logistics.carrier_secret.len() < 16 {
            return invalid("logistics.carrier_secret", "must be at least 16 characters");
        }
        if self.orders.tax_rate_bp > 5_000 {
            return invalid("orders.tax_rate_bp", "must be at most 5000 (50%)");
        }
        if !(1..=100_000).contains(&self.admission.max_requests_in_flight) {
            return invalid("admission.max_requests_in_flight", "must be 1 to 100000");
        }
        if self.admission.request_wait_ms > 10_000 {
            return invalid("admission.request_wait_ms", "must be at most 10000");
        }
        if !(1..=1_024).contains(&self.auth.max_password_hashes_in_flight) {
            return invalid(
                "auth.max_password_hashes_in_flight",
                "must be 1 to 1024 (each hash holds a core and 19 MiB)",
            );
        }
        if self.auth.password_hash_wait_ms > 30_000 {
            return invalid("auth.password_hash_wait_ms", "must be at most 30000");
        }
        if !(1..=10_000).contains(&self.orders.max_checkouts_in_flight) {
            return invalid("orders.max_checkouts_in_flight", "must be 1 to 10000");
        }
        if self.orders.checkout_wait_ms > 10_000 {
            return invalid("orders.checkout_wait_ms", "must be at most 10000");
        }
        if !(30..=86_400).contains(&self.orders.checkout_lease_secs) {
            return invalid(
                "orders.checkout_lease_secs",
                "must be 30 to 86400: shorter than a checkout can run would let a retry run it twice",
            );
        }
        if !(60..=7 * 86_400).contains(&self.orders.abandoned_checkout_secs) {
            return invalid(
                "orders.abandoned_checkout_secs",
                "must be 60 to 604800: time for a shopper to press again, at most a week of held stock",
            );
        }
        if !(1..=3_600).contains(&self.orders.checkout_sweep_secs) {
            return invalid("orders.checkout_sweep_secs", "must be 1 to 3600");
        }
        if self.orders.shipping_per_seller_cents < 0 || self.orders.free_shipping_over_cents < 0 {
            return invalid("orders", "shipping amounts must not be negative");
        }
        if let EventsConfig::Kafka {
            brokers,
            partitions,
            replication_factor,
            topic_prefix,
        } = &self.events
        {
            if *replication_factor < 1 {
                return invalid("events.replication_factor", "must be at least 1");
            }
            if brokers.trim().is_empty() {
                return invalid("events.brokers", "must list at least one broker");
            }
            if *partitions < 1 {
                return invalid("events.partitions", "must be at least 1");
            }
            if topic_prefix.is_empty()
                || !topic_prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return invalid(
                    "events.topic_prefix",
                    "must be non-empty letters, digits, '-', '_' or '.'",
                );
            }
        }
        let analytics = &self.analytics;
        if !analytics.admin_token.is_empty() && analytics.admin_token.len() < 16 {
            return invalid("analytics.admin_token", "must be at least 16 characters");
        }
        if analytics.loader_group.trim().is_empty() {
            return invalid("analytics.loader_group", "must not be empty");
        }
        if !(1..=100_000).contains(&analytics.batch_max_events) {
            return invalid("analytics.batch_max_events", "must be within 1..=100000");
        }
        if !(1..=60_000).contains(&analytics.batch_max_wait_ms) {
            return invalid("analytics.batch_max_wait_ms", "must be within 1..=60000 ms");
        }
        if self.auth.session_ttl_secs < 60 {
            return invalid("auth.session_ttl_secs", "must be at least 60 seconds");
        }
        for (key, store) in [
            ("stores.sessions", &self.stores.sessions),
            ("stores.users", &self.stores.users),
            ("stores.products", &self.stores.products),
            ("stores.sellers", &self.stores.sellers),
            ("stores.carts", &self.stores.carts),
            ("stores.payments", &self.stores.payments),
            ("stores.orders", &self.stores.orders),
            ("stores.shipments", &self.stores.shipments),
            ("stores.reviews", &self.stores.reviews),
            ("stores.search", &self.stores.search),
            ("stores.images", &self.stores.images),
            ("stores.analytics", &self.stores.analytics),
        ] {
            if let Err(message) = store.validate() {
                return invalid(key, &message);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        id = "chicago"
        name = "Chicago"
        latitude = 41.88
        longitude = -87.63
        listen = "127.0.0.1:7103"
        internal_secret = "0123456789abcdef"
        [stores.sessions]
        backend = "redis"
        url = "redis://127.0.0.1:6379"
    "#;

    #[test]
    fn parses_and_validates_a_good_file() {
        let config = RegionConfig::parse(GOOD, "chicago.toml").unwrap();
        config.validate("chicago.toml").unwrap();
        assert_eq!(config.stores.sessions.backend_name(), "redis");
        assert_eq!(config.stores.users, StoreConfig::Memory);
        assert!(config.catalog.demo_data);
    }

    #[test]
    fn analytics_events_and_orders_settings_are_validated() {
        let check = |extra: &str| {
            let config = RegionConfig::parse(&format!("{GOOD}\n{extra}"), "c.toml").unwrap();
            config
                .validate("c.toml")
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let sections = [
            (
                "[analytics]\nadmin_token = \"short\"",
                "analytics.admin_token",
            ),
            (
                "[analytics]\nbatch_max_events = 0",
                "analytics.batch_max_events",
            ),
            (
                "[events]\nbackend = \"kafka\"\nbrokers = \"k:9092\"\nreplication_factor = 0",
                "events.replication_factor",
            ),
            (
                "[events]\nbackend = \"kafka\"\nbrokers = \"k:9092\"\ntopic_prefix = \"a b\"",
                "events.topic_prefix",
            ),
            (
                "[stores.analytics]\nbackend = \"clickhouse\"\nurl = \"tcp://ch:9000\"",
                "stores.analytics",
            ),
            (
                "[orders]\ncheckout_lease_secs = 5",
                "orders.checkout_lease_secs",
            ),
            (
                "[auth]\nmax_password_hashes_in_flight = 0",
                "auth.max_password_hashes_in_flight",
            ),
            (
                "[auth]\npassword_hash_wait_ms = 60000",
                "auth.password_hash_wait_ms",
            ),
            (
                "[orders]\nabandoned_checkout_secs = 10",
                "orders.abandoned_checkout_secs",
            ),
            (
                "[orders]\ncheckout_sweep_secs = 0",
                "orders.checkout_sweep_secs",
            ),
            (
                "[stores.shipments]\nbackend = \"cassandra\"\nnodes = [\"c:9042\"]\nkeyspace = \"ks\"\n\
                 replication_factor = 3\ndatacenters = { us-east = 3 }",
                "stores.shipments: set replication_factor (one data center) or datacenters (several), not both",
            ),
            (
                "[stores.shipments]\nbackend = \"cassandra\"\nnodes = [\"c:9042\"]\nkeyspace = \"ks\"\n\
                 datacenters = { \"us east\" = 3 }",
                "stores.shipments: datacenters must be",
            ),
            (
                "[stores.shipments]\nbackend = \"cassandra\"\nnodes = [\"c:9042\"]\nkeyspace = \"ks\"\n\
                 datacenters = { us-east = 0 }",
                "stores.shipments: replication_factor must be at least 1",
            ),
            (
                "[tracing]\nendpoint = \"https://otel:4318/v1/traces\"",
                "tracing.endpoint",
            ),
            (
                "[tracing]\nendpoint = \"http://otel:4318/v1/traces\"\nsample_ratio = 7",
                "tracing.sample_ratio",
            ),
        ];
        for (extra, key) in sections {
            let err = check(extra).unwrap_err();
            assert!(err.contains(key), "{err}");
        }
        check("[stores.analytics]\nbackend = \"clickhouse\"\nurl = \"http://ch:8123\"").unwrap();
        check("[orders]\nabandoned_checkout_secs = 60\ncheckout_sweep_secs = 5").unwrap();
        check("[tracing]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\nsample_ratio = 0.1")
            .unwrap();
        // Whom to believe a traceparent from is the edge's to say.
        let edge_only =
            "[tracing]\nendpoint = \"http://otel:4318/v1/traces\"\ntrusted_sources = []";
        let err = RegionConfig::parse(&format!("{GOOD}\n{edge_only}"), "c.toml").unwrap_err();
        assert!(err.to_string().contains("trusted_sources"), "{err}");
        check(
            "[stores.shipments]\nbackend = \"cassandra\"\nnodes = [\"c:9042\"]\nkeyspace = \"ks\"\n\
             datacenters = { us-east = 3, us-west = 3 }\nlocal_datacenter = \"us-west\"",
        )
        .unwrap();
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let text = GOOD.replace("name = \"Chicago\"", "name = \"Chicago\"\nlatitud = 1.0");
        let err = RegionConfig::parse(&text, "chicago.toml").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("chicago.toml:"), "{message}");
        assert!(message.contains("latitud"), "{message}");
    }

    #[test]
    fn out_of_range_latitude_names_the_key() {
        let text = GOOD.replace("41.88", "141.88");
        let config = RegionConfig::parse(&text, "c.toml").unwrap();
        let err = config.validate("c.toml").unwrap_err().to_string();
        assert_eq!(err, "c.toml: latitude: must be within -90..=90 degrees");
    }

    #[test]
    fn short_secret_and_bad_backend_are_rejected() {
        let text = GOOD.replace("0123456789abcdef", "short");
        let config = RegionConfig::parse(&text, "c.toml").unwrap();
        assert!(config
            .validate("c.toml")
            .unwrap_err()
            .to_string()
            .contains("internal_secret"));
        let text = GOOD.replace("backend = \"redis\"", "backend = \"mysql\"");
        let err = RegionConfig::parse(&text, "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mysql"), "{err}");
    }
}
