//! Rate limits per client IP, per session and per seller API key, by route
//! group.
//!
//! Two layers: a local token bucket per (group, dimension, client) — a
//! single atomic word, so the common case costs no lock and no round trip —
//! and, when Redis is configured, a shared sliding window (two fixed
//! windows weighted by overlap) so several edges enforce one limit
//! together. Redis down or slow → the local bucket alone decides, a metric
//! counts the fallback, and Redis is skipped for a second; never a 5xx.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use tokio::sync::OnceCell;

use crate::clock;
use crate::config::{RateLimitConfig, RateLimitGroup};
use crate::metrics::EdgeMetrics;

/// Dimensions a request is limited on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ip = 0,
    Session = 1,
    Key = 2,
}

/// A rejected request: which dimension, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub kind: Kind,
    pub retry_after_secs: u64,
}

/// A token bucket in one word: tokens × 1000 in the high 32 bits, the last
/// refill time (ms, wrapping, low bit forced to 1) in the low 32, so an
/// initialised bucket is never 0 and 0 can mean "full, never used".
struct Bucket(AtomicU64);

fn stamp(now: u64) -> u32 {
    (now as u32) | 1
}

/// Refills `capacity` tokens per `window_ms`; takes one if there is one.
/// Returns the ms until the next token when empty.
pub fn take(word: &AtomicU64, capacity: u32, window_ms: u64, now: u64) -> Result<(), u64> {
    let cap = u64::from(capacity) * 1000;
    let mut current = word.load(Ordering::Relaxed);
    loop {
        let (milli_tokens, last) = if current == 0 {
            (cap, stamp(now))
        } else {
            (current >> 32, current as u32)
        };
        let elapsed = u64::from(stamp(now).wrapping_sub(last));
        // tokens/ms = capacity / window; in milli-tokens: capacity*1000/window.
        let refill = elapsed.saturating_mul(cap) / window_ms.max(1);
        let available = (milli_tokens + refill).min(cap);
        if available < 1000 {
            let per_token_ms = window_ms.div_ceil(u64::from(capacity).max(1));
            let missing = 1000 - available;
            return Err((missing * per_token_ms).div_ceil(1000).max(1));
        }
        // Keep fractional refill: only advance `last` when tokens were added.
        let at = if refill > 0 { stamp(now) } else { last };
        let next = ((available - 1000) << 32) | u64::from(at);
        match word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(()),
            Err(actual) => current = actual,
        }
    }
}

/// The sliding-window estimate: all of this window plus the part of the
/// previous window that still overlaps the last `window` ms.
pub fn sliding_count(previous: u64, current: u64, elapsed_in_window: u64, window: u64) -> u64 {
    let overlap = window.saturating_sub(elapsed_in_window);
    current + previous * overlap / window.max(1)
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    group: u16,
    kind: Kind,
    client: u64,
}

struct SharedRedis {
    url: String,
    prefix: String,
    timeout: Duration,
    conn: OnceCell<redis::aio::ConnectionManager>,
    /// `clock::monotonic_ms` until which Redis is not asked (after a failure).
    skip_until: AtomicU64,
}

pub struct RateLimiter {
    buckets: Cache<BucketKey, Arc<Bucket>>,
    redis: Option<SharedRedis>,
    /// What built this limiter, so a reload that keeps it keeps the buckets.
    pub source: RateLimitConfig,
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> Self {
        let longest = config
            .groups
            .iter()
            .map(|g| g.window_ms)
            .max()
            .unwrap_or(1000);
        Self {
            // An idle bucket is full again after one window: forget it then.
            buckets: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_millis(longest))
                .build(),
            redis: config.redis_url.as_ref().map(|url| SharedRedis {
                url: url.clone(),
                prefix: config.redis_key_prefix.clone(),
                timeout: Duration::from_millis(config.redis_timeout_ms),
                conn: OnceCell::new(),
                skip_until: AtomicU64::new(0),
            }),
            source: config.clone(),
        }
    }

    /// A client identity (IP, session token, key) as a 64-bit FNV-1a
    /// hash: no secret is kept (in memory or in Redis keys), the bucket key
    /// stays small, and every edge derives the same shared-window key.
    pub fn client_id(&self, raw: &[u8]) -> u64 {
        raw.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// Checks every applicable dimension of `group` for one request.
    pub async fn check(
        &self,
        group: usize,
        clients: &[(Kind, u64)],
        metrics: &EdgeMetrics,
    ) -> Result<(), Rejection> {
        let Some(g) = self.source.groups.get(group) else {
            return Ok(());
        };
        let now = clock::monotonic_ms();
        for &(kind, client) in clients {
            let Some(limit) = limit_of(g, kind) else {
                continue;
            };
            let key = BucketKey {
                group: group as u16,
                kind,
                client,
            };
            let bucket = self
                .buckets
                .get_with_by_ref(&key, || Arc::new(Bucket(AtomicU64::new(0))));
            if let Err(wait_ms) = take(&bucket.0, limit, g.window_ms, now) {
                return Err(reject(metrics, kind, wait_ms));
            }
            if let Some(redis) = &self.redis {
                match redis.count(&g.name, kind, client, g.window_ms, now).await {
                    Ok((count, wait_ms)) if count > u64::from(limit) => {
                        return Err(reject(metrics, kind, wait_ms));
                    }
                    Ok(_) => {}
                    Err(()) => metrics.rate_limit_fallbacks.inc(),
                }
            }
        }
        Ok(())
    }
}

fn limit_of(g: &RateLimitGroup, kind: Kind) -> Option<u32> {
    match kind {
        Kind::Ip => g.per_ip,
        Kind::Session => g.per_session,
        Kind::Key => g.per_key,
    }
}

fn reject(metrics: &EdgeMetrics, kind: Kind, wait_ms: u64) -> Rejection {
    metrics.rate_limited[kind as usize].inc();
    Rejection {
        kind,
        retry_after_secs: wait_ms.div_ceil(1000).max(1),
    }
}

impl SharedRedis {
    /// Counts this request in the shared window; returns the sliding count
    /// and the ms until the current window ends. `Err` when Redis is
    /// unreachable, slow or skipped.
    async fn count(
        &self,
        group: &str,
        kind: Kind,
        client: u64,
        window: u64,
        now: u64,
    ) -> Result<(u64, u64), ()> {
        if now < self.skip_until.load(Ordering::Relaxed) {
            return Err(());
        }
        let result =
            tokio::time::timeout(self.timeout, self.ask(group, kind, client, window)).await;
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.skip(now);
                tracing::warn!(error = %e, "rate-limit redis failed; local limits only for 1 s");
                Err(())
            }
            Err(_) => {
                self.skip(now);
                tracing::warn!("rate-limit redis too slow; local limits only for 1 s");
                Err(())
            }
        }
    }

    fn skip(&self, now: u64) {
        self.skip_until.store(now + 1000, Ordering::Relaxed);
    }

    async fn ask(
        &self,
        group: &str,
        kind: Kind,
        client: u64,
        window: u64,
    ) -> redis::RedisResult<(u64, u64)> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let client = redis::Client::open(self.url.as_str())?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_number_of_retries(0);
                redis::aio::ConnectionManager::new_with_config(client, config).await
            })
            .await?;
        // Windows are aligned to wall-clock time so every edge agrees.
        let wall = clock::unix_ms();
        let index = wall / window;
        let elapsed = wall % window;
        let base = format!("{}{group}:{}:{client:x}:", self.prefix, kind as u8);
        let current = format!("{base}{index}");
        let previous = format!("{base}{}", index.wrapping_sub(1));
        let mut conn = conn.clone();
        let (count, _, before): (u64, i64, Option<u64>) = redis::pipe()
            .cmd("INCR")
            .arg(&current)
            .cmd("PEXPIRE")
            .arg(&current)
            .arg(window * 2)
            .cmd("GET")
            .arg(&previous)
            .query_async(&mut conn)
            .await?;
        Ok((
            sliding_count(before.unwrap_or(0), count, elapsed, window),
            window - elapsed,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_capacity_then_refills() {
        let word = AtomicU64::new(0);
        let t0 = 10_000;
        for _ in 0..5 {
            assert!(take(&word, 5, 1000, t0).is_ok());
        }
        let wait = take(&word, 5, 1000, t0).unwrap_err();
        assert!((1..=200).contains(&wait), "{wait}");
        // 200 ms later one token is back, not two.
        assert!(take(&word, 5, 1000, t0 + 200).is_ok());
        assert!(take(&word, 5, 1000, t0 + 200).is_err());
        // A full window later the bucket is full, never more.
        for _ in 0..5 {
            assert!(take(&word, 5, 1000, t0 + 5000).is_ok());
        }
        assert!(take(&word, 5, 1000, t0 + 5000).is_err());
    }

    #[test]
    fn sliding_window_weights_the_previous_window() {
        assert_eq!(sliding_count(10, 0, 0, 1000), 10);
        assert_eq!(sliding_count(10, 3, 500, 1000), 8);
        assert_eq!(sliding_count(10, 3, 1000, 1000), 3);
    }
}
