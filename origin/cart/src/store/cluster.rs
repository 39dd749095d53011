//! Production cart store: a Redis Cluster.
//!
//! Each cart is one hash, `<prefix>cart:{<cart id>}`: field `ver` (a
//! version for compare-and-set), `updated_at`, and one field per line
//! (`l:<position>`, JSON). The hash tag `{<cart id>}` puts the cart and its
//! event stream `<prefix>cart-events:{<cart id>}` on one slot, so a Lua
//! script can check the version, rewrite the cart, renew its TTL and append
//! the change's events atomically: the outbox is written with the change.
//!
//! The relay finds carts with pending events through the set
//! `<prefix>cart-events-index`, added to before and after each write (it
//! lives on another slot, so it cannot be part of the script); a member
//! whose stream turns out empty is simply dropped.
//!
//! `merge` touches two carts, on two slots: it takes the guest cart
//! atomically (read + delete in one script), then compare-and-sets the
//! user's cart. If the second step fails, the guest lines are put back.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meridian_common::events::{EventEnvelope, OutboxReader};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, RedisError};
use uuid::Uuid;

use super::{CartStore, Change, StoreError};
use crate::domain::{Cart, CartError, CartKey, CartLine, GUEST_TTL_SECS};

/// Compare-and-set of a whole cart plus its events.
const WRITE: &str = r"
local current = redis.call('HGET', KEYS[1], 'ver') or '0'
if current ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local n = tonumber(ARGV[4])
local fields = {'ver', tostring(tonumber(ARGV[1]) + 1), 'updated_at', ARGV[2]}
for i = 1, n do
  table.insert(fields, string.format('l:%03d', i))
  table.insert(fields, ARGV[4 + i])
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 5 + n, #ARGV do
  redis.call('XADD', KEYS[2], '*', 'event', ARGV[i])
end
return 1";

/// Reads and deletes a cart in one step (the guest side of a merge).
const TAKE: &str = r"
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return all";

/// Concurrent writers to one cart retry this often before a 503.
const CAS_RETRIES: u32 = 50;

pub struct ClusterCartStore {
    conn: ClusterConnection,
    prefix: String,
    user_ttl: Duration,
    write: redis::Script,
    take: redis::Script,
}

fn unavailable(e: RedisError) -> StoreError {
    if meridian_common::redis_conn::is_unavailable(&e) || e.is_cluster_error() {
        StoreError::Unavailable(format!("redis cluster: {e}"))
    } else {
        StoreError::Other(format!("redis cluster: {e}"))
    }
}

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("cart hash unreadable: {detail}"))
}

/// A cart and the version it was read at (0: none stored).
fn decode(fields: HashMap<String, String>) -> Result<(Cart, u64), StoreError> {
    if fields.is_empty() {
        return Ok((Cart::default(), 0));
    }
    let version = fields
        .get("ver")
        .ok_or_else(|| corrupt("no ver"))?
        .parse()
        .map_err(corrupt)?;
    let updated_at = match fields.get("updated_at").map(String::as_str) {
        None | Some("") => None,
        Some(t) => Some(t.parse::<DateTime<Utc>>().map_err(corrupt)?),
    };
    let mut lines: Vec<(&String, CartLine)> = Vec::new();
    for (name, value) in &fields {
        if name.starts_with("l:") {
            lines.push((name, serde_json::from_str(value).map_err(corrupt)?));
        }
    }
    lines.sort_by(|a, b| a.0.cmp(b.0));
    Ok((
        Cart {
            lines: lines.into_iter().map(|(_, l)| l).collect(),
            updated_at,
        },
        version,
    ))
}

impl ClusterCartStore {
    pub async fn connect(
        nodes: &[String],
        prefix: &str,
        user_ttl: Duration,
    ) -> Result<Self, StoreError> {
        let client = ClusterClient::builder(nodes.to_vec())
            .connection_timeout(meridian_common::redis_conn::CONNECT_TIMEOUT)
            .response_timeout(meridian_common::redis_conn::RESPONSE_TIMEOUT)
            .retries(2)
            .build()
            .map_err(unavailable)?;
        let conn = client.get_async_connection().await.map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            user_ttl,
            write: redis::Script::new(WRITE),
            take: redis::Script::new(TAKE),
        })
    }

    fn cart_key(&self, key: &CartKey) -> String {
        format!("{}cart:{{{}}}", self.prefix, key.id())
    }

    fn events_key(&self, key: &CartKey) -> String {
        format!("{}cart-events:{{{}}}", self.prefix, key.id())
    }

    fn index_key(&self) -> String {
        format!("{}cart-events-index", self.prefix)
    }

    fn ttl(&self, key: &CartKey) -> Duration {
        match key {
            CartKey::Guest(_) => Duration::from_secs(GUEST_TTL_SECS as u64),
            CartKey::User(_) => self.user_ttl,
        }
    }

    async fn read(&self, key: &CartKey) -> Result<(Cart, u64), StoreError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn
            .hgetall(self.cart_key(key))
            .await
            .map_err(unavailable)?;
        decode(fields)
    }

    async fn index(&self, key: &CartKey) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        conn.sadd::<_, _, ()>(self.index_key(), self.events_key(key))
            .await
            .map_err(unavailable)
    }

    /// Writes `cart` if the stored version is still `version`.
    async fn compare_and_set(
        &self,
        key: &CartKey,
        version: u64,
        cart: &Cart,
        events: &[EventEnvelope],
    ) -> Result<bool, StoreError> {
        if !events.is_empty() {
            self.index(key).await?;
        }
        let mut invocation = self.write.key(self.cart_key(key));
        invocation
            .key(self.events_key(key))
            .arg(version)
            .arg(cart.updated_at.map(|t| t.to_rfc3339()).unwrap_or_default())
            .arg(self.ttl(key).as_millis() as u64)
            .arg(cart.lines.len());
        for line in &cart.lines {
            invocation.arg(serde_json::to_string(line).expect("lines serialise"));
        }
        for event in events {
            invocation.arg(serde_json::to_string(event).expect("events serialise"));
        }
        let mut conn = self.conn.clone();
        let written: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if written == 1 && !events.is_empty() {
            // Again after the write: a relay may have dropped the member
            // between our first add and the append.
            self.index(key).await?;
        }
        Ok(written == 1)
    }

    async fn cas_loop(
        &self,
        key: &CartKey,
        change: impl Fn(&mut Cart) -> Result<Vec<EventEnvelope>, CartError>,
    ) -> Result<Result<Cart, CartError>, StoreError> {
        for attempt in 0..CAS_RETRIES {
            let (mut cart, version) = self.read(key).await?;
            let events = match change(&mut cart) {
                Ok(events) => events,
                Err(e) => return Ok(Err(e)),
            };
            if self.compare_and_set(key, version, &cart, &events).await? {
                return Ok(Ok(cart));
            }
            let pause = 1 + u64::from(Uuid::new_v4().as_bytes()[0]) % (2 + u64::from(attempt));
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Err(StoreError::Unavailable("cart kept changing; retry".into()))
    }

    /// The reader a relay drains cart events with.
    pub fn outbox(&self) -> ClusterCartOutbox {
        ClusterCartOutbox {
            conn: self.conn.clone(),
            index: self.index_key(),
            delivered: std::sync::Mutex::default(),
        }
    }
}

#[async_trait]
impl CartStore for ClusterCartStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "redis"))]
    async fn get(&self, key: &CartKey) -> Result<Cart, StoreError> {
        Ok(self.read(key).await?.0)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "redis"))]
    async fn update(
        &self,
        key: &CartKey,
        change: &Change,
    ) -> Result<Result<Cart, CartError>, StoreError> {
        self.cas_loop(key, change).await
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "redis"))]
    async fn merge(
        &self,
        guest: &CartKey,
        user: &CartKey,
        events: Vec<EventEnvelope>,
    ) -> Result<Cart, StoreError> {
        let mut conn = self.conn.clone();
        let taken: HashMap<String, String> = self
            .take
            .key(self.cart_key(guest))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let (guest_cart, _) = decode(taken)?;
        if guest_cart.lines.is_empty() {
            return self.get(user).await;
        }
        let merged = self
            .cas_loop(user, |cart| {
                cart.merge(&guest_cart, Utc::now());
                Ok(events.clone())
            })
            .await;
        match merged {
            Ok(Ok(cart)) => Ok(cart),
            Ok(Err(e)) => Err(StoreError::Other(e.to_string())),
            Err(e) => {
                // Put the guest's lines back rather than lose them.
                let restored = self.cas_loop(guest, |cart| {
                    cart.merge(&guest_cart, Utc::now());
                    Ok(Vec::new())
                });
                if let Err(again) = restored.await {
                    tracing::error!(error = %again, "guest cart lost in a failed merge");
                }
                Err(e)
            }
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "redis"))]
    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Reads the per-cart event streams listed in the index.
pub struct ClusterCartOutbox {
    conn: ClusterConnection,
    index: String,
    /// Stream entry of each event handed out, for deleting it once published.
    delivered: std::sync::Mutex<HashMap<Uuid, (String, String)>>,
}

type StreamEntries = Vec<(String, HashMap<String, String>)>;

#[async_trait]
impl OutboxReader for ClusterCartOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<EventEnvelope>, String> {
        let mut conn = self.conn.clone();
        let streams: Vec<String> = redis::cmd("SRANDMEMBER")
            .arg(&self.index)
            .arg(64)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for stream in streams {
            let entries: StreamEntries = redis::cmd("XRANGE")
                .arg(&stream)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(limit)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            if entries.is_empty() {
                conn.srem::<_, _, ()>(&self.index, &stream)
                    .await
                    .map_err(|e| e.to_string())?;
                continue;
            }
            let mut delivered = self.delivered.lock().map_err(|e| e.to_string())?;
            for (entry_id, fields) in entries {
                let Some(raw) = fields.get("event") else {
                    continue;
                };
                let event: EventEnvelope =
                    serde_json::from_str(raw).map_err(|e| format!("bad cart event: {e}"))?;
                delivered.insert(event.id, (stream.clone(), entry_id));
                out.push(event);
            }
            if out.len() >= limit {
                break;
            }
        }
        // Events of one cart stay in order; across carts, by time.
        out.sort_by_key(|e| e.occurred_at);
        Ok(out)
    }

    async fn mark_published(&self, ids: &[Uuid]) -> Result<(), String> {
        let entries: Vec<(String, String)> = {
            let mut delivered = self.delivered.lock().map_err(|e| e.to_string())?;
            ids.iter().filter_map(|id| delivered.remove(id)).collect()
        };
        let mut conn = self.conn.clone();
        for (stream, entry) in entries {
            redis::cmd("XDEL")
                .arg(&stream)
                .arg(&entry)
                .query_async::<i64>(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, String> {
        let mut conn = self.conn.clone();
        let streams: Vec<String> = conn
            .smembers(&self.index)
            .await
            .map_err(|e| e.to_string())?;
        let mut total = 0u64;
        for stream in streams {
            let n: u64 = redis::cmd("XLEN")
                .arg(&stream)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            total += n;
        }
        Ok(total)
    }
}
