//! `UserStore` on PostgreSQL (sqlx), with embedded migrations.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meridian_common::pg::{self, PgFailure, PgSettings};
use meridian_common::store::PoolMetrics;
use meridian_common::UserId;
use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Row};

use super::{StoreError, UserStore};
use crate::domain::{Bio, DisplayName, Email, ProfileUpdate, User};

pub struct PostgresUserStore {
    pool: pg::Pool,
}

fn map_err(e: sqlx::Error) -> StoreError {
    match pg::classify(&e) {
        PgFailure::UniqueViolation(c) if c.contains("email") => StoreError::Conflict("email"),
        PgFailure::UniqueViolation(_) => StoreError::Conflict("id"),
        PgFailure::Unavailable(m) => StoreError::Unavailable(m),
        PgFailure::Other(m) => StoreError::Other(m),
    }
}

impl PostgresUserStore {
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
}

const COLUMNS: &str = "id, email, display_name, bio, password_hash, created_at, updated_at";

fn row_to_user(row: &sqlx::postgres::PgRow) -> Result<User, StoreError> {
    let corrupt = |field: &str, e: String| StoreError::Other(format!("users.{field}: {e}"));
    let get = |name: &str| -> Result<String, StoreError> {
        row.try_get::<String, _>(name)
            .map_err(|e| corrupt(name, e.to_string()))
    };
    Ok(User {
        id: UserId(
            row.try_get("id")
                .map_err(|e| corrupt("id", e.to_string()))?,
        ),
        email: Email::parse(&get("email")?).map_err(|e| corrupt("email", e))?,
        display_name: DisplayName::parse(&get("display_name")?)
            .map_err(|e| corrupt("display_name", e))?,
        bio: Bio::parse(&get("bio")?).map_err(|e| corrupt("bio", e))?,
        password_hash: get("password_hash")?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(|e| corrupt("created_at", e.to_string()))?,
        updated_at: row
            .try_get::<DateTime<Utc>, _>("updated_at")
            .map_err(|e| corrupt("updated_at", e.to_string()))?,
    })
}

#[async_trait]
impl UserStore for PostgresUserStore {
    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, email, display_name, bio, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.id.0)
        .bind(user.email.as_str())
        .bind(user.display_name.as_str())
        .bind(user.bio.as_str())
        .bind(&user.password_hash)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE email = $1"))
            .bind(email.as_str())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        row.as_ref().map(row_to_user).transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(map_err)?;
        row.as_ref().map(row_to_user).transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        // COALESCE keeps a field when the update leaves it out; one statement,
        // so concurrent updates of different fields never lose each other.
        let row = sqlx::query(&format!(
            "UPDATE users SET display_name = COALESCE($2, display_name),
                              bio = COALESCE($3, bio), updated_at = $4
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(update.display_name.as_ref().map(DisplayName::as_str))
        .bind(update.bio.as_ref().map(Bio::as_str))
        .bind(now)
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(map_err)?;
        row.as_ref().map(row_to_user).transpose()
    }

    #[tracing::instrument(level = "info", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    async fn ping(&self) -> Result<(), StoreError> {
        pg::ping(&self.pool).await.map_err(map_err)
    }

    fn pool_metrics(&self) -> Option<PoolMetrics> {
        Some(self.pool.metrics())
    }
}
