//! The cart service's store from its `[stores.carts]` entry.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, Connected, StoreConfig};

use super::memory::MemoryCartStore;
use super::CartStore;

/// Carts: embedded, or a Redis Cluster.
pub async fn connect(config: &StoreConfig) -> Result<Connected<dyn CartStore>, ConnectError> {
    const ROLE: &str = "carts";
    match config {
        StoreConfig::Memory => Ok(Connected::<dyn CartStore>::embedded(|outbox| {
            Arc::new(MemoryCartStore::new(outbox))
        })),
        #[cfg(feature = "redis-cluster")]
        StoreConfig::RedisCluster {
            nodes,
            key_prefix,
            ttl_secs,
        } => {
            let store = super::cluster::ClusterCartStore::connect(
                nodes,
                key_prefix,
                std::time::Duration::from_secs(*ttl_secs),
            )
            .await;
            let store = ConnectError::context(ROLE, "connecting to the Redis Cluster", store)?;
            let outbox = Arc::new(store.outbox());
            Ok(Connected::polled(Arc::new(store), outbox))
        }
        #[cfg(not(feature = "redis-cluster"))]
        StoreConfig::RedisCluster { .. } => Err(ConnectError::compiled_out(ROLE, "redis-cluster")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
