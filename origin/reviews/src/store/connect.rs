//! The reviews service's store from its `[stores.reviews]` entry.

use std::sync::Arc;

use meridian_common::store_config::{ConnectError, Connected, StoreConfig};

use super::memory::MemoryReviewStore;
use super::ReviewStore;

/// Reviews: embedded, or MongoDB.
pub async fn connect(config: &StoreConfig) -> Result<Connected<dyn ReviewStore>, ConnectError> {
    const ROLE: &str = "reviews";
    match config {
        StoreConfig::Memory => Ok(Connected::<dyn ReviewStore>::embedded(|outbox| {
            Arc::new(MemoryReviewStore::new(outbox))
        })),
        #[cfg(feature = "mongodb")]
        StoreConfig::Mongodb { url, database } => {
            let store = super::mongo::MongoReviewStore::connect(url, database).await;
            let store = ConnectError::context(ROLE, "connecting to MongoDB", store)?;
            let outbox = Arc::new(store.outbox());
            Ok(Connected::polled(Arc::new(store), outbox))
        }
        #[cfg(not(feature = "mongodb"))]
        StoreConfig::Mongodb { .. } => Err(ConnectError::compiled_out(ROLE, "mongodb")),
        other => Err(ConnectError::unsupported(ROLE, other)),
    }
}
