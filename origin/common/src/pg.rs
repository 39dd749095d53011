//! PostgreSQL connection pools shared by every service that stores in it.
//!
//! Pools are bounded, acquiring a connection and every statement time out, so
//! a database that stops answering turns into a 503 rather than a hung
//! request. Every acquisition is timed (`Pool`), so a starved pool shows as
//! waits rather than as slow queries.

use std::time::{Duration, Instant};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, IntGaugeVec, Opts};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool, Postgres, Transaction};

#[derive(Debug, Clone)]
pub struct PgSettings {
    /// The store role the pool serves (`users`, `orders`, ...): its metrics'
    /// `pool` label.
    pub role: &'static str,
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// Schema to create and use (tests give each run its own); `None` uses
    /// the server's default search path.
    pub schema: Option<String>,
}

impl PgSettings {
    /// From a region's `[stores.<role>]` PostgreSQL entry; `default_schema`
    /// applies when the entry names none.
    pub fn from_config(
        role: &'static str,
        config: &crate::store_config::StoreConfig,
        default_schema: Option<&str>,
    ) -> Option<Self> {
        match config {
            crate::store_config::StoreConfig::Postgres {
                url,
                max_connections,
                connect_timeout_ms,
                schema,
            } => Some(Self {
                role,
                url: url.clone(),
                max_connections: *max_connections,
                connect_timeout: Duration::from_millis(*connect_timeout_ms),
                schema: schema.clone().or(default_schema.map(str::to_owned)),
            }),
            _ => None,
        }
    }

    pub fn new(role: &'static str, url: &str) -> Self {
        Self {
            role,
            url: url.to_owned(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(3),
            schema: None,
        }
    }
}

/// Statement timeout applied to every session of the pool.
const STATEMENT_TIMEOUT_MS: u32 = 5_000;

/// A bounded pool whose callers' waits for a connection are measured.
/// Queries take a connection explicitly (`acquire`, `begin`) rather than
/// running on the pool, so every wait passes through here.
#[derive(Clone)]
pub struct Pool {
    inner: PgPool,
    role: &'static str,
    waits: Histogram,
}

impl Pool {
    /// A connection for one or more statements outside a transaction.
    pub async fn acquire(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let started = Instant::now();
        let conn = self.inner.acquire().await;
        self.waits.observe(started.elapsed().as_secs_f64());
        conn
    }

    /// A transaction on a connection from `acquire`.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        Transaction::begin(self.acquire().await?, None).await
    }

    /// The pool's waits and occupancy as Prometheus metrics, labelled with
    /// the store role that owns the pool.
    pub fn metrics(&self) -> crate::store::PoolMetrics {
        Box::new(PoolWatch::new(
            self.inner.clone(),
            self.role,
            self.waits.clone(),
        ))
    }
}

/// `meridian_store_pool_wait_seconds{pool}` (time to get a connection) and
/// `meridian_store_pool_connections{pool,state}` (open connections in use and
/// idle, read when scraped), for one PostgreSQL pool.
struct PoolWatch {
    pool: PgPool,
    waits: Histogram,
    connections: IntGaugeVec,
    descs: Vec<Desc>,
}

impl PoolWatch {
    fn new(pool: PgPool, role: &str, waits: Histogram) -> Self {
        let connections = IntGaugeVec::new(
            Opts::new(
                "meridian_store_pool_connections",
                "Open connections of a store's pool, in use or idle",
            )
            .const_label("pool", role),
            &["state"],
        )
        .expect("static metric definition is valid");
        let descs = waits
            .desc()
            .into_iter()
            .chain(connections.desc())
            .cloned()
            .collect();
        Self {
            pool,
            waits,
            connections,
            descs,
        }
    }
}

impl Collector for PoolWatch {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let open = i64::from(self.pool.size());
        let idle = i64::try_from(self.pool.num_idle()).unwrap_or(i64::MAX);
        self.connections.with_label_values(&["idle"]).set(idle);
        self.connections
            .with_label_values(&["in_use"])
            .set((open - idle).max(0));
        let mut families = self.waits.collect();
        families.extend(self.connections.collect());
        families
    }
}

fn wait_histogram(role: &str) -> Histogram {
    Histogram::with_opts(
        HistogramOpts::new(
            "meridian_store_pool_wait_seconds",
            "Time a caller waited for a connection from a store's pool",
        )
        .const_label("pool", role)
        .buckets(vec![
            0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0,
        ]),
    )
    .expect("static metric definition is valid")
}

pub async fn connect(settings: &PgSettings) -> Result<Pool, sqlx::Error> {
    let mut options: PgConnectOptions = settings.url.parse()?;
    options = options
        .log_statements(tracing::log::LevelFilter::Debug)
        .options([("statement_timeout", STATEMENT_TIMEOUT_MS.to_string())]);
    if let Some(schema) = &settings.schema {
        validate_identifier(schema)?;
        // Create the schema over a one-off connection, then point every pooled
        // connection's search path at it.
        let mut conn = options.connect().await?;
        conn.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
            .await?;
        options = options.options([("search_path", schema.as_str())]);
    }
    let inner = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await?;
    Ok(Pool {
        inner,
        role: settings.role,
        waits: wait_histogram(settings.role),
    })
}

/// `connect`, then apply the service's pending migrations (a migration
/// failure comes back as `sqlx::Error::Migrate`).
pub async fn connect_migrated(
    settings: &PgSettings,
    migrator: &sqlx::migrate::Migrator,
) -> Result<Pool, sqlx::Error> {
    let pool = connect(settings).await?;
    migrator.run(&mut *pool.acquire().await?).await?;
    Ok(pool)
}

fn validate_identifier(name: &str) -> Result<(), sqlx::Error> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("invalid schema name {name:?}").into(),
        ))
    }
}

/// How a failed query should be reported.
#[derive(Debug, PartialEq, Eq)]
pub enum PgFailure {
    /// Unique constraint violated; carries the constraint name.
    UniqueViolation(String),
    /// Connection refused, lost, pool exhausted or timed out.
    Unavailable(String),
    Other(String),
}

/// One round trip, for readiness probes.
pub async fn ping(pool: &Pool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1")
        .execute(&mut *pool.acquire().await?)
        .await
        .map(|_| ())
}

pub fn classify(error: &sqlx::Error) -> PgFailure {
    match error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PgFailure::UniqueViolation(db.constraint().unwrap_or_default().to_owned())
        }
        // 57014 query_canceled (statement timeout), 57P01.. admin shutdown,
        // 08xxx connection exceptions: the server is there but not serving us.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c == "57014" || c.starts_with("57P") || c.starts_with("08")) =>
        {
            PgFailure::Unavailable(db.to_string())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => PgFailure::Unavailable(error.to_string()),
        other => PgFailure::Other(other.to_string()),
    }
}

/// The transactional outbox on PostgreSQL: events are inserted in the same
/// transaction as the change they describe, and relays read them in commit
/// order. Each service has its own table (`<service>_outbox`), created by
/// that service's migrations with this shape:
///
/// ```sql
/// CREATE TABLE <service>_outbox (
///     seq BIGSERIAL PRIMARY KEY, id UUID NOT NULL UNIQUE, event_type TEXT NOT NULL,
///     version SMALLINT NOT NULL, occurred_at TIMESTAMPTZ NOT NULL, region TEXT NOT NULL,
///     aggregate_id TEXT NOT NULL, payload JSONB NOT NULL, published_at TIMESTAMPTZ,
///     trace TEXT);
/// ```
pub mod outbox {
    use async_trait::async_trait;
    use sqlx::pool::PoolConnection;
    use sqlx::{Postgres, Row, Transaction};
    use uuid::Uuid;

    use crate::events::{EventEnvelope, OutboxReader};

    pub async fn append(
        tx: &mut Transaction<'_, Postgres>,
        table: &'static str,
        events: &[EventEnvelope],
    ) -> Result<(), sqlx::Error> {
        for e in events {
            sqlx::query(&format!(
                "INSERT INTO {table} (id, event_type, version, occurred_at, region, aggregate_id, payload, trace)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .bind(e.id)
            .bind(&e.event_type)
            .bind(e.version as i16)
            .bind(e.occurred_at)
            .bind(&e.region)
            .bind(&e.aggregate_id)
            .bind(&e.payload)
            .bind(&e.trace)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Reads one service's outbox table.
    pub struct PgOutbox {
        pub pool: super::Pool,
        pub table: &'static str,
    }

    impl PgOutbox {
        async fn conn(&self) -> Result<PoolConnection<Postgres>, String> {
            self.pool.acquire().await.map_err(|e| e.to_string())
        }
    }

    #[async_trait]
    impl OutboxReader for PgOutbox {
        async fn pending(&self, limit: usize) -> Result<Vec<EventEnvelope>, String> {
            let rows = sqlx::query(&format!(
                "SELECT id, event_type, version, occurred_at, region, aggregate_id, payload, trace
                 FROM {} WHERE published_at IS NULL ORDER BY seq LIMIT $1",
                self.table
            ))
            .bind(limit as i64)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| e.to_string())?;
            rows.iter()
                .map(|r| {
                    Ok(EventEnvelope {
                        id: r.try_get("id").map_err(|e| e.to_string())?,
                        event_type: r.try_get("event_type").map_err(|e| e.to_string())?,
                        version: r.try_get::<i16, _>("version").map_err(|e| e.to_string())? as u16,
                        occurred_at: r.try_get("occurred_at").map_err(|e| e.to_string())?,
                        region: r.try_get("region").map_err(|e| e.to_string())?,
                        aggregate_id: r.try_get("aggregate_id").map_err(|e| e.to_string())?,
                        payload: r.try_get("payload").map_err(|e| e.to_string())?,
                        trace: r.try_get("trace").map_err(|e| e.to_string())?,
                    })
                })
                .collect()
        }

        async fn mark_published(&self, ids: &[Uuid]) -> Result<(), String> {
            sqlx::query(&format!(
                "UPDATE {} SET published_at = now() WHERE id = ANY($1)",
                self.table
            ))
            .bind(ids)
            .execute(&mut *self.conn().await?)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        }

        async fn backlog(&self) -> Result<u64, String> {
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM {} WHERE published_at IS NULL",
                self.table
            ))
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(|e| e.to_string())?;
            Ok(n as u64)
        }
    }
}
