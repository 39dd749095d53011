//! The logistics service's store from its `[stores.shipments]` entry.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, Connected, StoreConfig};

use super::memory::MemoryShipmentStore;
use super::ShipmentStore;

/// Shipments and tracking: embedded, or Cassandra.
pub async fn connect(config: &StoreConfig) -> Result<Connected<dyn ShipmentStore>, ConnectError> {
    const ROLE: &str = "shipments";
    match config {
        StoreConfig::Memory => Ok(Connected::<dyn ShipmentStore>::embedded(|outbox| {
            Arc::new(MemoryShipmentStore::new(outbox))
        })),
        #[cfg(feature = "cassandra")]
        StoreConfig::Cassandra {
            nodes,
            keyspace,
            replication_factor,
            datacenters,
            local_datacenter,
        } => {
            use super::cassandra::{CassandraShipmentStore, Replication};
            let replication = if datacenters.is_empty() {
                Replication::Simple(replication_factor.unwrap_or(1))
            } else {
                Replication::PerDatacenter(datacenters.clone())
            };
            let store = CassandraShipmentStore::connect(
                nodes,
                keyspace,
                &replication,
                local_datacenter.as_deref(),
            )
            .await;
            let store = ConnectError::context(ROLE, "connecting to Cassandra", store)?;
            let outbox = Arc::new(store.outbox());
            Ok(Connected::polled(Arc::new(store), outbox))
        }
        #[cfg(not(feature = "cassandra"))]
        StoreConfig::Cassandra { .. } => Err(ConnectError::compiled_out(ROLE, "cassandra")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
