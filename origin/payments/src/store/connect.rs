//! The payments service's store from its `[stores.payments]` entry.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, Connected, StoreConfig};

use super::memory::MemoryPaymentStore;
use super::PaymentStore;

/// Payments and their ledger: embedded, or DynamoDB.
pub async fn connect(config: &StoreConfig) -> Result<Connected<dyn PaymentStore>, ConnectError> {
    const ROLE: &str = "payments";
    match config {
        StoreConfig::Memory => Ok(Connected::<dyn PaymentStore>::embedded(|outbox| {
            Arc::new(MemoryPaymentStore::new(outbox))
        })),
        #[cfg(feature = "dynamodb")]
        StoreConfig::Dynamodb {
            endpoint,
            region,
            table,
            ..
        } => {
            let store =
                super::dynamo::DynamoPaymentStore::connect(endpoint.as_deref(), region, table)
                    .await;
            let store = ConnectError::context(ROLE, "connecting to DynamoDB", store)?;
            let outbox = Arc::new(store.outbox());
            Ok(Connected::polled(Arc::new(store), outbox))
        }
        #[cfg(not(feature = "dynamodb"))]
        StoreConfig::Dynamodb { .. } => Err(ConnectError::compiled_out(ROLE, "dynamodb")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
