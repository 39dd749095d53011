//! Storage of the catalog. Embedded: memory (`memory.rs`). The production
//! store (DynamoDB with a Redis read-through cache) implements the same trait
//! and passes the same contract suite (`tests/contract.rs`).

use async_trait::async_trait;
use meridian_common::ProductId;

use chrono::{DateTime, Utc};
use meridian_common::events::EventEnvelope;
use uuid::Uuid;

use crate::domain::{
    CategoryCount, ListQuery, Page, Product, ProductPatch, ReserveError, ReserveLine,
};

#[cfg(feature = "dynamodb")]
pub mod cache;
pub mod connect;
#[cfg(feature = "dynamodb")]
pub mod dynamo;
pub mod memory;

pub use meridian_common::store::StoreError;

/// Every write commits the events describing it with the change (outbox).
#[async_trait]
pub trait ProductStore: Send + Sync + 'static {
    /// Inserts or replaces a product.
    async fn put(&self, product: &Product, events: Vec<EventEnvelope>) -> Result<(), StoreError>;
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError>;
    /// The products that exist among `ids`, in no particular order.
    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;
    /// Applies a seller's edit (never touches stock); `None` if unknown.
    async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Product>, StoreError>;
    /// Sets the stock level outright (a seller's inventory count).
    async fn set_stock(
        &self,
        id: ProductId,
        stock: u32,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<Option<Product>, StoreError>;
    /// Takes stock for every line or for none (all-or-nothing). Idempotent:
    /// the same reservation id again succeeds without taking more.
    async fn reserve(
        &self,
        reservation: Uuid,
        lines: &[ReserveLine],
        events: Vec<EventEnvelope>,
    ) -> Result<Result<(), ReserveError>, StoreError>;
    /// Puts a reservation's stock back, for `only` these products or all
    /// lines. Idempotent: a line is restocked at most once. Returns whether
    /// anything was restocked.
    async fn release(
        &self,
        reservation: Uuid,
        only: Option<&[ProductId]>,
        events: Vec<EventEnvelope>,
    ) -> Result<bool, StoreError>;
    /// Records a rating change (`old` → `new`, 1–5) in the product's summary.
    async fn apply_rating(
        &self,
        id: ProductId,
        old: Option<u8>,
        new: Option<u8>,
    ) -> Result<(), StoreError>;
    /// One page in the query's order, starting after its cursor.
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;
    /// Every category of the taxonomy with its product count (zero included).
    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError>;
    async fn count(&self) -> Result<u64, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}
