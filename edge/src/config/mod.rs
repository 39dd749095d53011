//! The edge's configuration: one TOML file (`deploy/local/edge.toml`).
//!
//! Parsed with `deny_unknown_fields` and validated as a whole before anything
//! uses it, so a bad file is rejected with a message naming the key and a
//! running edge keeps its previous configuration.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use crate::geo::{Location, MAX_REGIONS};

mod address;
mod compression;
mod protocol;
mod trace;
mod traffic;

pub use address::OriginAddr;
pub use compression::{CompressionConfig, Levels};
pub use protocol::ProtocolConfig;
pub use trace::TracingConfig;
pub use traffic::{CacheConfig, CacheRule, RateLimitConfig, RateLimitGroup};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    pub listen: ListenConfig,
    pub tls: TlsConfig,
    #[serde(default)]
    pub edge: EdgeSettings,
    #[serde(default)]
    pub geo: GeoConfig,
    #[serde(default)]
    pub health: HealthConfig,
    #[serde(default)]
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub session: SessionConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    #[serde(default)]
    pub compression: CompressionConfig,
    #[serde(default)]
    pub protocol: ProtocolConfig,
    /// Spans over OTLP; absent: off.
    #[serde(default)]
    pub tracing: Option<TracingConfig>,
    pub regions: Vec<RegionEntry>,
    pub routes: Vec<RouteEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin API listener (reload, purge, regions, drain). Keep it on
    /// loopback or a private interface; absent: no admin API.
    pub listen: Option<SocketAddr>,
    /// Bearer token for the admin API. `MERIDIAN_EDGE_ADMIN_TOKEN` overrides.
    #[serde(default)]
    pub token: String,
    /// The admin API listens on loopback unless this is set (then put it on
    /// a private interface, never the public one).
    #[serde(default)]
    pub allow_remote: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// TLS listener (HTTP/1.1 and HTTP/2).
    pub https: SocketAddr,
    /// Optional plain-HTTP listener that only redirects to HTTPS.
    pub http: Option<SocketAddr>,
    /// Optional Prometheus scrape listener (`/metrics`).
    pub metrics: Option<SocketAddr>,
    /// HTTPS port named in redirects, when clients reach the edge through a
    /// port other than `https`'s (e.g. 443 forwarded to 8443).
    pub public_https_port: Option<u16>,
    /// Threads share the connections (work stealing), or each keeps the
    /// ones it accepted on its own single-threaded runtime (`false`: no
    /// cross-thread wakeups; see docs/edge.md "Performance against nginx").
    #[serde(default = "yes")]
    pub work_stealing: bool,
    /// Worker threads of the proxy. One beats two on a 2-core machine that
    /// also runs the origins; raise it on a dedicated edge host.
    #[serde(default = "one")]
    pub threads: usize,
    /// Unix socket a new binary started with `--upgrade` takes the
    /// listening sockets from (graceful upgrade, see deploy/README.md).
    #[serde(default = "default_upgrade_sock")]
    pub upgrade_sock: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificates by SNI name; the first is also the default for clients
    /// that send no (or an unknown) server name.
    pub certs: Vec<CertEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertEntry {
    /// Server names this certificate serves (`*.example.com` allowed).
    #[serde(default)]
    pub names: Vec<String>,
    /// PEM chain and key; relative paths are relative to the config file.
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSettings {
    /// Shared secret proving to origins that a request passed the edge.
    /// `MERIDIAN_INTERNAL_SECRET` overrides it.
    #[serde(default)]
    pub internal_secret: String,
    /// Largest request body accepted (bytes); larger → 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// Where this edge is; clients with no better location are routed from here.
    #[serde(default = "default_location")]
    pub location: Location,
    /// One structured log line per request (request id, region, status, time).
    #[serde(default = "yes")]
    pub access_log: bool,
    /// `Strict-Transport-Security` on every HTTPS response: browsers use
    /// HTTPS only for this long (seconds). 0 sends none.
    #[serde(default = "default_hsts_max_age")]
    pub hsts_max_age_secs: u64,
    /// Extend that to every subdomain (only when all of them serve HTTPS).
    #[serde(default)]
    pub hsts_include_subdomains: bool,
    /// Send HSTS to `localhost`, `*.localhost` and IP addresses too. Off by
    /// default: a browser that learns HSTS for localhost refuses every
    /// plain-HTTP dev server on it afterwards.
    #[serde(default)]
    pub hsts_on_dev_names: bool,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            internal_secret: String::new(),
            max_body_bytes: default_max_body(),
            location: default_location(),
            access_log: true,
            hsts_max_age_secs: default_hsts_max_age(),
            hsts_include_subdomains: false,
            hsts_on_dev_names: false,
        }
    }
}

impl EdgeSettings {
    /// The `Strict-Transport-Security` value, if any is sent.
    pub fn hsts(&self) -> Option<String> {
        (self.hsts_max_age_secs > 0).then(|| {
            let sub = if self.hsts_include_subdomains {
                "; includeSubDomains"
            } else {
                ""
            };
            format!("max-age={}{sub}", self.hsts_max_age_secs)
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoConfig {
    /// Peers allowed to state a client's location in `x-client-geo`
    /// (e.g. a CDN or load balancer in front of the edge).
    #[serde(default)]
    pub trusted_header_sources: Vec<IpNet>,
    /// Client networks with a known location.
    #[serde(default)]
    pub networks: Vec<NetworkEntry>,
    /// How requests located at the edge itself (no trusted header, no known
    /// network) choose a region: `distance` from the edge, or `latency`,
    /// the round trip the health checks measure (smoothed), falling back to
    /// distance until there is a measurement. Located clients always go by
    /// distance from where they are: the edge's round trips say nothing
    /// about theirs.
    #[serde(default)]
    pub routing: GeoRouting,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeoRouting {
    #[default]
    Distance,
    Latency,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkEntry {
    pub cidr: IpNet,
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    #[serde(default = "default_health_path")]
    pub path: String,
    #[serde(default = "default_health_interval")]
    pub interval_ms: u64,
    #[serde(default = "default_health_timeout")]
    pub timeout_ms: u64,
    /// Consecutive failed checks that mark a region down.
    #[serde(default = "two")]
    pub unhealthy_threshold: u32,
    /// Consecutive passed checks that mark it up again.
    #[serde(default = "two")]
    pub healthy_threshold: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            path: default_health_path(),
            interval_ms: default_health_interval(),
            timeout_ms: default_health_timeout(),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_read_timeout")]
    pub read_timeout_ms: u64,
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// Passive ejection: this many consecutive failures (connect errors,
    /// timeouts, 502/503/504) open the region's circuit breaker.
    #[serde(default = "default_eject_after")]
    pub eject_after_failures: u32,
    /// How long an open breaker keeps the region out; then one trial
    /// request decides (success closes it, failure re-opens it).
    #[serde(default = "default_eject_ms")]
    pub eject_ms: u64,
    /// Retries allowed as a share of requests (per second), so retries
    /// cannot multiply load when regions fail together.
    #[serde(default = "default_retry_ratio")]
    pub retry_budget_ratio: f64,
    /// Retries always allowed per second, whatever the ratio says.
    #[serde(default = "default_retry_min")]
    pub retry_budget_min_per_sec: u32,
    /// Requests the edge sends one region at once (0: no limit). Past it a
    /// request waits up to `queue_ms` for one to finish, then is answered
    /// `503 overloaded` with `Retry-After` at once: the queue stays at the
    /// edge, where a refusal costs nearly nothing, instead of in front of
    /// an origin whose every late answer is work thrown away. Cached
    /// answers never take a slot.
    #[serde(default)]
    pub max_in_flight_per_region: u32,
    #[serde(default = "default_queue_ms")]
    pub queue_ms: u64,
    /// Of those slots, reads (GET, HEAD) may hold at most this share and
    /// anonymous reads at most `anonymous_read_share`, so writes (carts,
    /// checkouts, sellers' changes) still find room when reads flood in.
    #[serde(default = "default_read_share")]
    pub read_share: f64,
    #[serde(default = "default_anonymous_read_share")]
    pub anonymous_read_share: f64,
    /// Optional mutual TLS from edge to origins.
    pub tls: Option<UpstreamTls>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: default_connect_timeout(),
            read_timeout_ms: default_read_timeout(),
            idle_timeout_ms: default_idle_timeout(),
            eject_after_failures: default_eject_after(),
            eject_ms: default_eject_ms(),
            retry_budget_ratio: default_retry_ratio(),
            retry_budget_min_per_sec: default_retry_min(),
            max_in_flight_per_region: 0,
            queue_ms: default_queue_ms(),
            read_share: default_read_share(),
            anonymous_read_share: default_anonymous_read_share(),
            tls: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// CA that signed the origins' certificates (PEM).
    pub ca: PathBuf,
    /// The edge's client certificate and key (PEM), checked by origins.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Name expected in the origins' certificates.
    #[serde(default = "default_origin_name")]
    pub server_name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// How long a positive session answer is reused without asking again.
    #[serde(default = "default_session_cache_ttl")]
    pub cache_ttl_ms: u64,
    #[serde(default = "default_session_cache_capacity")]
    pub cache_capacity: u64,
    /// Validate sessions directly in this Redis (the auth service's session
    /// store); without it the edge asks the auth service's introspection
    /// endpoint in the region serving the request.
    pub redis_url: Option<String>,
    #[serde(default = "default_redis_prefix")]
    pub redis_key_prefix: String,
    #[serde(default = "default_lookup_timeout")]
    pub lookup_timeout_ms: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cache_ttl_ms: default_session_cache_ttl(),
            cache_capacity: default_session_cache_capacity(),
            redis_url: None,
            redis_key_prefix: default_redis_prefix(),
            lookup_timeout_ms: default_lookup_timeout(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEntry {
    pub id: String,
    pub latitude: f64,
    pub longitude: f64,
    /// The region's origin, `ip:port` or `name:port` (a name is resolved
    /// by the health checker and followed when it changes).
    pub origin: OriginAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Public: no credential needed (a valid one is still passed on).
    None,
    /// A live session or seller API key is required; otherwise 401 without
    /// reaching an origin. Which of the two an operation accepts is the
    /// origin's decision.
    Required,
}

/// What the edge's own error answers on a route look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorFormat {
    /// `{"error":{"code","message"}}` (API routes).
    #[default]
    Json,
    /// A readable HTML page (the storefront's page routes).
    Html,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// Path prefix, matched on whole segments (`/api/auth` matches
    /// `/api/auth/me`, not `/api/authx`). A `{name}` segment matches any
    /// one segment (`/api/orders/{id}/cancel`). The most specific match
    /// wins: deeper, then more literal segments, then exact.
    pub prefix: String,
    /// Cover only this path, not the paths below it.
    #[serde(default)]
    pub exact: bool,
    /// The service behind it. API routes (`errors = "json"`) must start
    /// with `/api/<service>`; page routes (`errors = "html"`) must not
    /// start with `/api`.
    pub service: String,
    /// The format of errors the edge answers on this route itself (401,
    /// 404, 413, 429, 5xx when no region can answer).
    #[serde(default)]
    pub errors: ErrorFormat,
    /// A successful POST here ends the presented session: the edge drops
    /// it from its session cache at once (sign-out routes).
    #[serde(default)]
    pub ends_session: bool,
    /// Requests here go first when a region's slots run short, before any
    /// other write (checkout: the end of a visit, which shedding would
    /// throw away with every request that led to it).
    #[serde(default)]
    pub critical: bool,
    /// Restrict to these methods (a route with methods beats one without at
    /// the same prefix). Empty: any method.
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default = "auth_none")]
    pub auth: AuthMode,
    /// Body limit for this route (e.g. image uploads), overriding
    /// `edge.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
    /// Time allowed for the origin's answer (per read/write), overriding
    /// `upstream.read_timeout_ms`; past it the client gets 504.
    pub timeout_ms: Option<u64>,
    /// Rate-limit group (`rate_limit.groups[].name`) this route counts in.
    pub rate_limit: Option<String>,
    /// Compress this route's responses (when `[compression]` is on);
    /// `false` for bodies that must go out byte for byte.
    #[serde(default = "yes")]
    pub compress: bool,
    /// Overrides `compression.min_bytes` for this route.
    pub compress_min_bytes: Option<u64>,
}

fn one() -> usize {
    1
}
fn two() -> u32 {
    2
}
pub(super) fn yes() -> bool {
    true
}
fn auth_none() -> AuthMode {
    AuthMode::None
}
fn default_max_body() -> u64 {
    1 << 20
}
fn default_hsts_max_age() -> u64 {
    // One year, as browsers' preload lists expect.
    31_536_000
}
fn default_location() -> Location {
    // Geographic center of the contiguous US (Lebanon, Kansas).
    Location {
        latitude: 39.8283,
        longitude: -98.5795,
    }
}
fn default_health_path() -> String {
    "/readyz".to_owned()
}
fn default_health_interval() -> u64 {
    1_000
}
fn default_health_timeout() -> u64 {
    800
}
fn default_connect_timeout() -> u64 {
    1_000
}
fn default_read_timeout() -> u64 {
    30_000
}
fn default_idle_timeout() -> u64 {
    60_000
}
fn default_session_cache_ttl() -> u64 {
    5_000
}
fn default_session_cache_capacity() -> u64 {
    100_000
}
fn default_redis_prefix() -> String {
    "meridian:".to_owned()
}
fn default_lookup_timeout() -> u64 {
    1_000
}
fn default_eject_after() -> u32 {
    5
}
fn default_eject_ms() -> u64 {
    5_000
}
fn default_retry_ratio() -> f64 {
    0.2
}
fn default_queue_ms() -> u64 {
    25
}
fn default_read_share() -> f64 {
    0.8
}
fn default_anonymous_read_share() -> f64 {
    0.5
}
fn default_retry_min() -> u32 {
    5
}
fn default_upgrade_sock() -> PathBuf {
    PathBuf::from("/tmp/meridian-edge-upgrade.sock")
}
fn default_origin_name() -> String {
    "origin.meridian.internal".to_owned()
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
        key: String,
        message: String,
    },
}

impl EdgeConfig {
    /// Reads, parses, resolves relative paths and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: file.clone(),
            source,
        })?;
        let mut config = Self::parse(&text, &file)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for cert in &mut config.tls.certs {
            cert.cert = base.join(&cert.cert);
            cert.key = base.join(&cert.key);
        }
        if let Some(tls) = &mut config.upstream.tls {
            tls.ca = base.join(&tls.ca);
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
        }
        if let Ok(secret) = std::env::var("MERIDIAN_INTERNAL_SECRET") {
            config.edge.internal_secret = secret;
        }
        if let Ok(token) = std::env::var("MERIDIAN_EDGE_ADMIN_TOKEN") {
            config.admin.token = token;
        }
        config.validate(&file)?;
        Ok(config)
    }

    /// The files this config reads besides itself (certificates and keys,
    /// as resolved by `load`): a change to any of them is a reason to reload.
    pub fn files(&self) -> Vec<&Path> {
        let certs = self.tls.certs.iter().flat_map(|c| [&*c.cert, &*c.key]);
        let upstream = self
            .upstream
            .tls
            .iter()
            .flat_map(|t| [&*t.ca, &*t.cert, &*t.key]);
        certs.chain(upstream).collect()
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
    }

    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, message: &str| {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                key,
                message: message.to_owned(),
            })
        };
        if self.listen.threads == 0 {
            return invalid("listen.threads".into(), "must be at least 1");
        }
        if self.tls.certs.is_empty() {
            return invalid("tls.certs".into(), "at least one certificate is required");
        }
        if self.edge.internal_secret.len() < 16 {
            return invalid(
                "edge.internal_secret".into(),
                "must be at least 16 characters (or set MERIDIAN_INTERNAL_SECRET)",
            );
        }
        if self.edge.max_body_bytes == 0 {
            return invalid("edge.max_body_bytes".into(), "must be at least 1");
        }
        if let Some(Err((key, message))) = self.tracing.as_ref().map(|t| t.export().validate()) {
            return invalid(meridian_telemetry::config::qualified(key).into(), &message);
        }
        check_location("edge.location", self.edge.location).or_else(|m| invalid(m.0, &m.1))?;
        for (i, n) in self.geo.networks.iter().enumerate() {
            let loc = Location {
                latitude: n.latitude,
                longitude: n.longitude,
            };
            check_location(&format!("geo.networks[{i}]"), loc).or_else(|m| invalid(m.0, &m.1))?;
        }
        if !self.health.path.starts_with('/') {
            return invalid("health.path".into(), "must start with '/'");
        }
        if self.health.interval_ms < 50 || self.health.timeout_ms == 0 {
            return invalid(
                "health.interval_ms".into(),
                "interval must be at least 50 ms and timeout above 0",
            );
        }
        if self.health.unhealthy_threshold == 0 || self.health.healthy_threshold == 0 {
            return invalid("health".into(), "thresholds must be at least 1");
        }
        if self.upstream.connect_timeout_ms == 0 || self.upstream.read_timeout_ms == 0 {
            return invalid("upstream".into(), "timeouts must be above 0");
        }
        if self.upstream.eject_after_failures == 0 || self.upstream.eject_ms == 0 {
            return invalid(
                "upstream.eject_after_failures".into(),
                "ejection needs at least 1 failure and eject_ms above 0",
            );
        }
        if !(0.0..=1.0).contains(&self.upstream.retry_budget_ratio) {
            return invalid(
                "upstream.retry_budget_ratio".into(),
                "must be within 0.0..=1.0",
            );
        }
        if self.upstream.max_in_flight_per_region > 1_000_000 {
            return invalid(
                "upstream.max_in_flight_per_region".into(),
                "must be at most 1000000 (0 for no limit)",
            );
        }
        if self.upstream.queue_ms > 10_000 {
            return invalid("upstream.queue_ms".into(), "must be at most 10000");
        }
        let (reads, anonymous) = (self.upstream.read_share, self.upstream.anonymous_read_share);
        if !(reads > 0.0 && reads <= 1.0) {
            return invalid(
                "upstream.read_share".into(),
                "must be above 0 and at most 1",
            );
        }
        if !(anonymous > 0.0 && anonymous <= reads) {
            return invalid(
                "upstream.anonymous_read_share".into(),
                "must be above 0 and at most upstream.read_share",
            );
        }
        if self
            .admin
            .listen
            .is_some_and(|a| !a.ip().is_loopback() && !self.admin.allow_remote)
        {
            return invalid(
                "admin.listen".into(),
                "must be a loopback address unless admin.allow_remote = true",
            );
        }
        if self.admin.listen.is_some() && self.admin.token.len() < 16 {
            return invalid(
                "admin.token".into(),
                "must be at least 16 characters when admin.listen is set (or set MERIDIAN_EDGE_ADMIN_TOKEN)",
            );
        }
        self.validate_cache().or_else(|m| invalid(m.0, &m.1))?;
        self.compression
            .validate()
            .or_else(|m| invalid(m.0, &m.1))?;
        self.protocol.validate().or_else(|m| invalid(m.0, &m.1))?;
        self.validate_rate_limits()
            .or_else(|m| invalid(m.0, &m.1))?;
        if self.session.cache_capacity == 0 {
            return invalid("session.cache_capacity".into(), "must be at least 1");
        }
        if self.regions.is_empty() || self.regions.len() > MAX_REGIONS {
            return invalid(
                "regions".into(),
                &format!("between 1 and {MAX_REGIONS} regions are required"),
            );
        }
        let mut ids = HashSet::new();
        for (i, r) in self.regions.iter().enumerate() {
            let key = format!("regions[{i}]");
            if r.id.is_empty()
                || !r
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return invalid(
                    format!("{key}.id"),
                    "must be lowercase letters, digits and '-'",
                );
            }
            if !ids.insert(r.id.as_str()) {
                return invalid(format!("{key}.id"), &format!("duplicate region {:?}", r.id));
            }
            let loc = Location {
                latitude: r.latitude,
                longitude: r.longitude,
            };
            check_location(&key, loc).or_else(|m| invalid(m.0, &m.1))?;
        }
        if self.routes.is_empty() {
            return invalid("routes".into(), "at least one route is required");
        }
        let mut seen = HashSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            let service_prefix = format!("/api/{}", r.service);
            if r.service.is_empty() {
                return invalid(format!("{key}.service"), "must not be empty");
            }
            match r.errors {
                ErrorFormat::Json if !crate::paths::segment_prefix(&r.prefix, &service_prefix) => {
                    return invalid(
                        format!("{key}.prefix"),
                        &format!("must start with /api/<service> (/api/{})", r.service),
                    );
                }
                ErrorFormat::Html
                    if !r.prefix.starts_with('/')
                        || crate::paths::segment_prefix(&r.prefix, "/api") =>
                {
                    return invalid(
                        format!("{key}.prefix"),
                        "a page route (errors = \"html\") must start with '/' and not with /api",
                    );
                }
                _ => {}
            }
            if r.prefix.len() > 1 && r.prefix.ends_with('/') {
                return invalid(format!("{key}.prefix"), "must not end with '/'");
            }
            let braces = |s: &str| s.contains('{') || s.contains('}');
            let bad_param = r.prefix.split('/').any(|s| {
                braces(s)
                    && !(crate::paths::is_param(s)
                        && s[1..s.len() - 1]
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
            });
            if bad_param {
                return invalid(
                    format!("{key}.prefix"),
                    "a parameter is a whole segment: {name} (lowercase letters, digits, _)",
                );
            }
            for m in &r.methods {
                if http::Method::from_bytes(m.as_bytes()).is_err() || m.to_uppercase() != *m {
                    return invalid(format!("{key}.methods"), &format!("invalid method {m:?}"));
                }
            }
            if r.timeout_ms == Some(0) {
                return invalid(format!("{key}.timeout_ms"), "must be above 0");
            }
            if let Some(group) = &r.rate_limit {
                if !self.rate_limit.groups.iter().any(|g| &g.name == group) {
                    return invalid(
                        format!("{key}.rate_limit"),
                        &format!("no rate_limit.groups entry named {group:?}"),
                    );
                }
            }
            let mut methods = r.methods.clone();
            methods.sort();
            if !seen.insert((r.prefix.clone(), r.exact, methods)) {
                return invalid(
                    format!("{key}.prefix"),
                    "duplicate route (same prefix and methods)",
                );
            }
        }
        Ok(())
    }
}

fn check_location(key: &str, loc: Location) -> Result<(), (String, String)> {
    if !(-90.0..=90.0).contains(&loc.latitude) {
        return Err((format!("{key}.latitude"), "must be within -90..=90".into()));
    }
    if !(-180.0..=180.0).contains(&loc.longitude) {
        return Err((
            format!("{key}.longitude"),
            "must be within -180..=180".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"
        [listen]
        https = "127.0.0.1:8443"
        [tls]
        certs = [{ cert = "a.crt", key = "a.key" }]
        [edge]
        internal_secret = "0123456789abcdef"
        [[regions]]
        id = "chicago"
        latitude = 41.88
        longitude = -87.63
        origin = "127.0.0.1:7103"
        [[routes]]
        prefix = "/api/auth"
        service = "auth"
        [[routes]]
        prefix = "/api/auth/me"
        service = "auth"
        auth = "required"
    "#;

    fn check(text: &str) -> Result<EdgeConfig, String> {
        let config = EdgeConfig::parse(text, "edge.toml").map_err(|e| e.to_string())?;
        config.validate("edge.toml").map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn sample_is_valid_with_defaults() {
        let config = check(SAMPLE).unwrap();
        assert_eq!(config.listen.threads, 1);
        assert_eq!(config.edge.max_body_bytes, 1 << 20);
        assert_eq!(config.health.path, "/readyz");
        assert_eq!(config.routes[1].auth, AuthMode::Required);
    }

    #[test]
    fn geo_routing_is_distance_unless_latency_is_asked_for() {
        assert_eq!(check(SAMPLE).unwrap().geo.routing, GeoRouting::Distance);
        let latency = format!("{SAMPLE}\n[geo]\nrouting = \"latency\"\n");
        assert_eq!(check(&latency).unwrap().geo.routing, GeoRouting::Latency);
        // The parser's error points at the line and names the choices.
        let err = check(&format!("{SAMPLE}\n[geo]\nrouting = \"fastest\"\n")).unwrap_err();
        assert!(
            err.starts_with("edge.toml:")
                && err.contains("routing = \"fastest\"")
                && err.contains("`distance` or `latency`"),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_config_puts_checkouts_first_and_nothing_else() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/edge.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config = EdgeConfig::parse(&text, "edge.toml").unwrap();
        let critical: Vec<&str> = config
            .routes
            .iter()
            .filter(|r| r.critical)
            .map(|r| r.prefix.as_str())
            .collect();
        assert_eq!(critical, ["/checkout", "/api/orders/checkout"]);
        assert!(config.upstream.max_in_flight_per_region > 0);
    }

    #[test]
    fn page_routes_and_shared_page_rules_are_accepted() {
        let text = format!(
            "{SAMPLE}\n[[routes]]\nprefix = \"/\"\nservice = \"storefront\"\nerrors = \"html\"\n\
             [[routes]]\nprefix = \"/signout\"\nservice = \"storefront\"\nerrors = \"html\"\n\
             methods = [\"POST\"]\nends_session = true\n\
             [[cache.rules]]\nprefix = \"/\"\nexact = true\nshared = true\n\
             [[cache.rules]]\nprefix = \"/p\"\nshared = true\n"
        );
        let config = check(&text).unwrap();
        assert_eq!(config.routes[2].errors, ErrorFormat::Html);
        assert!(config.routes[3].ends_session);
        assert!(config.cache.rules[0].exact && config.cache.rules[0].shared);
        assert_eq!(config.edge.hsts().as_deref(), Some("max-age=31536000"));
        let off = check(&SAMPLE.replace("[edge]", "[edge]\nhsts_max_age_secs = 0")).unwrap();
        assert_eq!(off.edge.hsts(), None);
    }

    #[test]
    fn parameter_and_exact_routes_are_accepted() {
        let text = format!(
            "{SAMPLE}\n[[routes]]\nprefix = \"/api/auth/{{id}}/sub_2/{{sub_id}}\"\nservice = \"auth\"\n\
             [[routes]]\nprefix = \"/api/auth\"\nexact = true\nservice = \"auth\"\nmethods = [\"GET\"]\n"
        );
        let config = check(&text).unwrap();
        assert_eq!(config.routes[2].prefix, "/api/auth/{id}/sub_2/{sub_id}");
        assert!(config.routes[3].exact && !config.routes[2].exact);
    }

    #[test]
    fn unknown_key_names_the_key() {
        let err = check(&SAMPLE.replace("[edge]", "[edge]\nmax_body = 5")).unwrap_err();
        assert!(err.starts_with("edge.toml:"), "{err}");
        assert!(err.contains("max_body"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases = [
            (SAMPLE.replace("41.88", "91.0"), "regions[0].latitude"),
            (
                SAMPLE.replace("0123456789abcdef", "short"),
                "edge.internal_secret",
            ),
            (
                SAMPLE.replace("prefix = \"/api/auth/me\"", "prefix = \"/api/cart\""),
                "routes[1].prefix",
            ),
            (
                SAMPLE.replace("[edge]", "[edge]\nmax_body_bytes = 0"),
                "edge.max_body_bytes",
            ),
            (
                SAMPLE.replace(
                    "auth = \"required\"",
                    "auth = \"required\"\nmethods = [\"get\"]",
                ),
                "routes[1].methods",
            ),
            (
                SAMPLE.replace("auth = \"required\"", "auth = \"maybe\""),
                "maybe",
            ),
            (
                SAMPLE.replace("127.0.0.1:7103", "origin_chicago:7103"),
                "not a DNS name",
            ),
            (
                SAMPLE.replace("auth = \"required\"", "rate_limit = \"nope\""),
                "routes[1].rate_limit",
            ),
            (
                format!("{SAMPLE}\n[admin]\nlisten = \"127.0.0.1:9901\"\ntoken = \"short\"\n"),
                "admin.token",
            ),
            (
                format!("{SAMPLE}\n[tracing]\nendpoint = \"https://otel:4318/v1/traces\"\n"),
                "tracing.endpoint",
            ),
            (
                format!(
                    "{SAMPLE}\n[tracing]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\nsample_ratio = 2.0\n"
                ),
                "tracing.sample_ratio",
            ),
            (
                format!(
                    "{SAMPLE}\n[tracing]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\ntrusted_sources = [\"nope\"]\n"
                ),
                "trusted_sources",
            ),
            (
                format!(
                    "{SAMPLE}\n[admin]\nlisten = \"0.0.0.0:9901\"\ntoken = \"0123456789abcdef\"\n"
                ),
                "admin.listen",
            ),
            (
                format!("{SAMPLE}\n[[cache.rules]]\nprefix = \"/api/catalog/\"\n"),
                "cache.rules[0].prefix",
            ),
            (
                format!("{SAMPLE}\n[[rate_limit.groups]]\nname = \"a\"\nwindow_ms = 1000\n"),
                "rate_limit.groups[0]",
            ),
            (
                format!(
                    "{SAMPLE}\n[[rate_limit.groups]]\nname = \"a\"\nwindow_ms = 1000\nper_ip = 0\n"
                ),
                "rate_limit.groups[0].per_ip",
            ),
            (
                SAMPLE.replace("[edge]", "[upstream]\nretry_budget_ratio = 2.0\n[edge]"),
                "upstream.retry_budget_ratio",
            ),
            (
                SAMPLE.replace("[edge]", "[upstream]\nread_share = 0.0\n[edge]"),
                "upstream.read_share",
            ),
            (
                SAMPLE.replace(
                    "[edge]",
                    "[upstream]\nread_share = 0.5\nanonymous_read_share = 0.6\n[edge]",
                ),
                "upstream.anonymous_read_share",
            ),
            (
                SAMPLE.replace("[edge]", "[upstream]\nqueue_ms = 60000\n[edge]"),
                "upstream.queue_ms",
            ),
            (
                SAMPLE.replace(
                    "[edge]",
                    "[upstream]\nmax_in_flight_per_region = 2000000\n[edge]",
                ),
                "upstream.max_in_flight_per_region",
            ),
            (
                format!("{SAMPLE}\n[[routes]]\nprefix = \"/api/x\"\nservice = \"storefront\"\nerrors = \"html\"\n"),
                "routes[2].prefix",
            ),
            (
                format!("{SAMPLE}\n[[routes]]\nprefix = \"/\"\nservice = \"storefront\"\n"),
                "routes[2].prefix",
            ),
            (
                format!("{SAMPLE}\n[[routes]]\nprefix = \"/\"\nservice = \"storefront\"\nerrors = \"xml\"\n"),
                "xml",
            ),
            (
                format!("{SAMPLE}\n[[routes]]\nprefix = \"/api/auth/{{id\"\nservice = \"auth\"\n"),
                "routes[2].prefix",
            ),
            (
                format!("{SAMPLE}\n[[routes]]\nprefix = \"/api/auth/x{{id}}\"\nservice = \"auth\"\n"),
                "routes[2].prefix",
            ),
            (
                format!("{SAMPLE}\n[[routes]]\nprefix = \"/api/auth/{{ID}}\"\nservice = \"auth\"\n"),
                "routes[2].prefix",
            ),
            (
                format!("{SAMPLE}\n[[cache.rules]]\nprefix = \"/\"\n"),
                "cache.rules[0].exact",
            ),
            (
                format!("{SAMPLE}\n[[cache.rules]]\nprefix = \"p\"\n"),
                "cache.rules[0].prefix",
            ),
            (
                format!("{SAMPLE}\n[compression]\nprefer = [\"br\", \"deflate\"]\n"),
                "compression.prefer[1]",
            ),
            (
                format!("{SAMPLE}\n[compression]\nprefer = [\"gzip\", \"gzip\"]\n"),
                "compression.prefer[1]",
            ),
            (
                format!("{SAMPLE}\n[compression]\nprefer = []\n"),
                "compression.prefer",
            ),
            (
                format!("{SAMPLE}\n[compression]\ntypes = [\"json\"]\n"),
                "compression.types[0]",
            ),
            (
                format!("{SAMPLE}\n[protocol]\nhosts = [\"shop.example:443\"]\n"),
                "protocol.hosts[0]",
            ),
            (
                format!("{SAMPLE}\n[protocol]\nmax_uri_bytes = 10\n"),
                "protocol.max_uri_bytes",
            ),
            (
                format!("{SAMPLE}\n[compression.stream_level]\ngzip = 12\nbr = 4\nzstd = 3\n"),
                "compression.stream_level.gzip",
            ),
        ];
        for (text, key) in cases {
            let err = check(&text).unwrap_err();
            assert!(err.contains(key), "expected {key} in {err}");
        }
    }

    #[test]
    fn duplicate_regions_are_rejected() {
        let extra = "\n[[regions]]\nid = \"chicago\"\nlatitude = 1.0\nlongitude = 1.0\norigin = \"127.0.0.1:1\"\n";
        let text = SAMPLE.replace(
            "[[routes]]\n        prefix = \"/api/auth\"\n",
            &format!("{extra}[[routes]]\nprefix = \"/api/auth\"\n"),
        );
        let err = check(&text).unwrap_err();
        assert!(err.contains("duplicate region"), "{err}");
    }
}
