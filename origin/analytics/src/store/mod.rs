//! Storage of the analytics rollups. Embedded: in memory, fed by the
//! region's own events; production: ClickHouse, fed by the Kafka loader —
//! raw events plus materialized-view rollups created by the migrations in
//! `migrations/`. One contract (`tests/contract.rs`) for both.

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::domain::{
    DayRange, DeadLetter, DeliveryCell, Funnel, ProductSales, RatingCell, Record, SalesCell,
};

#[cfg(feature = "clickhouse")]
pub mod clickhouse;
#[cfg(feature = "clickhouse")]
pub mod clickhouse_ddl;
pub mod connect;
pub mod memory;

pub use meridian_common::store::StoreError;

/// What one `ingest` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Events added (first time seen).
    pub loaded: usize,
    /// Events already loaded before (redelivery), skipped.
    pub duplicates: usize,
    /// Dead letters parked.
    pub dead: usize,
}

#[async_trait]
pub trait AnalyticsStore: Send + Sync + 'static {
    /// Adds a batch. Idempotent: an event id already loaded (in this batch
    /// or earlier) is skipped, and so is a dead letter whose source was
    /// parked before, so redelivery never counts twice.
    async fn ingest(&self, records: &[Record]) -> Result<Ingested, StoreError>;
    /// Sales by (day, region, currency) within `range`, of one seller or
    /// of all; ordered by day, region, currency.
    async fn sales(
        &self,
        seller: Option<&str>,
        range: DayRange,
    ) -> Result<Vec<SalesCell>, StoreError>;
    /// Best sellers by item value (then units, then product id).
    async fn top_products(
        &self,
        seller: Option<&str>,
        range: DayRange,
        limit: usize,
    ) -> Result<Vec<ProductSales>, StoreError>;
    /// Distinct carts, checkouts and paid orders over the whole range, and
    /// per day (ordered): of the platform, or of one seller (carts that
    /// took the seller's products, orders with a sub-order of theirs).
    async fn funnel(
        &self,
        seller: Option<&str>,
        range: DayRange,
    ) -> Result<(Funnel, Vec<(NaiveDate, Funnel)>), StoreError>;
    /// Ratings per day, ordered.
    async fn ratings(&self, range: DayRange) -> Result<Vec<RatingCell>, StoreError>;
    /// Deliveries per carrier, ordered by carrier.
    async fn deliveries(&self, range: DayRange) -> Result<Vec<DeliveryCell>, StoreError>;
    /// Most recent dead letters first.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// Distinct events loaded, per type (ordered by type).
    async fn event_counts(&self) -> Result<Vec<(String, u64)>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}
