//! PostgreSQL connection pools shared by every service that stores in it.
//!
//! Pools are bounded, acquiring a connection and every statement time out, so
//! a database that stops answering turns into a 503 rather than a hung
//! request.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool};

#[derive(Debug, Clone)]
pub struct PgSettings {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// Schema to create and use (tests give each run its own); `None` uses
    /// the server's default search path.
    pub schema: Option<String>,
}

impl PgSettings {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(3),
            schema: None,
        }
    }
}

/// Statement timeout applied to every session of the pool.
const STATEMENT_TIMEOUT_MS: u32 = 5_000;

pub async fn connect(settings: &PgSettings) -> Result<PgPool, sqlx::Error> {
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
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await
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
