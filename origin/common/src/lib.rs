//! Shared building blocks of Meridian's origin services.
//!
//! Everything here is either a small pure type (ids, money, errors) or plumbing
//! that every service needs the same way (store backends, edge trust,
//! telemetry, metrics). The region file's schema is the server's. Service
//! crates never depend on each other, only on this crate.

pub mod admission;
#[cfg(feature = "aws")]
pub mod aws;
pub mod cache_tags;
pub mod client;
pub mod clients;
pub mod demo;
#[cfg(feature = "dynamodb")]
pub mod dynamo;
pub mod email;
pub mod error;
pub mod events;
pub mod extract;
pub mod ids;
pub mod internal;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod metrics;
pub mod money;
pub mod openapi;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod public_api;
pub mod rating;
pub mod readiness;
#[cfg(feature = "redis")]
pub mod redis_conn;
pub mod store;
pub mod store_config;
pub mod taxonomy;
pub mod telemetry;
pub mod testing;

/// The edge ↔ origin contract (header names, labels, internal messages).
pub use meridian_wire as wire;

pub use error::{ApiError, FieldError};
pub use ids::{OrderId, ProductId, SellerId, UserId};
pub use money::{Currency, Money};

/// The current time at microsecond precision, the finest PostgreSQL stores,
/// so every store returns exactly the timestamps it was given.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
