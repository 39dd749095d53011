//! Storage of carts. Embedded: memory; production: a Redis Cluster hash per
//! cart (hash-tagged to one slot) with a TTL, same contract suite.

use async_trait::async_trait;
use meridian_common::events::EventEnvelope;

use crate::domain::{Cart, CartError, CartKey};

#[cfg(feature = "redis-cluster")]
pub mod cluster;
pub mod connect;
pub mod memory;

pub use meridian_common::store::StoreError;

/// A change to one cart, applied atomically to its current state.
pub type Change = dyn Fn(&mut Cart) -> Result<Vec<EventEnvelope>, CartError> + Send + Sync;

#[async_trait]
pub trait CartStore: Send + Sync + 'static {
    /// The cart (empty if none or expired).
    async fn get(&self, key: &CartKey) -> Result<Cart, StoreError>;
    /// Applies `change` to the current cart atomically and stores it with the
    /// events it returns. A refused change stores nothing.
    async fn update(
        &self,
        key: &CartKey,
        change: &Change,
    ) -> Result<Result<Cart, CartError>, StoreError>;
    /// Moves the guest cart into the user's (atomically; the guest cart is gone after).
    async fn merge(
        &self,
        guest: &CartKey,
        user: &CartKey,
        events: Vec<EventEnvelope>,
    ) -> Result<Cart, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}
