//! Storage of the sellers service. Embedded: memory (`memory.rs`);
//! production: PostgreSQL, passing the same contract suite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meridian_common::events::EventEnvelope;
use meridian_common::store::PoolMetrics;
use meridian_common::{ApiError, SellerId, UserId};

use crate::domain::{ApiKey, ApiKeyId, Shop, ShopUpdate, Slug};

pub mod connect;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `slug` taken, or `owner` already has a shop.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Other(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict("slug") => {
                ApiError::conflict("slug_taken", "a shop with this slug already exists")
            }
            StoreError::Conflict("owner") => {
                ApiError::conflict("shop_exists", "this account already has a shop")
            }
            StoreError::Conflict(what) => ApiError::conflict("conflict", what),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "sellers store unavailable");
                ApiError::unavailable("the sellers service is temporarily unavailable")
            }
            StoreError::Other(detail) => ApiError::internal(detail),
        }
    }
}

/// Every write takes the events describing it and commits them with the
/// change (outbox).
#[async_trait]
pub trait SellerStore: Send + Sync + 'static {
    async fn create_shop(&self, shop: &Shop, events: Vec<EventEnvelope>) -> Result<(), StoreError>;
    async fn shop(&self, id: SellerId) -> Result<Option<Shop>, StoreError>;
    async fn shop_by_slug(&self, slug: &Slug) -> Result<Option<Shop>, StoreError>;
    async fn shop_by_owner(&self, owner: UserId) -> Result<Option<Shop>, StoreError>;
    async fn update_shop(
        &self,
        id: SellerId,
        update: &ShopUpdate,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Shop>, StoreError>;
    async fn create_key(&self, key: &ApiKey, events: Vec<EventEnvelope>) -> Result<(), StoreError>;
    /// The seller's keys, newest first, revoked ones included.
    async fn keys(&self, seller: SellerId) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes the seller's key; `false` if it is not theirs or already revoked.
    async fn revoke_key(
        &self,
        seller: SellerId,
        id: ApiKeyId,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<bool, StoreError>;
    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// The connection pool's waits and occupancy, for stores that pool
    /// connections.
    fn pool_metrics(&self) -> Option<PoolMetrics> {
        None
    }
}
