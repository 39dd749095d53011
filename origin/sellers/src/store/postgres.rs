//! `SellerStore` on PostgreSQL (sqlx): each write and its events commit in
//! one transaction (outbox table `sellers_outbox`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meridian_common::email::Email;
use meridian_common::events::EventEnvelope;
use meridian_common::internal::Scope;
use meridian_common::pg::{self, outbox, PgFailure, PgSettings};
use meridian_common::store::PoolMetrics;
use meridian_common::{SellerId, UserId};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};

use super::{SellerStore, StoreError};
use crate::domain::{ApiKey, ApiKeyId, Shop, ShopUpdate, Slug};

pub const OUTBOX: &str = "sellers_outbox";

pub struct PostgresSellerStore {
    pool: pg::Pool,
}

fn map_err(e: sqlx::Error) -> StoreError {
    match pg::classify(&e) {
        PgFailure::UniqueViolation(c) if c.contains("slug") => StoreError::Conflict("slug"),
        PgFailure::UniqueViolation(c) if c.contains("owner") => StoreError::Conflict("owner"),
        PgFailure::UniqueViolation(_) => StoreError::Conflict("key"),
        PgFailure::Unavailable(m) => StoreError::Unavailable(m),
        PgFailure::Other(m) => StoreError::Other(m),
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("{what}: {e}"))
}

impl PostgresSellerStore {
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

    /// The outbox, for the relay.
    pub fn outbox(&self) -> outbox::PgOutbox {
        outbox::PgOutbox {
            pool: self.pool.clone(),
            table: OUTBOX,
        }
    }
}

const SHOP_COLUMNS: &str =
    "id, owner_id, name, slug, description, contact_email, created_at, updated_at";
const KEY_COLUMNS: &str = "id, seller_id, name, prefix, hash, scopes, created_at, revoked_at";

fn shop(row: &PgRow) -> Result<Shop, StoreError> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(|e| corrupt(c, e));
    Ok(Shop {
        id: SellerId(row.try_get("id").map_err(|e| corrupt("id", e))?),
        owner_id: UserId(
            row.try_get("owner_id")
                .map_err(|e| corrupt("owner_id", e))?,
        ),
        name: text("name")?,
        slug: Slug::parse(&text("slug")?).map_err(|e| corrupt("slug", e))?,
        description: text("description")?,
        contact_email: Email::parse(&text("contact_email")?)
            .map_err(|e| corrupt("contact_email", e))?,
        created_at: row
            .try_get("created_at")
            .map_err(|e| corrupt("created_at", e))?,
        updated_at: row
            .try_get("updated_at")
            .map_err(|e| corrupt("updated_at", e))?,
    })
}

fn key(row: &PgRow) -> Result<ApiKey, StoreError> {
    let scopes: Vec<String> = row.try_get("scopes").map_err(|e| corrupt("scopes", e))?;
    Ok(ApiKey {
        id: ApiKeyId(row.try_get("id").map_err(|e| corrupt("id", e))?),
        seller_id: SellerId(
            row.try_get("seller_id")
                .map_err(|e| corrupt("seller_id", e))?,
        ),
        name: row.try_get("name").map_err(|e| corrupt("name", e))?,
        prefix: row.try_get("prefix").map_err(|e| corrupt("prefix", e))?,
        hash: row.try_get("hash").map_err(|e| corrupt("hash", e))?,
        scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        created_at: row
            .try_get("created_at")
            .map_err(|e| corrupt("created_at", e))?,
        revoked_at: row
            .try_get("revoked_at")
            .map_err(|e| corrupt("revoked_at", e))?,
    })
}

#[async_trait]
impl SellerStore for PostgresSellerStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn create_shop(&self, s: &Shop, events: Vec<EventEnvelope>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(&format!(
            "INSERT INTO shops ({SHOP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(s.id.0)
        .bind(s.owner_id.0)
        .bind(&s.name)
        .bind(s.slug.as_str())
        .bind(&s.description)
        .bind(s.contact_email.as_str())
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        outbox::append(&mut tx, OUTBOX, &events)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn shop(&self, id: SellerId) -> Result<Option<Shop>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SHOP_COLUMNS} FROM shops WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        row.as_ref().map(shop).transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn shop_by_slug(&self, slug: &Slug) -> Result<Option<Shop>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SHOP_COLUMNS} FROM shops WHERE slug = $1"))
            .bind(slug.as_str())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        row.as_ref().map(shop).transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn shop_by_owner(&self, owner: UserId) -> Result<Option<Shop>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SHOP_COLUMNS} FROM shops WHERE owner_id = $1"
        ))
        .bind(owner.0)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        row.as_ref().map(shop).transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn update_shop(
        &self,
        id: SellerId,
        update: &ShopUpdate,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Shop>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let row = sqlx::query(&format!(
            "UPDATE shops SET name = COALESCE($2, name), description = COALESCE($3, description),
                contact_email = COALESCE($4, contact_email), updated_at = $5
             WHERE id = $1 RETURNING {SHOP_COLUMNS}"
        ))
        .bind(id.0)
        .bind(update.name.as_deref())
        .bind(update.description.as_deref())
        .bind(update.contact_email.as_ref().map(Email::as_str))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        outbox::append(&mut tx, OUTBOX, &events)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        shop(&row).map(Some)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn create_key(&self, k: &ApiKey, events: Vec<EventEnvelope>) -> Result<(), StoreError> {
        let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(&format!(
            "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(k.id.0)
        .bind(k.seller_id.0)
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(&k.hash)
        .bind(&scopes)
        .bind(k.created_at)
        .bind(k.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        outbox::append(&mut tx, OUTBOX, &events)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn keys(&self, seller: SellerId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE seller_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(seller.0)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        rows.iter().map(key).collect()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn revoke_key(
        &self,
        seller: SellerId,
        id: ApiKeyId,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND seller_id = $2 AND revoked_at IS NULL",
        )
        .bind(id.0)
        .bind(seller.0)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected()
            == 1;
        if revoked {
            outbox::append(&mut tx, OUTBOX, &events)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(revoked)
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        row.as_ref().map(key).transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn ping(&self) -> Result<(), StoreError> {
        pg::ping(&self.pool).await.map_err(map_err)
    }

    fn pool_metrics(&self) -> Option<PoolMetrics> {
        Some(self.pool.metrics())
    }
}
