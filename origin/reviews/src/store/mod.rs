//! Storage of reviews. Embedded: memory; production: MongoDB (unique index
//! on (product, user), summaries by aggregation pipeline), same contract.

use async_trait::async_trait;
use meridian_common::events::EventEnvelope;
use meridian_common::{ProductId, UserId};
use uuid::Uuid;

use crate::domain::{Reply, Review, Summary};

pub mod connect;
pub mod memory;
#[cfg(feature = "mongodb")]
pub mod mongo;

pub use meridian_common::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Newest,
    Helpful,
}

#[async_trait]
pub trait ReviewStore: Send + Sync + 'static {
    /// Creates the user's review of the product, or updates it (one per
    /// user and product). Returns the stored review and the previous rating.
    async fn upsert(
        &self,
        review: &Review,
        events: &(dyn Fn(Option<u8>) -> Vec<EventEnvelope> + Send + Sync),
    ) -> Result<(Review, Option<u8>), StoreError>;
    async fn get(&self, id: Uuid) -> Result<Option<Review>, StoreError>;
    /// One page of a product's reviews in `sort` order: `limit` reviews
    /// after skipping `offset`.
    async fn by_product(
        &self,
        product: ProductId,
        sort: Sort,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Review>, StoreError>;
    /// The review `user` wrote of `product`, if any.
    async fn by_author(
        &self,
        product: ProductId,
        user: UserId,
    ) -> Result<Option<Review>, StoreError>;
    async fn summary(&self, product: ProductId) -> Result<Summary, StoreError>;
    async fn reply(
        &self,
        id: Uuid,
        reply: &Reply,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Review>, StoreError>;
    /// One helpful vote per user; returns whether this vote counted.
    async fn vote(&self, id: Uuid, user: UserId) -> Result<Option<bool>, StoreError>;
    /// One report per user; returns whether this report counted.
    async fn report(
        &self,
        id: Uuid,
        user: UserId,
        reason: &str,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<bool>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}
