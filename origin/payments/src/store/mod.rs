//! Storage of payments, their ledger and idempotency records. Embedded:
//! memory; production: DynamoDB (conditional puts), same contract suite.

use async_trait::async_trait;
use meridian_common::events::EventEnvelope;
use meridian_common::ApiError;
use serde::{Deserialize, Serialize};

use crate::domain::{LedgerEntry, Payment, PaymentError, PaymentId};

pub mod connect;
#[cfg(feature = "dynamodb")]
pub mod dynamo;
pub mod memory;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such payment")]
    NotFound,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Other(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("no such payment"),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "payments store unavailable");
                ApiError::unavailable("payments are temporarily unavailable")
            }
            StoreError::Other(detail) => ApiError::internal(detail),
        }
    }
}

/// What an idempotency key produced, replayed for every retry of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemRecord {
    /// Hash of the request that first used the key; a different request
    /// with the same key is refused.
    pub fingerprint: String,
    pub outcome: Result<Payment, PaymentError>,
}

/// A state transition: the next payment, its ledger entry and events.
pub type Transition = dyn Fn(&Payment) -> Result<(Payment, LedgerEntry, Vec<EventEnvelope>), PaymentError>
    + Send
    + Sync;

#[async_trait]
pub trait PaymentStore: Send + Sync + 'static {
    async fn record(&self, key: &str) -> Result<Option<IdemRecord>, StoreError>;
    /// Stores a new payment (authorized or declined) under `key`; if the key
    /// was already used, returns that record instead (first writer wins).
    async fn create(
        &self,
        key: &str,
        fingerprint: &str,
        payment: &Payment,
        entry: Option<&LedgerEntry>,
        events: Vec<EventEnvelope>,
    ) -> Result<IdemRecord, StoreError>;
    /// Applies `transition` to the current payment atomically and stores the
    /// outcome (success or refusal) under `key`; a used key returns its record.
    async fn transition(
        &self,
        key: &str,
        fingerprint: &str,
        id: PaymentId,
        transition: &Transition,
    ) -> Result<IdemRecord, StoreError>;
    async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, StoreError>;
    /// The payment's ledger, oldest first.
    async fn ledger(&self, id: PaymentId) -> Result<Vec<LedgerEntry>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}
