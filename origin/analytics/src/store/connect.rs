//! The analytics store from its `[stores.analytics]` entry.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, StoreConfig};

use super::memory::MemoryAnalyticsStore;
use super::AnalyticsStore;

/// Rollups: embedded (fed by the region's own events), or ClickHouse (fed
/// by the Kafka loader).
pub async fn connect(config: &StoreConfig) -> Result<Arc<dyn AnalyticsStore>, ConnectError> {
    const ROLE: &str = "analytics";
    match config {
        StoreConfig::Memory => Ok(Arc::new(MemoryAnalyticsStore::new())),
        #[cfg(feature = "clickhouse")]
        StoreConfig::Clickhouse {
            url,
            database,
            user,
            password,
            cluster,
        } => {
            let cluster = cluster.clone().map(super::clickhouse_ddl::Cluster);
            let store = super::clickhouse::ClickhouseAnalyticsStore::connect(
                url,
                database,
                user.as_deref(),
                password.as_deref(),
                cluster.as_ref(),
            )
            .await;
            Ok(Arc::new(ConnectError::context(
                ROLE,
                "connecting to ClickHouse",
                store,
            )?))
        }
        #[cfg(not(feature = "clickhouse"))]
        StoreConfig::Clickhouse { .. } => Err(ConnectError::compiled_out(ROLE, "clickhouse")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
