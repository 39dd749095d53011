//! The edge's response cache (moka), bounded in bytes.
//!
//! Hits are served from memory without touching the origin; per-entry
//! expiry keeps a response around past its freshness for as long as it may
//! still be served stale (`stale-while-revalidate`, `stale-if-error`).
//! Concurrent misses for one key are coalesced: the first goes to the
//! origin, the others wait for its answer. Purges work by key (path and
//! query), path prefix, or surrogate-key tag (an index kept on insert and
//! eviction, so a tag purge touches only its entries).

pub mod policy;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use moka::sync::Cache;
use pingora::http::{RequestHeader, ResponseHeader};
use tokio::sync::watch;

use policy::Freshness;

use crate::compress::{self, Compression, Encoding};

/// Response header carrying surrogate keys (space-separated tags). The
/// edge reads it and strips it from client responses.
pub use meridian_wire::headers::SURROGATE_KEY;
/// Response headers never stored: per-request or hop-by-hop.
const UNSTORED: [&str; 6] = [
    "x-request-id",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "x-cache",
    SURROGATE_KEY,
];

pub struct Entry {
    pub header: ResponseHeader,
    pub body: Bytes,
    stored: Instant,
    fresh: Freshness,
    tags: Box<[Box<str>]>,
    /// Request header values the response varies on, as seen when stored.
    vary: Box<[(HeaderName, Option<HeaderValue>)]>,
    refreshing: AtomicBool,
    /// The body may be sent compressed (its type, no coding of its own);
    /// the size threshold is the route's, checked when served.
    pub compressible: bool,
    /// Per coding, made once on the first hit that asks for it; `None`
    /// when it would not be smaller than the body.
    variants: [OnceLock<Option<Bytes>>; 3],
}

/// What a lookup found.
pub enum Lookup {
    Fresh(Arc<Entry>),
    /// Past freshness, within `stale-while-revalidate`.
    Revalidate(Arc<Entry>),
    /// Only good for `stale-if-error` (or nothing at all).
    Miss(Option<Arc<Entry>>),
}

impl Entry {
    pub fn age(&self) -> Duration {
        self.stored.elapsed()
    }

    /// Claims the one background refresh of this entry.
    pub fn claim_refresh(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    pub fn release_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }

    /// May be served when the origin fails.
    pub fn usable_on_error(&self) -> bool {
        self.age() < Duration::from_millis(self.fresh.ttl_ms + self.fresh.sie_ms)
    }

    /// The request headers this response varies on, as stored.
    pub fn vary_headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.vary
            .iter()
            .filter_map(|(name, value)| value.as_ref().map(|v| (name, v)))
    }

    /// The body in `encoding`, compressing it now if no request asked for
    /// it before (`true` then: the entry grew, re-weigh it).
    pub fn variant(&self, encoding: Encoding, level: u32) -> (Option<&Bytes>, bool) {
        let slot = &self.variants[encoding as usize];
        if let Some(made) = slot.get() {
            return (made.as_ref(), false);
        }
        let mut made_now = false;
        let made = slot.get_or_init(|| {
            made_now = true;
            compress::encode_all(encoding, level, &self.body)
                .ok()
                .filter(|v| v.len() < self.body.len())
        });
        (made.as_ref(), made_now)
    }

    fn matches(&self, req: &RequestHeader) -> bool {
        self.vary
            .iter()
            .all(|(name, value)| req.headers.get(name) == value.as_ref())
    }

    fn weight(&self, key: &str) -> u32 {
        let headers: usize = self
            .header
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        let variants: usize = self
            .variants
            .iter()
            .filter_map(|v| v.get()?.as_ref().map(Bytes::len))
            .sum();
        (key.len() + headers + self.body.len() + variants + 128).min(u32::MAX as usize) as u32
    }
}

/// Builds an entry from an origin response (header cleaned of per-request
/// headers; surrogate keys and vary values captured).
pub fn entry(
    upstream: &ResponseHeader,
    req: &RequestHeader,
    body: Bytes,
    fresh: Freshness,
    compression: &Compression,
) -> Entry {
    let mut header = upstream.clone();
    let tags = upstream
        .headers
        .get(SURROGATE_KEY)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split_ascii_whitespace().map(Box::from).collect())
        .unwrap_or_default();
    for name in UNSTORED {
        header.remove_header(name);
    }
    // The body is whole now, however the origin framed it.
    let _ = header.insert_header(http::header::CONTENT_LENGTH, body.len());
    let vary = upstream
        .headers
        .get_all(http::header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .map(|name| {
            let value = req.headers.get(&name).cloned();
            (name, value)
        })
        .collect();
    Entry {
        compressible: compression.eligible(&header, 0),
        header,
        body,
        stored: Instant::now(),
        fresh,
        tags,
        vary,
        refreshing: AtomicBool::new(false),
        variants: Default::default(),
    }
}

struct Expiry;

impl moka::Expiry<String, Arc<Entry>> for Expiry {
    fn expire_after_create(&self, _: &String, e: &Arc<Entry>, _: Instant) -> Option<Duration> {
        let f = e.fresh;
        Some(Duration::from_millis(f.ttl_ms + f.swr_ms.max(f.sie_ms)))
    }
}

type TagIndex = Arc<Mutex<HashMap<Box<str>, HashSet<String>>>>;

pub struct ResponseCache {
    entries: Cache<String, Arc<Entry>>,
    tags: TagIndex,
    inflight: Mutex<HashMap<String, watch::Receiver<()>>>,
    pub max_bytes: u64,
    pub max_object_bytes: u64,
    pub lock_timeout: Duration,
}

/// The first miss for a key: it fetches; the others wait until it drops.
pub struct OwnedFill {
    cache: Arc<ResponseCache>,
    key: String,
    _done: watch::Sender<()>,
}

impl Drop for OwnedFill {
    fn drop(&mut self) {
        if let Ok(mut map) = self.cache.inflight.lock() {
            map.remove(&self.key);
        }
    }
}

pub enum Fill {
    Leader(OwnedFill),
    /// Another request is fetching this key; wait on this.
    Follower(watch::Receiver<()>),
}

impl ResponseCache {
    pub fn new(config: &crate::config::CacheConfig) -> Self {
        let tags: TagIndex = Arc::default();
        let index = tags.clone();
        let entries = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|k: &String, v: &Arc<Entry>| v.weight(k))
            .expire_after(Expiry)
            .eviction_listener(move |key: Arc<String>, entry: Arc<Entry>, cause| {
                // A replaced entry's key stays indexed under the new one's
                // tags (re-added on insert); only removals unindex.
                if cause != moka::notification::RemovalCause::Replaced {
                    unindex(&index, &key, &entry.tags);
                }
            })
            .build();
        Self {
            entries,
            tags,
            inflight: Mutex::default(),
            max_bytes: config.max_bytes,
            max_object_bytes: config.max_object_bytes,
            lock_timeout: Duration::from_millis(config.lock_timeout_ms),
        }
    }

    pub fn lookup(&self, key: &str, req: &RequestHeader) -> Lookup {
        let Some(entry) = self.entries.get(key) else {
            return Lookup::Miss(None);
        };
        if !entry.matches(req) {
            return Lookup::Miss(None);
        }
        let age = entry.age().as_millis() as u64;
        if age < entry.fresh.ttl_ms {
            Lookup::Fresh(entry)
        } else if age < entry.fresh.ttl_ms + entry.fresh.swr_ms {
            Lookup::Revalidate(entry)
        } else {
            Lookup::Miss(Some(entry))
        }
    }

    pub fn insert(&self, key: String, entry: Entry) {
        let entry = Arc::new(entry);
        if !entry.tags.is_empty() {
            if let Ok(mut index) = self.tags.lock() {
                for tag in entry.tags.iter() {
                    index.entry(tag.clone()).or_default().insert(key.clone());
                }
            }
        }
        self.entries.insert(key, entry);
    }

    /// Counts the variants `entry` made since it was stored, if `key` still
    /// holds it (a purge or a newer answer in between wins).
    pub fn reweigh(&self, key: &str, entry: &Arc<Entry>) {
        use moka::ops::compute::Op;
        self.entries
            .entry_by_ref(key)
            .and_compute_with(|held| match held {
                Some(held) if Arc::ptr_eq(held.value(), entry) => Op::Put(entry.clone()),
                _ => Op::Nop,
            });
    }

    /// Joins the fill of `key`: the first caller leads, later ones follow.
    pub fn join(self: &Arc<Self>, key: &str) -> Fill {
        let mut map = self
            .inflight
            .lock()
            .expect("inflight lock is never poisoned");
        if let Some(rx) = map.get(key) {
            return Fill::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        map.insert(key.to_owned(), rx);
        Fill::Leader(OwnedFill {
            cache: self.clone(),
            key: key.to_owned(),
            _done: tx,
        })
    }

    /// Entries whose path and query equal `path` (every host and variant).
    pub fn purge_key(&self, path: &str) -> usize {
        self.purge_where(|k| policy::key_path(k) == path)
    }

    /// Entries whose path is `prefix` or below it (whole segments).
    pub fn purge_prefix(&self, prefix: &str) -> usize {
        self.purge_where(|k| {
            let p = policy::key_path(k);
            let path = p.split_once('?').map_or(p, |(path, _)| path);
            crate::paths::segment_prefix(path, prefix)
        })
    }

    pub fn purge_tags<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> usize {
        let keys: HashSet<String> = {
            let Ok(mut index) = self.tags.lock() else {
                return 0;
            };
            tags.into_iter()
                .filter_map(|t| index.remove(t))
                .flatten()
                .collect()
        };
        let n = keys.len();
        for key in keys {
            self.entries.invalidate(&key);
        }
        n
    }

    pub fn purge_all(&self) -> usize {
        let n = self.entries.entry_count() as usize;
        self.entries.invalidate_all();
        if let Ok(mut index) = self.tags.lock() {
            index.clear();
        }
        n
    }

    fn purge_where(&self, matches: impl Fn(&str) -> bool) -> usize {
        let keys: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(k, _)| matches(k))
            .map(|(k, _)| k)
            .collect();
        for key in &keys {
            self.entries.invalidate(key.as_str());
        }
        keys.len()
    }

    /// (entries, bytes), after pending maintenance.
    pub fn size(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}

fn unindex(index: &TagIndex, key: &str, tags: &[Box<str>]) {
    if tags.is_empty() {
        return;
    }
    if let Ok(mut index) = index.lock() {
        for tag in tags {
            if let Some(keys) = index.get_mut(tag) {
                keys.remove(key);
                if keys.is_empty() {
                    index.remove(tag);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CacheConfig;

    fn response(tags: &str) -> ResponseHeader {
        let mut h = ResponseHeader::build(200, None).unwrap();
        h.insert_header("cache-control", "max-age=60").unwrap();
        h.insert_header("x-request-id", "abc").unwrap();
        if !tags.is_empty() {
            h.insert_header(SURROGATE_KEY, tags.to_owned()).unwrap();
        }
        h
    }

    fn fresh(ttl_ms: u64) -> Freshness {
        Freshness {
            ttl_ms,
            swr_ms: 0,
            sie_ms: 0,
        }
    }

    fn req() -> RequestHeader {
        RequestHeader::build("GET", b"/api/catalog/products", None).unwrap()
    }

    /// `super::entry` with the default compression settings.
    fn entry(upstream: &ResponseHeader, req: &RequestHeader, body: Bytes, f: Freshness) -> Entry {
        let compression = Compression::new(&crate::config::CompressionConfig::default());
        super::entry(upstream, req, body, f, &compression)
    }

    #[test]
    fn variants_are_made_once_weighed_and_never_resurrect_a_purged_entry() {
        let cache = ResponseCache::new(&CacheConfig::default());
        let mut json = response("catalog:lists");
        json.insert_header("content-type", "application/json")
            .unwrap();
        let body: Vec<u8> = (0..300)
            .flat_map(|i| format!("{{\"id\":{i},\"title\":\"Walnut bowl\"}},").into_bytes())
            .collect();
        let key = "h /api/catalog/products";
        cache.insert(
            key.into(),
            entry(&json, &req(), Bytes::from(body.clone()), fresh(60_000)),
        );
        let Lookup::Fresh(e) = cache.lookup(key, &req()) else {
            panic!("expected a fresh entry");
        };
        assert!(e.compressible);
        let before = cache.size().1;
        let (made, now) = e.variant(Encoding::Brotli, 9);
        let made = made.expect("JSON compresses").clone();
        assert!(now && made.len() < body.len() / 4);
        assert_eq!(compress::decode(Encoding::Brotli, &made), body);
        let (again, now) = e.variant(Encoding::Brotli, 9);
        assert!(!now && again == Some(&made));
        cache.reweigh(key, &e);
        assert_eq!(cache.size().1, before + made.len() as u64);

        // Tiny or binary bodies: no variant worth keeping / not compressible.
        let mut png = response("");
        png.insert_header("content-type", "image/png").unwrap();
        assert!(!entry(&png, &req(), Bytes::from("x"), fresh(1)).compressible);
        let tiny = entry(&json, &req(), Bytes::from("{}"), fresh(1));
        assert_eq!(tiny.variant(Encoding::Gzip, 9).0, None);

        assert_eq!(cache.purge_all(), 1);
        cache.reweigh(key, &e);
        assert!(matches!(cache.lookup(key, &req()), Lookup::Miss(None)));
    }

    #[test]
    fn stores_without_per_request_headers_and_purges_by_tag() {
        let cache = ResponseCache::new(&CacheConfig::default());
        let r = req();
        cache.insert(
            "h /api/catalog/products/1".into(),
            entry(
                &response("product:1 catalog:products"),
                &r,
                Bytes::from("one"),
                fresh(60_000),
            ),
        );
        cache.insert(
            "h /api/catalog/products/2".into(),
            entry(
                &response("product:2"),
                &r,
                Bytes::from("two"),
                fresh(60_000),
            ),
        );
        let Lookup::Fresh(e) = cache.lookup("h /api/catalog/products/1", &r) else {
            panic!("expected a fresh entry");
        };
        assert!(e.header.headers.get("x-request-id").is_none());
        assert!(e.header.headers.get(SURROGATE_KEY).is_none());
        assert_eq!(cache.purge_tags(["product:1"]), 1);
        assert!(matches!(
            cache.lookup("h /api/catalog/products/1", &r),
            Lookup::Miss(None)
        ));
        assert!(matches!(
            cache.lookup("h /api/catalog/products/2", &r),
            Lookup::Fresh(_)
        ));
        assert_eq!(cache.purge_prefix("/api/catalog"), 1);
        assert!(matches!(
            cache.lookup("h /api/catalog/products/2", &r),
            Lookup::Miss(None)
        ));
    }

    #[test]
    fn stale_phases_follow_freshness() {
        let cache = ResponseCache::new(&CacheConfig::default());
        let r = req();
        let phases = Freshness {
            ttl_ms: 0,
            swr_ms: 60_000,
            sie_ms: 0,
        };
        cache.insert("k".into(), entry(&response(""), &r, Bytes::new(), phases));
        let Lookup::Revalidate(e) = cache.lookup("k", &r) else {
            panic!("expected a stale entry");
        };
        assert!(e.claim_refresh());
        assert!(!e.claim_refresh(), "only one refresh at a time");
    }

    #[test]
    fn vary_values_must_match() {
        let cache = ResponseCache::new(&CacheConfig::default());
        let mut resp = response("");
        resp.insert_header("vary", "accept-language").unwrap();
        let mut en = req();
        en.insert_header("accept-language", "en").unwrap();
        let mut fr = req();
        fr.insert_header("accept-language", "fr").unwrap();
        cache.insert("k".into(), entry(&resp, &en, Bytes::new(), fresh(60_000)));
        assert!(matches!(cache.lookup("k", &en), Lookup::Fresh(_)));
        assert!(matches!(cache.lookup("k", &fr), Lookup::Miss(None)));
    }

    #[test]
    fn the_first_miss_leads_and_the_rest_follow() {
        let cache = Arc::new(ResponseCache::new(&CacheConfig::default()));
        let Fill::Leader(guard) = cache.join("k") else {
            panic!("first is leader");
        };
        let Fill::Follower(mut rx) = cache.join("k") else {
            panic!("second follows");
        };
        drop(guard);
        // The sender is gone: a waiter wakes up at once.
        assert!(futures::executor::block_on(rx.changed()).is_err());
        assert!(matches!(cache.join("k"), Fill::Leader(_)));
    }
}
