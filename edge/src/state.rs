//! Everything a request needs from the configuration, compiled once per
//! load and published through an `ArcSwap`: a request takes one snapshot and
//! never sees half of a reload.
//!
//! A reload builds a new state next to the old one and keeps the parts
//! whose settings did not change (regions with their health, drains and
//! breakers; session caches; the response cache; rate-limit buckets), so
//! swapping loses no warm state.

use std::sync::Arc;

use http::HeaderValue;

use crate::cache::ResponseCache;
use crate::compress::Compression;
use crate::config::{CacheRule, EdgeConfig, GeoRouting, HealthConfig};
use crate::geo::{GeoTable, Location};
use crate::listen::protocol::Protocol;
use crate::metrics::EdgeMetrics;
use crate::request::rate_limit::RateLimiter;
use crate::request::routing::RouteTable;
use crate::request::session::Sessions;
use crate::upstream::{RetryBudget, Upstreams};

pub struct EdgeState {
    pub config: Arc<EdgeConfig>,
    pub routes: RouteTable,
    pub geo: GeoTable,
    pub upstreams: Arc<Upstreams>,
    pub sessions: Arc<Sessions>,
    pub cache: Arc<ResponseCache>,
    pub cache_rules: Vec<CacheRule>,
    pub limiter: Arc<RateLimiter>,
    pub retry_budget: Arc<RetryBudget>,
    pub health: HealthConfig,
    pub internal_secret: HeaderValue,
    pub max_body_bytes: u64,
    pub access_log: bool,
    /// `Strict-Transport-Security` value, built once.
    pub hsts: Option<HeaderValue>,
    pub compression: Compression,
    pub protocol: Protocol,
    /// HSTS goes to development names (`localhost`, IPs) too.
    pub hsts_on_dev_names: bool,
    /// Peers whose `traceparent` is continued (`[tracing]`); empty: none.
    pub trace_sources: Vec<ipnet::IpNet>,
}

impl EdgeState {
    /// Compiles `config`, reusing what `previous` built from equal settings.
    pub fn new(
        config: &EdgeConfig,
        previous: Option<&EdgeState>,
        metrics: &EdgeMetrics,
    ) -> anyhow::Result<Self> {
        let regions = config
            .regions
            .iter()
            .map(|r| Location {
                latitude: r.latitude,
                longitude: r.longitude,
            })
            .collect();
        let networks: Vec<_> = config
            .geo
            .networks
            .iter()
            .map(|n| {
                (
                    n.cidr,
                    Location {
                        latitude: n.latitude,
                        longitude: n.longitude,
                    },
                )
            })
            .collect();
        let mut secret = HeaderValue::from_str(&config.edge.internal_secret)
            .map_err(|_| anyhow::anyhow!("edge.internal_secret: must be printable ASCII"))?;
        secret.set_sensitive(true);

        let upstream_source = (config.regions.clone(), config.upstream.clone());
        let upstreams = match previous {
            Some(p) if p.upstreams.source == upstream_source => p.upstreams.clone(),
            _ => Arc::new(
                Upstreams::new(
                    &config.regions,
                    &config.upstream,
                    metrics,
                    previous.map(|p| &*p.upstreams),
                )
                .map_err(anyhow::Error::msg)?,
            ),
        };
        let sessions = match previous {
            Some(p)
                if p.config.session == config.session
                    && p.config.edge.internal_secret == config.edge.internal_secret =>
            {
                p.sessions.clone()
            }
            _ => Arc::new(Sessions::new(&config.session, &config.edge.internal_secret)),
        };
        let cache = match previous {
            Some(p)
                if p.cache.max_bytes == config.cache.max_bytes
                    && p.cache.max_object_bytes == config.cache.max_object_bytes
                    && p.cache.lock_timeout.as_millis()
                        == u128::from(config.cache.lock_timeout_ms) =>
            {
                p.cache.clone()
            }
            _ => Arc::new(ResponseCache::new(&config.cache)),
        };
        let limiter = match previous {
            Some(p) if p.limiter.source == config.rate_limit => p.limiter.clone(),
            _ => Arc::new(RateLimiter::new(&config.rate_limit)),
        };
        Ok(Self {
            config: Arc::new(config.clone()),
            routes: RouteTable::for_config(config),
            geo: GeoTable::new(
                regions,
                config.edge.location,
                config.geo.trusted_header_sources.clone(),
                &networks,
                config.geo.routing == GeoRouting::Latency,
            ),
            upstreams,
            sessions,
            cache,
            cache_rules: config.cache.rules.clone(),
            limiter,
            retry_budget: Arc::new(RetryBudget::new(
                config.upstream.retry_budget_ratio,
                config.upstream.retry_budget_min_per_sec,
            )),
            health: config.health.clone(),
            internal_secret: secret,
            max_body_bytes: config.edge.max_body_bytes,
            access_log: config.edge.access_log,
            hsts: config
                .edge
                .hsts()
                .map(|v| HeaderValue::from_str(&v).expect("digits and ASCII")),
            compression: Compression::new(&config.compression),
            protocol: Protocol::new(&config.protocol),
            hsts_on_dev_names: config.edge.hsts_on_dev_names,
            trace_sources: config
                .tracing
                .as_ref()
                .map_or_else(Vec::new, |t| t.trusted_sources.clone()),
        })
    }
}
