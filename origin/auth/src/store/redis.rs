//! `SessionStore` on Redis: one string key per session holding its JSON, with
//! a TTL equal to the session's remaining life so Redis expires it by itself.
//!
//! Key layout and value (read directly by the edge) are the wire
//! contract's: `<prefix>session:<sha256 hex>` → the session's JSON.

use async_trait::async_trait;
use meridian_common::redis_conn;
use meridian_common::wire::internal::REDIS_SESSION_KEY;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use super::{unix_now, SessionStore, StoreError};
use crate::domain::Session;
use crate::token::TokenHash;

pub struct RedisSessionStore {
    conn: ConnectionManager,
    prefix: String,
}

fn map_err(e: redis::RedisError) -> StoreError {
    if redis_conn::is_unavailable(&e) {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Other(e.to_string())
    }
}

impl RedisSessionStore {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let conn = redis_conn::connect(url).await.map_err(map_err)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, hash: &TokenHash) -> String {
        format!("{}{REDIS_SESSION_KEY}{}", self.prefix, hash.0)
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "redis"))]
    async fn create(&self, key: &TokenHash, session: &Session) -> Result<(), StoreError> {
        let ttl = session.expires_at - unix_now();
        if ttl <= 0 {
            return Ok(());
        }
        let value = serde_json::to_string(session).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut conn = self.conn.clone();
        conn.set_ex::<_, _, ()>(self.key(key), value, ttl as u64)
            .await
            .map_err(map_err)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "redis"))]
    async fn get(&self, key: &TokenHash) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn.clone();
        let value: Option<String> = conn.get(self.key(key)).await.map_err(map_err)?;
        let Some(value) = value else { return Ok(None) };
        let session: Session =
            serde_json::from_str(&value).map_err(|e| StoreError::Other(e.to_string()))?;
        // Redis expiry has one-second granularity; never hand out a session
        // past its own deadline.
        Ok(session.is_live(unix_now()).then_some(session))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "redis"))]
    async fn revoke(&self, key: &TokenHash) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let removed: u64 = conn.del(self.key(key)).await.map_err(map_err)?;
        Ok(removed > 0)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "redis"))]
    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}
