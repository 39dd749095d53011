//! Storage of the catalog. Embedded: memory (`memory.rs`). The production
//! store (DynamoDB with a Redis read-through cache) implements the same trait
//! and passes the same contract suite (`tests/contract.rs`).

use async_trait::async_trait;
use meridian_common::{ApiError, ProductId};

use crate::domain::{CategoryCount, ListQuery, Page, Product};

pub mod memory;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Other(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "catalog store unavailable");
                ApiError::unavailable("the catalog is temporarily unavailable")
            }
            StoreError::Other(detail) => ApiError::internal(detail),
        }
    }
}

#[async_trait]
pub trait ProductStore: Send + Sync + 'static {
    /// Inserts or replaces a product.
    async fn put(&self, product: &Product) -> Result<(), StoreError>;
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError>;
    /// One page in the query's order, starting after its cursor.
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;
    /// Every category of the taxonomy with its product count (zero included).
    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError>;
    async fn count(&self) -> Result<u64, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}
