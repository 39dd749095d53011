//! `OrderStore` on YugabyteDB through the PostgreSQL wire protocol (tested on
//! PostgreSQL). Order changes run in SERIALIZABLE transactions and are
//! retried on serialization failures (SQLSTATE 40001), as YugabyteDB
//! requires; each change commits with its events (`orders_outbox`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use meridian_common::events::EventEnvelope;
use meridian_common::pg::{self, outbox, PgFailure, PgSettings};
use meridian_common::store::PoolMetrics;
use meridian_common::{SellerId, UserId};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::{Begin, Change, OrderStore, StoreError, StoredResponse};
use crate::domain::{Order, OrderError, OrderId};

pub const OUTBOX: &str = "orders_outbox";
const RETRIES: u32 = 16;

pub struct PostgresOrderStore {
    pool: pg::Pool,
}

fn map_err(e: sqlx::Error) -> StoreError {
    match pg::classify(&e) {
        PgFailure::Unavailable(m) => StoreError::Unavailable(m),
        PgFailure::UniqueViolation(m) | PgFailure::Other(m) => StoreError::Other(m),
    }
}

fn is_serialization_failure(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001") | Some("40P01")))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored order unreadable: {e}"))
}

/// Refund idempotency keys stay out of the order document (which is what
/// buyers see) and live in their own column, per sub-order.
fn split_keys(order: &Order) -> (Order, serde_json::Value) {
    let mut doc = order.clone();
    let mut keys = HashMap::new();
    for sub in &mut doc.sub_orders {
        keys.insert(sub.id, std::mem::take(&mut sub.refund_keys));
    }
    (doc, serde_json::to_value(keys).unwrap_or_default())
}

fn from_row(row: &PgRow) -> Result<Order, StoreError> {
    let doc: serde_json::Value = row.try_get("doc").map_err(corrupt)?;
    let keys: serde_json::Value = row.try_get("refund_keys").map_err(corrupt)?;
    let mut order: Order = serde_json::from_value(doc).map_err(corrupt)?;
    let keys: HashMap<Uuid, Vec<String>> = serde_json::from_value(keys).unwrap_or_default();
    for sub in &mut order.sub_orders {
        sub.refund_keys = keys.get(&sub.id).cloned().unwrap_or_default();
    }
    Ok(order)
}

impl PostgresOrderStore {
    /// A connection for statements outside a transaction (its wait is
    /// measured by the pool).
    async fn conn(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.pool.acquire().await.map_err(map_err)
    }

    /// Connects and applies pending migrations.
    pub async fn connect(settings: &PgSettings) -> Result<Self, StoreError> {
        let pool = pg::connect_migrated(settings, &sqlx::migrate!("./migrations"))
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
    }

    pub fn outbox(&self) -> outbox::PgOutbox {
        outbox::PgOutbox {
            pool: self.pool.clone(),
            table: OUTBOX,
        }
    }

    async fn serializable(&self) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// One attempt of `update`; `Err` with a serialization failure is retried.
    async fn try_update(
        &self,
        id: OrderId,
        change: &Change,
    ) -> Result<Option<Result<Order, OrderError>>, sqlx::Error> {
        let mut tx = self.serializable().await?;
        let row = sqlx::query("SELECT doc, refund_keys FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut order = from_row(&row).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let events = match change(&mut order) {
            Ok(events) => events,
            Err(e) => return Ok(Some(Err(e))),
        };
        let (doc, keys) = split_keys(&order);
        sqlx::query("UPDATE orders SET doc = $2, refund_keys = $3, status = $4 WHERE id = $1")
            .bind(id.0)
            .bind(serde_json::to_value(&doc).map_err(|e| sqlx::Error::Protocol(e.to_string()))?)
            .bind(keys)
            .bind(format!("{:?}", order.status))
            .execute(&mut *tx)
            .await?;
        outbox::append(&mut tx, OUTBOX, &events).await?;
        tx.commit().await?;
        Ok(Some(Ok(order)))
    }
}

#[async_trait]
impl OrderStore for PostgresOrderStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn begin(
        &self,
        buyer: UserId,
        key: &str,
        fingerprint: &str,
        lease: Duration,
    ) -> Result<Begin, StoreError> {
        // One statement claims a new key or takes over a stranded one (no
        // answer, lease run out, same request), so two takers cannot both win.
        let inserted = sqlx::query(
            "INSERT INTO checkout_keys (buyer_id, key, fingerprint, lease_until) \
             VALUES ($1, $2, $3, now() + make_interval(secs => $4)) \
             ON CONFLICT (buyer_id, key) DO UPDATE SET lease_until = EXCLUDED.lease_until \
             WHERE checkout_keys.response IS NULL AND checkout_keys.lease_until <= now() \
             AND checkout_keys.fingerprint = EXCLUDED.fingerprint",
        )
        .bind(buyer.0)
        .bind(key)
        .bind(fingerprint)
        .bind(lease.as_secs_f64())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err)?
        .rows_affected()
            == 1;
        if inserted {
            return Ok(Begin::Started);
        }
        let row = sqlx::query(
            "SELECT fingerprint, response FROM checkout_keys WHERE buyer_id = $1 AND key = $2",
        )
        .bind(buyer.0)
        .bind(key)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        // Keys are never deleted (abandon only ends the lease), so the row
        // that refused our claim is still there.
        let row = row.ok_or_else(|| StoreError::Other("checkout key vanished".into()))?;
        let response: Option<serde_json::Value> = row.try_get("response").map_err(corrupt)?;
        Ok(Begin::Existing {
            fingerprint: row.try_get("fingerprint").map_err(corrupt)?,
            response: response
                .map(serde_json::from_value)
                .transpose()
                .map_err(corrupt)?,
        })
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn finish(
        &self,
        buyer: UserId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE checkout_keys SET response = $3 WHERE buyer_id = $1 AND key = $2 AND response IS NULL")
            .bind(buyer.0)
            .bind(key)
            .bind(serde_json::to_value(response).map_err(corrupt)?)
            .execute(&mut *self.conn().await?)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn abandon(&self, buyer: UserId, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE checkout_keys SET lease_until = now() \
             WHERE buyer_id = $1 AND key = $2 AND response IS NULL",
        )
        .bind(buyer.0)
        .bind(key)
        .execute(&mut *self.conn().await?)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn claim_stale(
        &self,
        idle: Duration,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<(UserId, String)>, StoreError> {
        // SKIP LOCKED: sweepers of several origins on one database split
        // the stale keys instead of queueing on each other's rows; the
        // outer conditions are checked again on the locked row.
        let rows = sqlx::query(
            "UPDATE checkout_keys SET lease_until = now() + make_interval(secs => $2) \
             WHERE (buyer_id, key) IN (SELECT buyer_id, key FROM checkout_keys \
                 WHERE response IS NULL AND lease_until <= now() - make_interval(secs => $1) \
                 ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED) \
             AND response IS NULL AND lease_until <= now() - make_interval(secs => $1) \
             RETURNING buyer_id, key",
        )
        .bind(idle.as_secs_f64())
        .bind(lease.as_secs_f64())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let buyer: Uuid = row.try_get("buyer_id").map_err(corrupt)?;
                Ok((UserId(buyer), row.try_get("key").map_err(corrupt)?))
            })
            .collect()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn insert(&self, order: &Order, events: Vec<EventEnvelope>) -> Result<(), StoreError> {
        let (doc, keys) = split_keys(order);
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("INSERT INTO orders (id, buyer_id, status, doc, refund_keys, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(order.id.0)
            .bind(order.buyer_id.0)
            .bind(format!("{:?}", order.status))
            .bind(serde_json::to_value(&doc).map_err(corrupt)?)
            .bind(keys)
            .bind(order.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let mut sellers: Vec<SellerId> = order.sub_orders.iter().map(|s| s.seller_id).collect();
        sellers.sort();
        sellers.dedup();
        for seller in sellers {
            sqlx::query(
                "INSERT INTO order_sellers (order_id, seller_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(order.id.0)
            .bind(seller.0)
            .bind(order.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        outbox::append(&mut tx, OUTBOX, &events)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query("SELECT doc, refund_keys FROM orders WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        row.as_ref().map(from_row).transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn update(
        &self,
        id: OrderId,
        change: &Change,
    ) -> Result<Option<Result<Order, OrderError>>, StoreError> {
        let mut pause = Duration::from_millis(5);
        for attempt in 1..=RETRIES {
            match self.try_update(id, change).await {
                Ok(result) => return Ok(result),
                Err(e) if is_serialization_failure(&e) && attempt < RETRIES => {
                    // Jittered, so transactions that conflicted do not
                    // collide again in lockstep.
                    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 8;
                    tokio::time::sleep(pause + Duration::from_millis(jitter)).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(e) => return Err(map_err(e)),
            }
        }
        Err(StoreError::Unavailable(
            "order update kept conflicting".into(),
        ))
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn by_buyer(&self, buyer: UserId, limit: usize) -> Result<Vec<Order>, StoreError> {
        let rows = sqlx::query(
            "SELECT doc, refund_keys FROM orders WHERE buyer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(buyer.0)
        .bind(limit as i64)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        rows.iter().map(from_row).collect()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn by_seller(&self, seller: SellerId, limit: usize) -> Result<Vec<Order>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.doc, o.refund_keys FROM order_sellers s JOIN orders o ON o.id = s.order_id
             WHERE s.seller_id = $1 AND o.status <> 'PendingPayment' AND (o.doc->>'failure') IS NULL
             ORDER BY s.created_at DESC, s.order_id DESC LIMIT $2",
        )
        .bind(seller.0)
        .bind(limit as i64)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        rows.iter().map(from_row).collect()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn ping(&self) -> Result<(), StoreError> {
        pg::ping(&self.pool).await.map_err(map_err)
    }

    fn pool_metrics(&self) -> Option<PoolMetrics> {
        Some(self.pool.metrics())
    }
}
