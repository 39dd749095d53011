//! Storage of shipments. Embedded: memory; production: Cassandra (tables
//! partitioned by shipment, by order and by tracking number), same contract.

use async_trait::async_trait;
use meridian_common::events::EventEnvelope;
use uuid::Uuid;

use crate::domain::Shipment;

#[cfg(feature = "cassandra")]
pub mod cassandra;
pub mod connect;
pub mod memory;

pub use meridian_common::store::StoreError;

pub type Change = dyn Fn(&mut Shipment) -> Result<Vec<EventEnvelope>, String> + Send + Sync;

#[async_trait]
pub trait ShipmentStore: Send + Sync + 'static {
    /// Stores a new shipment unless its sub-order has one; returns the stored one.
    async fn open(
        &self,
        shipment: &Shipment,
        events: Vec<EventEnvelope>,
    ) -> Result<Shipment, StoreError>;
    async fn by_tracking(
        &self,
        carrier: &str,
        tracking: &str,
    ) -> Result<Option<Shipment>, StoreError>;
    /// Shipments of an order, oldest first.
    async fn by_order(&self, order: Uuid) -> Result<Vec<Shipment>, StoreError>;
    /// Applies `change` atomically; a refused change stores nothing.
    async fn update(
        &self,
        id: Uuid,
        change: &Change,
    ) -> Result<Option<Result<Shipment, String>>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}
