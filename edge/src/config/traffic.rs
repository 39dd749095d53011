//! Traffic settings: the response cache and rate limits (`[cache]`,
//! `[rate_limit]`), with their validation.

use std::collections::HashSet;

use serde::Deserialize;

use super::{yes, EdgeConfig};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Total size of cached responses (headers + bodies), in bytes.
    #[serde(default = "default_cache_bytes")]
    pub max_bytes: u64,
    /// Larger responses are passed through uncached.
    #[serde(default = "default_cache_object_bytes")]
    pub max_object_bytes: u64,
    /// How long concurrent misses for one key wait for the first one's
    /// response before going to the origin themselves.
    #[serde(default = "default_cache_lock_timeout")]
    pub lock_timeout_ms: u64,
    /// Follow every region's change feed and purge changed products and
    /// shops as their events arrive.
    #[serde(default = "yes")]
    pub purge_feed: bool,
    /// What may be cached, by path prefix (longest wins). Paths no rule
    /// covers are never cached.
    #[serde(default)]
    pub rules: Vec<CacheRule>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_cache_bytes(),
            max_object_bytes: default_cache_object_bytes(),
            lock_timeout_ms: default_cache_lock_timeout(),
            purge_feed: true,
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheRule {
    pub prefix: String,
    /// Cover only the path `prefix` itself, not the paths below it (a
    /// rule for the home page `/`).
    #[serde(default)]
    pub exact: bool,
    /// Answers here are the same for everyone (public pages): requests are
    /// answered from and stored in the cache whatever credentials they
    /// carry, and reach the origin without them (no `Cookie`,
    /// `Authorization`), so nothing personal can ever be stored.
    #[serde(default)]
    pub shared: bool,
    /// Freshness when the origin's response names none (0: not cached).
    #[serde(default)]
    pub default_ttl_ms: u64,
    /// Upper bound on the origin's `s-maxage` / `max-age`.
    #[serde(default = "default_cache_max_ttl")]
    pub max_ttl_ms: u64,
    /// Serve stale while one background refresh runs, when the origin
    /// names no `stale-while-revalidate`.
    #[serde(default)]
    pub stale_while_revalidate_ms: u64,
    /// Serve stale when the region fails, when the origin names no
    /// `stale-if-error`.
    #[serde(default)]
    pub stale_if_error_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Shared windows in this Redis, so several edges enforce one limit.
    /// Absent: each edge enforces its local token buckets only.
    pub redis_url: Option<String>,
    #[serde(default = "default_rate_limit_prefix")]
    pub redis_key_prefix: String,
    /// A Redis answer slower than this counts as unreachable (local limit
    /// applies, `meridian_edge_rate_limit_fallbacks_total` counts it).
    #[serde(default = "default_rate_limit_redis_timeout")]
    pub redis_timeout_ms: u64,
    #[serde(default)]
    pub groups: Vec<RateLimitGroup>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_key_prefix: default_rate_limit_prefix(),
            redis_timeout_ms: default_rate_limit_redis_timeout(),
            groups: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitGroup {
    /// Routes name the group in `rate_limit = "<name>"`.
    pub name: String,
    pub window_ms: u64,
    /// Requests per window per client IP / per session / per seller API
    /// key; absent: that dimension is not limited.
    pub per_ip: Option<u32>,
    pub per_session: Option<u32>,
    pub per_key: Option<u32>,
}

/// (key, message) of an invalid setting.
pub(super) type KeyError = (String, String);

impl EdgeConfig {
    pub(super) fn validate_cache(&self) -> Result<(), KeyError> {
        let c = &self.cache;
        if c.max_bytes == 0 || c.max_object_bytes == 0 || c.max_object_bytes > c.max_bytes {
            return Err((
                "cache.max_object_bytes".into(),
                "sizes must be above 0 and max_object_bytes at most max_bytes".into(),
            ));
        }
        let mut prefixes = HashSet::new();
        for (i, rule) in c.rules.iter().enumerate() {
            let key = format!("cache.rules[{i}]");
            if !rule.prefix.starts_with('/')
                || (rule.prefix.len() > 1 && rule.prefix.ends_with('/'))
            {
                return Err((
                    format!("{key}.prefix"),
                    "must start with '/' and not end with '/'".into(),
                ));
            }
            if rule.prefix == "/" && !rule.exact {
                // Every path of the site, personal pages included.
                return Err((
                    format!("{key}.exact"),
                    "a rule for \"/\" must be exact (it would cover every path)".into(),
                ));
            }
            if !prefixes.insert((rule.prefix.as_str(), rule.exact)) {
                return Err((format!("{key}.prefix"), "duplicate cache rule".into()));
            }
            if rule.max_ttl_ms == 0 || rule.default_ttl_ms > rule.max_ttl_ms {
                return Err((
                    format!("{key}.max_ttl_ms"),
                    "must be above 0 and at least default_ttl_ms".into(),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn validate_rate_limits(&self) -> Result<(), KeyError> {
        let r = &self.rate_limit;
        if r.redis_timeout_ms == 0 {
            return Err((
                "rate_limit.redis_timeout_ms".into(),
                "must be above 0".into(),
            ));
        }
        let mut names = HashSet::new();
        for (i, g) in r.groups.iter().enumerate() {
            let key = format!("rate_limit.groups[{i}]");
            if g.name.is_empty() || !names.insert(g.name.as_str()) {
                return Err((format!("{key}.name"), "must be unique and non-empty".into()));
            }
            if g.window_ms < 100 || g.window_ms > 86_400_000 {
                return Err((
                    format!("{key}.window_ms"),
                    "must be between 100 ms and one day".into(),
                ));
            }
            let limits = [
                ("per_ip", g.per_ip),
                ("per_session", g.per_session),
                ("per_key", g.per_key),
            ];
            if let Some((field, _)) = limits
                .iter()
                .find(|(_, l)| l.is_some_and(|l| l == 0 || l > 1_000_000))
            {
                return Err((
                    format!("{key}.{field}"),
                    "must be between 1 and 1000000".into(),
                ));
            }
            if limits.iter().all(|(_, l)| l.is_none()) {
                return Err((
                    key,
                    "names no limit (per_ip, per_session or per_key)".into(),
                ));
            }
        }
        Ok(())
    }
}

fn default_cache_bytes() -> u64 {
    256 << 20
}
fn default_cache_object_bytes() -> u64 {
    1 << 20
}
fn default_cache_lock_timeout() -> u64 {
    5_000
}
fn default_cache_max_ttl() -> u64 {
    300_000
}
fn default_rate_limit_prefix() -> String {
    "meridian:rl:".to_owned()
}
fn default_rate_limit_redis_timeout() -> u64 {
    50
}
