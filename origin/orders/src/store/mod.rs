//! Storage of orders and checkout idempotency records. Embedded: memory;
//! production: YugabyteDB (PostgreSQL wire), same contract suite.

use std::time::Duration;

use async_trait::async_trait;
use meridian_common::events::EventEnvelope;
use meridian_common::store::PoolMetrics;
use meridian_common::{SellerId, UserId};
use serde::{Deserialize, Serialize};

use crate::domain::{Order, OrderError, OrderId};

pub mod connect;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use meridian_common::store::StoreError;

/// The answer a checkout produced, replayed for retries of its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is new: this caller runs the checkout as `order`.
    Started,
    /// The key was used: its request fingerprint and, once finished, answer.
    Existing {
        fingerprint: String,
        response: Option<StoredResponse>,
    },
}

pub type Change = dyn Fn(&mut Order) -> Result<Vec<EventEnvelope>, OrderError> + Send + Sync;

#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Claims `(buyer, key)` for a checkout for `lease`, or reports who has
    /// it. A claim with no answer whose lease has run out (its checkout
    /// died with its process) is taken over by a request with the same
    /// fingerprint: `Started` again.
    async fn begin(
        &self,
        buyer: UserId,
        key: &str,
        fingerprint: &str,
        lease: Duration,
    ) -> Result<Begin, StoreError>;
    /// Records the checkout's answer under its key; an answer already
    /// recorded stays (the first one is what every retry is told).
    async fn finish(
        &self,
        buyer: UserId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;
    /// Ends the lease of a key whose checkout failed transiently, so a
    /// retry with the same request takes it over and runs again (and a
    /// different request with the key is still refused); a key with an
    /// answer stays as it is.
    async fn abandon(&self, buyer: UserId, key: &str) -> Result<(), StoreError>;
    /// Claims, for `lease`, up to `limit` keys left without an answer that
    /// nobody has held for `idle` (their lease ended that long ago: the
    /// client never came back after a 503, or the process died), longest
    /// idle first. The sweeper settles each; a retry meanwhile waits for
    /// its answer.
    async fn claim_stale(
        &self,
        idle: Duration,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<(UserId, String)>, StoreError>;
    async fn insert(&self, order: &Order, events: Vec<EventEnvelope>) -> Result<(), StoreError>;
    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError>;
    /// Applies `change` atomically; a refused change stores nothing.
    async fn update(
        &self,
        id: OrderId,
        change: &Change,
    ) -> Result<Option<Result<Order, OrderError>>, StoreError>;
    /// A buyer's orders, newest first.
    async fn by_buyer(&self, buyer: UserId, limit: usize) -> Result<Vec<Order>, StoreError>;
    /// Paid (or later) orders with a sub-order of this seller, newest
    /// first; checkouts that failed or await payment are not a seller's.
    async fn by_seller(&self, seller: SellerId, limit: usize) -> Result<Vec<Order>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// The connection pool's waits and occupancy, for stores that pool
    /// connections.
    fn pool_metrics(&self) -> Option<PoolMetrics> {
        None
    }
}
