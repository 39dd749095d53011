//! Redis read-through cache of product documents, in front of DynamoDB.
//!
//! Stampede protection uses leases: on a miss, one reader takes a short
//! `SET NX` lease and loads from the table; concurrent readers of the same
//! product wait briefly for the cache to fill instead of all hitting the
//! table. A fill only lands while its lease is still held, and every write
//! deletes the lease along with the entry, so a reader that loaded a
//! version older than a concurrent write can never put it back into the
//! cache. The cache is an optimisation: when Redis is down, reads go to the
//! table and a warning is logged, never a 5xx.

use std::time::Duration;

use meridian_common::ProductId;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use crate::domain::Product;

/// How long a loader may hold a lease before others stop waiting for it.
const LEASE: Duration = Duration::from_secs(2);
/// How long a reader that lost the lease race waits for the fill.
const WAIT_STEPS: u32 = 5;
const WAIT_STEP: Duration = Duration::from_millis(20);

const FILL: &str = r"
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0";

pub struct ProductCache {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
    fill: redis::Script,
}

/// What a batch lookup found: hits, and the misses this reader leased
/// (it must load and fill those) or must load without filling.
#[derive(Default)]
pub struct Lookup {
    pub hits: Vec<Product>,
    pub leased: Vec<(ProductId, String)>,
    pub unleased: Vec<ProductId>,
}

impl ProductCache {
    pub async fn connect(url: &str, prefix: &str, ttl: Duration) -> redis::RedisResult<Self> {
        Ok(Self {
            conn: meridian_common::redis_conn::connect(url).await?,
            prefix: prefix.to_owned(),
            ttl,
            fill: redis::Script::new(FILL),
        })
    }

    fn entry(&self, id: ProductId) -> String {
        format!("{}product:{id}", self.prefix)
    }

    fn lease(&self, id: ProductId) -> String {
        format!("{}product-lease:{id}", self.prefix)
    }

    async fn mget(&self, ids: &[ProductId]) -> redis::RedisResult<Vec<Option<String>>> {
        let keys: Vec<String> = ids.iter().map(|id| self.entry(*id)).collect();
        let mut conn = self.conn.clone();
        if keys.len() == 1 {
            // MGET with one key answers a bare value, not a list.
            let one: Option<String> = conn.get(&keys[0]).await?;
            return Ok(vec![one]);
        }
        conn.mget(keys).await
    }

    /// Looks `ids` (distinct) up, leasing misses; those leased by another
    /// reader are waited for briefly.
    pub async fn lookup(&self, ids: &[ProductId]) -> redis::RedisResult<Lookup> {
        let mut out = Lookup::default();
        let mut missing = Vec::new();
        for (id, value) in ids.iter().zip(self.mget(ids).await?) {
            match value.and_then(|v| serde_json::from_str::<Product>(&v).ok()) {
                Some(p) => out.hits.push(p),
                None => missing.push(*id),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let mut pipe = redis::pipe();
        let tokens: Vec<String> = missing
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        for (id, token) in missing.iter().zip(&tokens) {
            pipe.cmd("SET")
                .arg(self.lease(*id))
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(LEASE.as_millis() as u64);
        }
        let mut conn = self.conn.clone();
        let granted: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        let mut waiting = Vec::new();
        for ((id, token), ok) in missing.into_iter().zip(tokens).zip(granted) {
            if ok.is_some() {
                out.leased.push((id, token));
            } else {
                waiting.push(id);
            }
        }
        for _ in 0..WAIT_STEPS {
            if waiting.is_empty() {
                break;
            }
            tokio::time::sleep(WAIT_STEP).await;
            let mut still = Vec::new();
            for (id, value) in waiting.iter().zip(self.mget(&waiting).await?) {
                match value.and_then(|v| serde_json::from_str::<Product>(&v).ok()) {
                    Some(p) => out.hits.push(p),
                    None => still.push(*id),
                }
            }
            waiting = still;
        }
        out.unleased = waiting;
        Ok(out)
    }

    /// Stores a loaded product if this reader's lease still stands.
    pub async fn fill(&self, product: &Product, token: &str) -> redis::RedisResult<()> {
        let value = serde_json::to_string(product).expect("products serialise");
        let mut conn = self.conn.clone();
        let _: i64 = self
            .fill
            .key(self.entry(product.id))
            .key(self.lease(product.id))
            .arg(token)
            .arg(value)
            .arg(self.ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Gives a lease back without filling (the product does not exist).
    pub async fn release(&self, id: ProductId) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(self.lease(id)).await
    }

    /// Drops entries and any outstanding leases after a write.
    pub async fn invalidate(&self, ids: &[ProductId]) -> redis::RedisResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut keys = Vec::with_capacity(ids.len() * 2);
        for id in ids {
            keys.push(self.entry(*id));
            keys.push(self.lease(*id));
        }
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(keys).await
    }
}
