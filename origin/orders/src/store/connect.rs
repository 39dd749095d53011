//! The orders service's store from its `[stores.orders]` entry.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, Connected, StoreConfig};

use super::memory::MemoryOrderStore;
use super::OrderStore;

/// Orders: embedded, or PostgreSQL's wire protocol (YugabyteDB YSQL).
pub async fn connect(config: &StoreConfig) -> Result<Connected<dyn OrderStore>, ConnectError> {
    const ROLE: &str = "orders";
    match config {
        StoreConfig::Memory => Ok(Connected::<dyn OrderStore>::embedded(|outbox| {
            Arc::new(MemoryOrderStore::new(outbox))
        })),
        #[cfg(feature = "postgres")]
        pg @ StoreConfig::Postgres { .. } => {
            let settings = meridian_common::pg::PgSettings::from_config(ROLE, pg, Some("orders"))
                .expect("a postgres entry");
            let store = super::postgres::PostgresOrderStore::connect(&settings).await;
            let store =
                ConnectError::context(ROLE, "connecting to PostgreSQL (YugabyteDB YSQL)", store)?;
            let outbox = Arc::new(store.outbox());
            Ok(Connected::polled(Arc::new(store), outbox))
        }
        #[cfg(not(feature = "postgres"))]
        StoreConfig::Postgres { .. } => Err(ConnectError::compiled_out(ROLE, "postgres")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
