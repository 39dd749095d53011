//! Test harness: six in-process origins (real routers, embedded stores) on
//! port 0 and the real edge in front of them, with a throwaway CA, driven
//! over HTTPS with reqwest.

pub mod browser;
pub mod call;
pub mod otlp;
pub mod raw;
pub mod storefront;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use call::Send as _;
use meridian_common::events::EventBus;
use meridian_edge::config::EdgeConfig;
use meridian_server::config::RegionConfig;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub const SECRET: &str = "e2e-internal-secret-0123456789";
pub const CARRIER_SECRET: &str = "e2e-carrier-secret-0123456789";
/// The ops credential of platform analytics (`x-admin-token`).
pub const ADMIN_TOKEN: &str = "e2e-analytics-admin-0123456789";

/// (id, latitude, longitude) of the six regions, in config order.
pub const REGIONS: &[(&str, f64, f64)] = &[
    ("new-york", 40.7128, -74.0060),
    ("dallas", 32.7767, -96.7970),
    ("chicago", 41.8781, -87.6298),
    ("los-angeles", 34.0522, -118.2437),
    ("portland", 45.5152, -122.6784),
    ("virginia", 39.0438, -77.4874),
];

pub struct RegionHandle {
    pub id: &'static str,
    pub addr: SocketAddr,
    /// Everything this region's services published.
    pub events: EventBus,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Health check interval for the edge (ms).
    pub health_interval_ms: u64,
    /// Route `/api/auth/me` without `auth = "required"` (to prove the edge
    /// strips spoofed identity headers even where it does not check them).
    pub public_me: bool,
    pub max_body_bytes: u64,
    /// Sessions in this Redis (origins' session store, read directly by the
    /// edge) instead of memory + introspection.
    pub redis_url: Option<String>,
    /// Users, sellers and orders in this PostgreSQL (one schema per role and
    /// cluster) instead of memory.
    pub postgres_url: Option<String>,
    /// Products and payments in this DynamoDB (tables per cluster and
    /// region), the catalog cached in `redis_url` when that is set.
    pub dynamodb_url: Option<String>,
    /// Carts in this Redis Cluster (comma-separated seed nodes).
    pub redis_cluster: Option<String>,
    /// Reviews in this MongoDB (a database per cluster and region).
    pub mongodb_url: Option<String>,
    /// Seller images in this S3 endpoint (a bucket per cluster and region).
    pub s3_url: Option<String>,
    /// Shipments in this Cassandra node (a keyspace per cluster and region).
    pub cassandra: Option<String>,
    /// Search in this Elasticsearch (an index per cluster and region).
    pub elasticsearch_url: Option<String>,
    /// Outboxes relayed into these Kafka brokers (then the in-process bus),
    /// on topics prefixed with the cluster's namespace.
    pub kafka: Option<String>,
    /// Analytics in this ClickHouse (a database per cluster, shared by its
    /// regions); loaded from Kafka by the first region when `kafka` is set.
    pub clickhouse_url: Option<String>,
    /// More edge TOML appended after the generated config (cache rules,
    /// rate-limit groups, extra routes).
    pub edge_extra: String,
    /// More keys for the generated `[upstream]` table.
    pub upstream_extra: String,
    /// Origins serve mutual TLS; the edge presents its client certificate.
    pub origin_tls: bool,
    /// Cache the storefront's shared pages at the edge (the rules of
    /// `deploy/local/edge.toml`).
    pub page_cache: bool,
    /// Keys of every region's `[orders]` table (checkout limits).
    pub orders: String,
}

impl Options {
    /// Every store on its real backend, from the `MERIDIAN_TEST_*`
    /// endpoints; `None` (skip) when one is missing and not required.
    pub fn real_stores() -> Option<Self> {
        use meridian_common::testing::backend_endpoint;
        Some(Self {
            postgres_url: Some(backend_endpoint("MERIDIAN_TEST_POSTGRES")?),
            redis_url: Some(backend_endpoint("MERIDIAN_TEST_REDIS")?),
            dynamodb_url: Some(backend_endpoint("MERIDIAN_TEST_DYNAMODB")?),
            redis_cluster: Some(backend_endpoint("MERIDIAN_TEST_REDIS_CLUSTER")?),
            mongodb_url: Some(backend_endpoint("MERIDIAN_TEST_MONGODB")?),
            s3_url: Some(backend_endpoint("MERIDIAN_TEST_S3")?),
            cassandra: Some(backend_endpoint("MERIDIAN_TEST_CASSANDRA")?),
            elasticsearch_url: Some(backend_endpoint("MERIDIAN_TEST_ELASTICSEARCH")?),
            kafka: Some(backend_endpoint("MERIDIAN_TEST_KAFKA")?),
            clickhouse_url: Some(backend_endpoint("MERIDIAN_TEST_CLICKHOUSE")?),
            ..Self::default()
        })
    }
}

impl Options {
    /// `real_stores` for the all-real-stores stories, which run in their
    /// own `cargo test` invocation (`.ci/run` sets
    /// `MERIDIAN_E2E_REAL_STORES=1` for it): six origins on nine networked
    /// backends next to the embedded load tests would measure two shared
    /// cores, not the code.
    pub fn real_stores_run() -> Option<Self> {
        if std::env::var("MERIDIAN_E2E_REAL_STORES").as_deref() != Ok("1") {
            eprintln!("skipping: MERIDIAN_E2E_REAL_STORES is not 1 (see .ci/run)");
            return None;
        }
        Self::real_stores()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            health_interval_ms: 100,
            public_me: false,
            max_body_bytes: 1 << 20,
            redis_url: None,
            postgres_url: None,
            dynamodb_url: None,
            redis_cluster: None,
            mongodb_url: None,
            s3_url: None,
            cassandra: None,
            elasticsearch_url: None,
            kafka: None,
            clickhouse_url: None,
            edge_extra: String::new(),
            upstream_extra: String::new(),
            origin_tls: false,
            page_cache: false,
            orders: String::new(),
        }
    }
}

/// PostgreSQL schema prefix of one cluster.
fn schema_of(dir: &std::path::Path) -> String {
    let name = dir.file_name().unwrap().to_string_lossy();
    // PostgreSQL identifiers stop at 63 bytes: keep it short.
    format!("e2e_{}", &name[name.len() - 12..])
}

/// Redis key prefix of one cluster, so parallel clusters never share keys.
fn prefix_of(dir: &std::path::Path) -> String {
    format!("{}:", dir.file_name().unwrap().to_string_lossy())
}

pub struct Cluster {
    pub regions: Vec<RegionHandle>,
    options: Options,
    pub https: SocketAddr,
    pub http: SocketAddr,
    pub metrics: SocketAddr,
    /// The edge's admin API (bearer `EDGE_ADMIN_TOKEN`).
    pub admin: SocketAddr,
    /// The edge's config file (reloads re-read it).
    pub edge_path: PathBuf,
    pub ca_pem: Vec<u8>,
    /// The client behind `get`, `post`, … (no cookies kept).
    requests: reqwest::Client,
    edge: RunningEdge,
    pub dir: PathBuf,
    /// Held while the cluster uses the shared PostgreSQL (see `start`).
    _database_turn: Option<tokio::sync::MutexGuard<'static, ()>>,
}

/// Clusters on the shared PostgreSQL take turns within a test binary: six
/// regions × three roles of pools, under a 200-buyer race, would otherwise
/// crowd the server's connection limit when tests run in parallel.
static DATABASE_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A client of the edge at `https` that trusts the test CA, follows no
/// redirects and gives up after 10 s.
fn edge_client(ca_pem: &[u8], https: SocketAddr) -> reqwest::ClientBuilder {
    trusting(ca_pem, https)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
}

pub fn free_port() -> SocketAddr {
    // Pingora binds its own listeners, so reserve a port by binding and
    // releasing it. The kernel may hand a released port out again, and
    // Pingora's listeners set SO_REUSEPORT, so two clusters of one test
    // binary given the same port would both bind it and share its
    // connections (seen in CI: a metrics scrape answered by another edge's
    // TLS listener). No port is handed out twice in a process.
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port");
        if GIVEN.lock().unwrap().insert(addr.port()) {
            return addr;
        }
    }
}

/// A loopback address that refuses connections for as long as the returned
/// socket is held: it is bound but never listens, so the kernel answers a SYN
/// with a reset and no parallel test can take the port (a port from
/// `free_port` can be re-bound by another test's listener in between, which
/// then answers in place of "nobody").
pub fn refused_port() -> (SocketAddr, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("a loopback port");
    (socket.local_addr().unwrap(), socket)
}

fn write_certs(dir: &std::path::Path) -> Vec<u8> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Meridian e2e CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("leaf.crt"), leaf.pem()).unwrap();
    std::fs::write(dir.join("leaf.key"), leaf_key.serialize_pem()).unwrap();
    // A second certificate for the same names, for rotation tests.
    let mut rotated_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    rotated_params
        .distinguished_name
        .push(DnType::CommonName, "rotated");
    let rotated_key = KeyPair::generate().unwrap();
    let rotated = rotated_params
        .signed_by(&rotated_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("rotated.crt"), rotated.pem()).unwrap();
    std::fs::write(dir.join("rotated.key"), rotated_key.serialize_pem()).unwrap();
    // Mutual TLS between edge and origins: the origins' server certificate
    // and the edge's client certificate, from the same CA.
    for (name, san) in [
        ("origin", "origin.meridian.internal"),
        ("edge-client", "edge"),
    ] {
        let params = CertificateParams::new(vec![san.to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    ca.pem().into_bytes()
}

impl Options {
    fn backends<'a>(&'a self, prefix: &'a str, schema: &'a str) -> Backends<'a> {
        Backends {
            redis: self.redis_url.as_deref().map(|url| (url, prefix)),
            postgres: self.postgres_url.as_deref().map(|url| (url, schema)),
            dynamodb: self.dynamodb_url.as_deref(),
            redis_cluster: self.redis_cluster.as_deref(),
            mongodb: self.mongodb_url.as_deref(),
            s3: self.s3_url.as_deref(),
            cassandra: self.cassandra.as_deref(),
            elasticsearch: self.elasticsearch_url.as_deref(),
            kafka: self.kafka.as_deref(),
            clickhouse: self.clickhouse_url.as_deref(),
            namespace: schema,
            orders: &self.orders,
        }
    }
}

/// Backends of a cluster's origins beyond the embedded defaults.
#[derive(Clone, Copy)]
struct Backends<'a> {
    /// (url, key prefix) of the session Redis.
    redis: Option<(&'a str, &'a str)>,
    /// (url, schema prefix) of PostgreSQL.
    postgres: Option<(&'a str, &'a str)>,
    dynamodb: Option<&'a str>,
    redis_cluster: Option<&'a str>,
    mongodb: Option<&'a str>,
    s3: Option<&'a str>,
    cassandra: Option<&'a str>,
    elasticsearch: Option<&'a str>,
    kafka: Option<&'a str>,
    clickhouse: Option<&'a str>,
    /// Unique to the cluster: prefixes tables, databases, buckets, keys.
    namespace: &'a str,
    /// Keys of the `[orders]` table.
    orders: &'a str,
}

/// A region's config; sessions in Redis and users/sellers/orders in
/// PostgreSQL when given. PostgreSQL schemas are per region: embedded-style
/// separation, so regions do not share rows in the tests either.
fn region_config(id: &str, listen: &str, backends: Backends<'_>) -> RegionConfig {
    let (_, lat, lon) = REGIONS.iter().find(|(r, _, _)| *r == id).unwrap();
    let mut text = format!(
        "id = \"{id}\"\nname = \"{id}\"\nlatitude = {lat}\nlongitude = {lon}\n\
         listen = \"{listen}\"\ninternal_secret = \"{SECRET}\"\n\
         [logistics]\ncarrier_secret = \"{CARRIER_SECRET}\"\n\
         [analytics]\nadmin_token = \"{ADMIN_TOKEN}\"\nbatch_max_wait_ms = 100\n\
         loader = {}\nloader_group = \"{}-loader\"\n[orders]\n{}\n",
        id == REGIONS[0].0,
        // A group per cluster: a test that failed without stopping its
        // loader leaves a member the broker waits for before the next
        // cluster's loader may join a shared group.
        backends.namespace,
        backends.orders
    );
    if let Some((url, prefix)) = backends.redis {
        text.push_str(&format!(
            "[stores.sessions]\nbackend = \"redis\"\nurl = \"{url}\"\nkey_prefix = \"{prefix}\"\n"
        ));
    }
    if let Some((url, schema)) = backends.postgres {
        let region = id.replace('-', "_");
        for role in ["users", "sellers", "orders"] {
            text.push_str(&format!(
                "[stores.{role}]\nbackend = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}_{region}_{role}\"\nmax_connections = 8\n"
            ));
        }
    }
    text.push_str(&real_stores(id, backends));
    let mut config = RegionConfig::parse(&text, id).unwrap();
    config.validate(id).unwrap();
    config.sellers.images_dir =
        Some(std::env::temp_dir().join(format!("meridian-e2e-images-{id}")));
    config
}

/// The `[stores.*]` tables of the real backends given beyond PostgreSQL
/// and the session Redis.
fn real_stores(id: &str, b: Backends<'_>) -> String {
    let ns = format!("{}-{id}", b.namespace).replace('_', "-");
    let mut text = String::new();
    if let Some(url) = b.dynamodb {
        let cache = match b.redis {
            Some((redis, _)) => format!("cache_url = \"{redis}\"\n"),
            None => String::new(),
        };
        text.push_str(&format!(
            "[stores.products]\nbackend = \"dynamodb\"\nendpoint = \"{url}\"\ntable = \"{ns}-products\"\n{cache}\
             [stores.payments]\nbackend = \"dynamodb\"\nendpoint = \"{url}\"\ntable = \"{ns}-payments\"\n"
        ));
    }
    if let Some(nodes) = b.redis_cluster {
        let nodes: Vec<String> = nodes.split(',').map(|n| format!("\"{n}\"")).collect();
        text.push_str(&format!(
            "[stores.carts]\nbackend = \"redis-cluster\"\nnodes = [{}]\nkey_prefix = \"{ns}:\"\n",
            nodes.join(", ")
        ));
    }
    if let Some(url) = b.mongodb {
        text.push_str(&format!(
            "[stores.reviews]\nbackend = \"mongodb\"\nurl = \"{url}\"\ndatabase = \"{}\"\n",
            ns.replace('-', "_")
        ));
    }
    if let Some(node) = b.cassandra {
        text.push_str(&format!(
            "[stores.shipments]\nbackend = \"cassandra\"\nnodes = [\"{node}\"]\nkeyspace = \"{}\"\n",
            ns.replace('-', "_")
        ));
    }
    if let Some(url) = b.elasticsearch {
        text.push_str(&format!(
            "[stores.search]\nbackend = \"elasticsearch\"\nurl = \"{url}\"\nindex = \"{ns}\"\n"
        ));
    }
    if let Some(brokers) = b.kafka {
        text.push_str(&format!(
            "[events]\nbackend = \"kafka\"\nbrokers = \"{brokers}\"\ntopic_prefix = \"{}\"\n",
            b.namespace
        ));
    }
    if let Some(url) = b.clickhouse {
        text.push_str(&format!(
            "[stores.analytics]\nbackend = \"clickhouse\"\nurl = \"{url}\"\ndatabase = \"{}\"\n",
            b.namespace
        ));
    }
    if let Some(url) = b.s3 {
        text.push_str(&format!(
            "[stores.images]\nbackend = \"s3\"\nendpoint = \"{url}\"\nbucket = \"{ns}\"\n"
        ));
    }
    text
}

/// The origins' mutual-TLS server config for a cluster in `dir`.
fn origin_tls(dir: &std::path::Path) -> OriginTls {
    let tls = meridian_server::config::ServerTls {
        cert: dir.join("origin.crt"),
        key: dir.join("origin.key"),
        client_ca: dir.join("ca.crt"),
    };
    Some(meridian_server::tls::server_config(&tls).unwrap())
}

type OriginTls = Option<std::sync::Arc<rustls::ServerConfig>>;

/// Serves an origin (over mutual TLS when `tls` is given) until `stopped`.
fn serve_origin(
    listener: tokio::net::TcpListener,
    origin: meridian_server::Origin,
    tls: OriginTls,
    stopped: oneshot::Receiver<()>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stop = async {
            let _ = stopped.await;
        };
        match tls {
            Some(tls) => meridian_server::tls::serve_tls(listener, origin, tls, stop).await,
            None => meridian_server::serve(listener, origin, stop).await,
        }
        .unwrap();
    })
}

async fn start_origin(id: &'static str, backends: Backends<'_>, tls: OriginTls) -> RegionHandle {
    let config = region_config(id, "127.0.0.1:0", backends);
    let origin = meridian_server::build(&config).await.unwrap();
    let events = origin.events.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = serve_origin(listener, origin, tls, stopped);
    RegionHandle {
        id,
        addr,
        events,
        stop: Some(stop),
        task,
    }
}

/// The edge's admin bearer token in tests.
pub const EDGE_ADMIN_TOKEN: &str = "e2e-edge-admin-token-0123456789";

/// The listeners of a test edge.
#[derive(Debug, Clone, Copy)]
pub struct EdgePorts {
    pub https: SocketAddr,
    pub http: SocketAddr,
    pub metrics: SocketAddr,
    pub admin: SocketAddr,
}

impl EdgePorts {
    pub fn free() -> Self {
        Self {
            https: free_port(),
            http: free_port(),
            metrics: free_port(),
            admin: free_port(),
        }
    }
}

/// The storefront's shared-page cache rules, as deployed: (prefix, exact,
/// max ttl).
const PAGE_CACHE_RULES: &[(&str, bool, u64)] = &[
    ("/", true, 300_000),
    ("/c", false, 300_000),
    ("/p", false, 300_000),
    ("/shop", false, 300_000),
    ("/search", false, 60_000),
    ("/assets", false, 31_536_000_000),
];

fn page_cache_rules() -> String {
    PAGE_CACHE_RULES
        .iter()
        .map(|(prefix, exact, ttl)| {
            format!(
                "[[cache.rules]]\nprefix = \"{prefix}\"\nexact = {exact}\nshared = true\n\
                 max_ttl_ms = {ttl}\nstale_while_revalidate_ms = 30000\n"
            )
        })
        .collect()
}

/// The TOML of a test edge in front of `regions` (certificates in `dir`).
pub fn edge_toml(
    regions: &[(&str, SocketAddr)],
    ports: EdgePorts,
    dir: &std::path::Path,
    o: &Options,
) -> String {
    let EdgePorts {
        https,
        http,
        metrics,
        admin,
    } = ports;
    let mut text = format!(
        r#"
        [listen]
        https = "{https}"
        http = "{http}"
        metrics = "{metrics}"
        upgrade_sock = "{sock}"
        [admin]
        listen = "{admin}"
        token = "{EDGE_ADMIN_TOKEN}"
        [tls]
        certs = [{{ names = ["localhost"], cert = "{crt}", key = "{key}" }}]
        [edge]
        internal_secret = "{SECRET}"
        max_body_bytes = {max_body}
        access_log = false
        # The tests' host is localhost: check HSTS there too.
        hsts_on_dev_names = true
        location = {{ latitude = 41.8781, longitude = -87.6298 }}
        [geo]
        trusted_header_sources = ["127.0.0.0/8"]
        [health]
        interval_ms = {interval}
        timeout_ms = 1000
        unhealthy_threshold = 2
        healthy_threshold = 2
        [upstream]
        connect_timeout_ms = 500
        {upstream_extra}
        [session]
        cache_ttl_ms = 60000
        {redis}
        "#,
        redis = o
            .redis_url
            .as_ref()
            .map(|url| format!(
                "redis_url = \"{url}\"\nredis_key_prefix = \"{}\"",
                prefix_of(dir)
            ))
            .unwrap_or_default(),
        sock = dir.join(format!("upgrade-{}.sock", https.port())).display(),
        crt = dir.join("leaf.crt").display(),
        key = dir.join("leaf.key").display(),
        max_body = o.max_body_bytes,
        upstream_extra = if o.origin_tls {
            format!(
                "{}\ntls = {{ ca = \"{ca}\", cert = \"{cert}\", key = \"{key}\" }}",
                o.upstream_extra,
                ca = dir.join("ca.crt").display(),
                cert = dir.join("edge-client.crt").display(),
                key = dir.join("edge-client.key").display(),
            )
        } else {
            o.upstream_extra.clone()
        },
        interval = o.health_interval_ms,
    );
    for (id, addr) in regions {
        let (_, lat, lon) = REGIONS.iter().find(|(r, _, _)| r == id).unwrap();
        text.push_str(&format!(
            "[[regions]]\nid = \"{id}\"\nlatitude = {lat}\nlongitude = {lon}\norigin = \"{addr}\"\n",
        ));
    }
    let me_auth = if o.public_me { "none" } else { "required" };
    text.push_str(&format!(
        r#"
        [[routes]]
        prefix = "/api/auth"
        service = "auth"
        [[routes]]
        prefix = "/api/auth/me"
        service = "auth"
        auth = "{me_auth}"
        [[routes]]
        prefix = "/api/auth/logout"
        service = "auth"
        auth = "required"
        ends_session = true
        [[routes]]
        prefix = "/api/catalog"
        service = "catalog"
        [[routes]]
        prefix = "/api/catalog/products"
        service = "catalog"
        methods = ["POST", "PATCH", "PUT", "DELETE"]
        auth = "required"
        [[routes]]
        prefix = "/api/sellers"
        service = "sellers"
        [[routes]]
        prefix = "/api/sellers/shops"
        service = "sellers"
        methods = ["POST"]
        auth = "required"
        [[routes]]
        prefix = "/api/sellers/me"
        service = "sellers"
        auth = "required"
        [[routes]]
        prefix = "/api/sellers/me/images"
        service = "sellers"
        auth = "required"
        max_body_bytes = 6291456
        [[routes]]
        prefix = "/api/cart"
        service = "cart"
        [[routes]]
        prefix = "/api/orders"
        service = "orders"
        auth = "required"
        [[routes]]
        prefix = "/api/orders/quote"
        service = "orders"
        methods = ["POST"]
        [[routes]]
        prefix = "/api/logistics"
        service = "logistics"
        [[routes]]
        prefix = "/api/logistics/orders"
        service = "logistics"
        auth = "required"
        [[routes]]
        prefix = "/api/reviews"
        service = "reviews"
        [[routes]]
        prefix = "/api/reviews"
        service = "reviews"
        methods = ["POST", "PUT", "PATCH", "DELETE"]
        auth = "required"
        [[routes]]
        prefix = "/api/search"
        service = "search"
        [[routes]]
        prefix = "/api/analytics"
        service = "analytics"
        [[routes]]
        prefix = "/api/analytics/seller"
        service = "analytics"
        auth = "required"
        [[routes]]
        prefix = "/api/openapi.json"
        service = "openapi.json"
        [[routes]]
        prefix = "/"
        service = "storefront"
        errors = "html"
        [[routes]]
        prefix = "/signout"
        service = "storefront"
        methods = ["POST"]
        errors = "html"
        ends_session = true
        [[routes]]
        prefix = "/sell/products"
        service = "storefront"
        errors = "html"
        max_body_bytes = 6291456
        "#
    ));
    if o.page_cache {
        text.push_str(&page_cache_rules());
    }
    text.push_str(&o.edge_extra);
    text
}

/// Writes an edge config file and loads it as the edge binary would.
pub fn write_edge_config(path: &std::path::Path, text: &str) -> EdgeConfig {
    std::fs::write(path, text).unwrap();
    EdgeConfig::load(path).unwrap_or_else(|e| panic!("test edge config: {e}"))
}

impl Cluster {
    pub async fn start(options: Options) -> Cluster {
        let database_turn = match options.postgres_url {
            Some(_) => Some(DATABASE_TURN.lock().await),
            None => None,
        };
        let dir =
            std::env::temp_dir().join(format!("meridian-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_pem = write_certs(&dir);
        let (prefix, schema) = (prefix_of(&dir), schema_of(&dir));
        let backends = options.backends(&prefix, &schema);
        let mut regions = Vec::new();
        let tls = if options.origin_tls {
            origin_tls(&dir)
        } else {
            None
        };
        for (id, _, _) in REGIONS {
            regions.push(start_origin(id, backends, tls.clone()).await);
        }
        let addrs: Vec<(&str, SocketAddr)> = regions.iter().map(|r| (r.id, r.addr)).collect();
        let edge_path = dir.join("edge.toml");
        let edge = launch_edge(&edge_path, &ca_pem, |ports| {
            edge_toml(&addrs, ports, &dir, &options)
        })
        .await;
        let ports = edge.ports;
        let cluster = Cluster {
            _database_turn: database_turn,
            regions,
            options,
            https: ports.https,
            http: ports.http,
            metrics: ports.metrics,
            admin: ports.admin,
            edge_path,
            requests: edge_client(&ca_pem, ports.https).build().unwrap(),
            ca_pem,
            edge,
            dir,
        };
        cluster.wait_ready().await;
        cluster
    }

    /// Waits for the origins behind the edge: a catalog read through it.
    async fn wait_ready(&self) {
        let client = self.client();
        let mut last = String::new();
        for _ in 0..600 {
            match client.get(self.url("/api/catalog/categories")).send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the regions did not answer through the edge (last: {last})");
    }

    /// An HTTPS client trusting the test CA; ALPN picks HTTP/2.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        edge_client(&self.ca_pem, self.https)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https.port())
    }

    /// `method path` through the edge, to finish with `.reply().await`.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.requests.request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, path)
    }

    /// `GET path` through the edge (as `token`, if given), as JSON.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> serde_json::Value {
        let mut request = self.get(path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request.reply().await;
        assert!(
            reply.status().is_success(),
            "GET {path}: {} {}",
            reply.status(),
            reply.text
        );
        reply.json
    }

    /// Calls the edge's admin API: (status, JSON body).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("http://{}{path}", self.admin))
            .bearer_auth(EDGE_ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin API reachable");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// `metric_sum` of `name` over the `/metrics` of every running origin.
    pub async fn origin_metric(&self, name: &str, parts: &[&str]) -> f64 {
        let mut total = 0.0;
        for r in self.regions.iter().filter(|r| r.stop.is_some()) {
            total += metric_sum(&scrape(r.addr).await, name, parts);
        }
        total
    }

    /// Requests the origins of every region served for `service`
    /// (`meridian_http_requests_total`), to count what reached them.
    pub async fn origin_requests(&self, service: &str) -> f64 {
        let label = format!("service=\"{service}\"");
        self.origin_metric("meridian_http_requests_total", &[&label])
            .await
    }

    /// The edge's own metrics text.
    pub async fn edge_metrics(&self) -> String {
        scrape(self.metrics).await
    }

    /// (region id, address) of every region, for building edge configs.
    pub fn region_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.regions.iter().map(|r| (r.id, r.addr)).collect()
    }

    /// The regions' addresses with `id` reached through a `meridian-relay`
    /// adding `delay` each way, and the relay's control (cut, restore,
    /// delay), for an edge started with `start_edge_for`.
    pub async fn relaying(
        &self,
        id: &str,
        delay: Duration,
    ) -> (
        std::sync::Arc<meridian_relay::Control>,
        Vec<(&'static str, SocketAddr)>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relayed = listener.local_addr().unwrap();
        let link = meridian_relay::Control::new(delay);
        tokio::spawn(meridian_relay::serve(
            listener,
            self.region(id).addr,
            link.clone(),
        ));
        let regions = self
            .region_addrs()
            .into_iter()
            .map(|(r, addr)| (r, if r == id { relayed } else { addr }))
            .collect();
        (link, regions)
    }

    /// Another edge in front of the same regions: the cluster's options
    /// with `edge_extra` in place of theirs (e.g. limits shared by edges).
    pub async fn start_extra_edge(&self, name: &str, edge_extra: &str) -> ExtraEdge {
        self.start_edge_for(name, &self.region_addrs(), edge_extra)
            .await
    }

    /// An edge in front of the given (region id, origin) pairs, with the
    /// cluster's certificates and options but `edge_extra` in place of
    /// theirs. Ready once its admin API answers.
    pub async fn start_edge_for(
        &self,
        name: &str,
        regions: &[(&str, SocketAddr)],
        edge_extra: &str,
    ) -> ExtraEdge {
        let mut options = self.options.clone();
        edge_extra.clone_into(&mut options.edge_extra);
        let path = self.dir.join(format!("edge-{name}.toml"));
        let edge = launch_edge(&path, &self.ca_pem, |ports| {
            edge_toml(regions, ports, &self.dir, &options)
        })
        .await;
        ExtraEdge {
            edge,
            ca_pem: self.ca_pem.clone(),
        }
    }

    pub fn region(&self, id: &str) -> &RegionHandle {
        self.regions.iter().find(|r| r.id == id).unwrap()
    }

    /// Stops a region's origin (graceful: in-flight requests finish).
    pub async fn stop_region(&mut self, id: &str) {
        let region = self.regions.iter_mut().find(|r| r.id == id).unwrap();
        if let Some(stop) = region.stop.take() {
            let _ = stop.send(());
        }
        (&mut region.task).await.unwrap();
    }

    /// Starts a stopped region again on the same address.
    pub async fn restart_region(&mut self, id: &'static str) {
        let (prefix, schema) = (prefix_of(&self.dir), schema_of(&self.dir));
        let backends = self.options.backends(&prefix, &schema);
        let region = self.regions.iter_mut().find(|r| r.id == id).unwrap();
        let config = region_config(id, &region.addr.to_string(), backends);
        let origin = meridian_server::build(&config).await.unwrap();
        region.events = origin.events.clone();
        let listener = tokio::net::TcpListener::bind(region.addr).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        region.stop = Some(stop);
        let tls = if self.options.origin_tls {
            origin_tls(&self.dir)
        } else {
            None
        };
        region.task = serve_origin(listener, origin, tls, stopped);
    }

    pub async fn shutdown(mut self) {
        self.edge.stop().await;
        for r in &mut self.regions {
            if let Some(stop) = r.stop.take() {
                let _ = stop.send(());
            }
        }
        if let Some(url) = &self.options.postgres_url {
            drop_cluster_schemas(url, &schema_of(&self.dir)).await;
        }
        if let Some(url) = &self.options.clickhouse_url {
            // The loader may still be writing: give its task a moment to end.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = reqwest::Client::new()
                .post(url)
                .body(format!("DROP DATABASE IF EXISTS {}", schema_of(&self.dir)))
                .send()
                .await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An in-process edge: its listeners, stop switch and task.
struct RunningEdge {
    ports: EdgePorts,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts an edge with the config `text(ports)` written to `path`, and
/// waits until its HTTPS listener (a TLS handshake that verifies against
/// the test CA, so it is this edge and no other process), its admin API and
/// its metrics endpoint answer. Ports are picked by binding and releasing them, so
/// another test can take one in between: an edge that cannot bind does not
/// become ready, and is started again on other ports.
async fn launch_edge(
    path: &std::path::Path,
    ca_pem: &[u8],
    text: impl Fn(EdgePorts) -> String,
) -> RunningEdge {
    const ATTEMPTS: u32 = 3;
    for attempt in 1..=ATTEMPTS {
        let ports = EdgePorts::free();
        let config = write_edge_config(path, &text(ports));
        let app = meridian_edge::build(&config, path).unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(app.run(stop_rx));
        let edge = RunningEdge { ports, stop, task };
        if edge.answers(ca_pem).await {
            return edge;
        }
        eprintln!("edge on {ports:?} did not answer (attempt {attempt} of {ATTEMPTS})");
        edge.task.abort();
        let _ = edge.task.await;
    }
    panic!("no edge became ready in {ATTEMPTS} attempts");
}

impl RunningEdge {
    /// True once its HTTPS, admin and metrics listeners answer; false if the
    /// edge ended (a listener failed to bind) or 20 s passed.
    async fn answers(&self, ca_pem: &[u8]) -> bool {
        let https = trusting(ca_pem, self.ports.https)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let admin = reqwest::Client::new();
        // An unclean path (`//`): the edge answers 400 itself, so the probe
        // never reaches an origin (it would count towards breakers).
        let url = format!("https://localhost:{}/ready//probe", self.ports.https.port());
        for _ in 0..400 {
            if self.task.is_finished() {
                return false;
            }
            let admin_ok = admin
                .get(format!("http://{}/admin/regions", self.ports.admin))
                .bearer_auth(EDGE_ADMIN_TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let metrics_ok = admin
                .get(format!("http://{}/metrics", self.ports.metrics))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if admin_ok && metrics_ok && https.get(&url).send().await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Stops the edge gracefully (in-flight requests finish), 5 s at most.
    async fn stop(&mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

/// A client builder trusting the test CA, with `localhost` resolved to an
/// edge's HTTPS listener.
fn trusting(ca_pem: &[u8], https: SocketAddr) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
        .resolve("localhost", https)
}

/// A second (or third) edge started by `Cluster::start_extra_edge`.
pub struct ExtraEdge {
    edge: RunningEdge,
    ca_pem: Vec<u8>,
}

impl ExtraEdge {
    pub fn client(&self) -> reqwest::Client {
        trusting(&self.ca_pem, self.edge.ports.https)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.edge.ports.https.port())
    }

    pub async fn metrics(&self) -> String {
        scrape(self.edge.ports.metrics).await
    }

    pub async fn stop(mut self) {
        self.edge.stop().await;
    }
}

/// The Prometheus text of `GET http://<addr>/metrics`.
pub async fn scrape(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one sample (`name{labels…} value`) in Prometheus text, or
/// the sum of every sample whose line contains all of `parts`.
pub fn metric_sum(text: &str, name: &str, parts: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The `x-meridian-region` of a response.
pub fn region_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-meridian-region")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// `{"error":{"code"}}` of an error response.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned()
}

/// Calls an origin directly as the edge would: internal credential plus the
/// identity headers given (for tests that need many users without logins).
pub fn as_edge(
    client: &reqwest::Client,
    method: reqwest::Method,
    origin: SocketAddr,
    path: &str,
    user: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = client
        .request(method, format!("http://{origin}{path}"))
        .header("x-meridian-internal", SECRET);
    if let Some(user) = user {
        request = request.header("x-user-id", user);
    }
    request
}

/// Waits until `count(events)` stops changing (the relay is asynchronous).
pub async fn settled_count(bus: &EventBus, event_type: &str) -> usize {
    let mut last = usize::MAX;
    for _ in 0..50 {
        let n = bus
            .published()
            .iter()
            .filter(|e| e.event_type == event_type)
            .count();
        if n == last {
            return n;
        }
        last = n;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    last
}

pub const PASSWORD: &str = "correct horse battery";

/// Registers an account through the edge and logs in; returns the session
/// token and the account.
pub async fn register_and_login(
    cluster: &Cluster,
    client: &reqwest::Client,
    email: &str,
) -> (String, serde_json::Value) {
    let r = client
        .post(cluster.url("/api/auth/register"))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD, "display_name": "Ann Example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user: serde_json::Value = r.json().await.unwrap();
    let r = client
        .post(cluster.url("/api/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["meridian_session=", "HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["user"]["id"], user["id"]);
    (body["token"].as_str().unwrap().to_owned(), user)
}

/// Sends `request` until the answer is not a 503 (at most 30 times, 200 ms
/// apart) and returns its status and JSON body. A checkout's 503 means
/// "still running: retry with the same key", which can never produce a
/// second order or charge.
pub async fn send_retrying_503(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    for _ in 0..30 {
        let r = request.try_clone().unwrap().send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.json::<serde_json::Value>().await.unwrap();
        if status != 503 {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (503, serde_json::Value::Null)
}

/// `register_and_login`, token only.
pub async fn login(cluster: &Cluster, client: &reqwest::Client, email: &str) -> String {
    register_and_login(cluster, client, email).await.0
}

/// Drops every schema a cluster created.
async fn drop_cluster_schemas(url: &str, prefix: &str) {
    let Ok(pool) = sqlx::PgPool::connect(url).await else {
        return;
    };
    let like = format!("{prefix}%");
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1")
            .bind(like)
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    for schema in schemas {
        meridian_common::testing::drop_pg_schema(url, &schema).await;
    }
}

/// Opens a shop for the signed-in `token` through the edge (201 expected).
pub async fn open_shop(cluster: &Cluster, token: &str, slug: &str) -> serde_json::Value {
    cluster
        .post("/api/sellers/shops")
        .bearer_auth(token)
        .json(&serde_json::json!({ "name": "Hudson Workshop", "slug": slug, "contact_email": "shop@example.com" }))
        .reply()
        .await
        .expect(201)
}
