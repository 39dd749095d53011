//! The auth service's stores from their `[stores.users]` and
//! `[stores.sessions]` entries.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, StoreConfig};

use super::memory::{MemorySessionStore, MemoryUserStore};
use super::{SessionStore, UserStore};

/// Accounts: embedded, or PostgreSQL.
pub async fn users(config: &StoreConfig) -> Result<Arc<dyn UserStore>, ConnectError> {
    const ROLE: &str = "users";
    match config {
        StoreConfig::Memory => Ok(Arc::new(MemoryUserStore::default())),
        #[cfg(feature = "postgres")]
        pg @ StoreConfig::Postgres { .. } => {
            let settings = meridian_common::pg::PgSettings::from_config(ROLE, pg, None)
                .expect("a postgres entry");
            let store = super::postgres::PostgresUserStore::connect(&settings).await;
            Ok(Arc::new(ConnectError::context(
                ROLE,
                "connecting to PostgreSQL",
                store,
            )?))
        }
        #[cfg(not(feature = "postgres"))]
        StoreConfig::Postgres { .. } => Err(ConnectError::compiled_out(ROLE, "postgres")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}

/// Sessions: embedded, or Redis (which the edge may read directly).
pub async fn sessions(config: &StoreConfig) -> Result<Arc<dyn SessionStore>, ConnectError> {
    const ROLE: &str = "sessions";
    match config {
        StoreConfig::Memory => Ok(Arc::new(MemorySessionStore::default())),
        #[cfg(feature = "redis")]
        StoreConfig::Redis { url, key_prefix } => {
            let store = super::redis::RedisSessionStore::connect(url, key_prefix).await;
            Ok(Arc::new(ConnectError::context(
                ROLE,
                "connecting to Redis",
                store,
            )?))
        }
        #[cfg(not(feature = "redis"))]
        StoreConfig::Redis { .. } => Err(ConnectError::compiled_out(ROLE, "redis")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
